package audit

import (
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeCanonical decodes a line written by this package's encoder: the fields in their fixed order,
// nothing else. It is an order of magnitude faster than encoding/json, which matters to `audit tail`:
// its run time is otherwise mostly decoding. Anything unusual (another order, an unknown field,
// invalid UTF-8) makes it give up, and ParseLine falls back to encoding/json, which a test keeps in
// agreement with it.
func decodeCanonical(line []byte) (w wireEntry, ok bool) {
	// One string for the whole line: fields without escapes are slices of it, one allocation in all.
	d := decoder{b: line, s: string(line)}
	d.lit(linePrefix)
	w.Seq = d.uint()
	w.Timestamp = d.field(`,"timestamp":`)
	w.UserID = d.field(`,"userId":`)
	w.Role = d.field(`,"role":`)
	w.Action = d.field(`,"action":`)
	w.Resource = d.field(`,"resource":`)
	d.lit(`,"success":`)
	w.Success = d.bool()
	w.KlaviyoEndpoint = d.field(`,"klaviyoEndpoint":`)
	w.IPAddress = d.field(`,"ipAddress":`)
	w.Fingerprint = d.field(`,"fingerprint":`)
	w.Reason = d.field(`,"reason":`)
	w.Host = d.field(`,"host":`)
	w.Alert = d.field(`,"alert":`)
	w.Prev = d.field(`,"prev":`)
	w.Hash = d.field(`,"hash":`)
	d.lit(`}`)
	return w, !d.bad && d.i == len(d.b)
}

type decoder struct {
	b   []byte
	s   string // b as a string
	i   int
	bad bool
}

func (d *decoder) lit(s string) {
	if d.bad || len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		d.bad = true
		return
	}
	d.i += len(s)
}

func (d *decoder) uint() uint64 {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	n, err := strconv.ParseUint(string(d.b[start:d.i]), 10, 64)
	if d.bad || err != nil || (d.i-start > 1 && d.b[start] == '0') {
		d.bad = true
	}
	return n
}

func (d *decoder) bool() bool {
	switch {
	case d.bad:
	case len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "true":
		d.i += 4
		return true
	case len(d.b)-d.i >= 5 && string(d.b[d.i:d.i+5]) == "false":
		d.i += 5
	default:
		d.bad = true
	}
	return false
}

func (d *decoder) field(key string) string {
	d.lit(key)
	return d.str()
}

// str reads a JSON string as encoding/json would.
func (d *decoder) str() string {
	if d.bad || d.i >= len(d.b) || d.b[d.i] != '"' {
		d.bad = true
		return ""
	}
	d.i++
	start := d.i
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			s := d.s[start:d.i]
			d.i++
			if !utf8.ValidString(s) {
				d.bad = true
			}
			return s
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			d.bad = true
			return ""
		default:
			d.i++
		}
	}
	d.bad = true
	return ""
}

// escaped finishes a string that has escapes, from its start.
func (d *decoder) escaped(start int) string {
	out := make([]byte, 0, d.i-start+16)
	out = append(out, d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(out) {
				d.bad = true
			}
			return string(out)
		case c < 0x20:
			d.bad = true
			return ""
		case c != '\\':
			out = append(out, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			break
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := d.hex4()
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
					save := d.i
					d.i += 2
					r2 = d.hex4()
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r, r2 = dec, -1
					} else {
						d.i = save // the second escape stands on its own
						r2 = -1
					}
				}
				if utf16.IsSurrogate(r) {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			d.bad = true
			return ""
		}
	}
	d.bad = true
	return ""
}

func (d *decoder) hex4() rune {
	if d.i+4 > len(d.b) {
		d.bad = true
		return 0
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			d.bad = true
			return 0
		}
	}
	d.i += 4
	return r
}

// parseTime reads a timestamp; the layout the encoder writes is read directly, anything else through
// time.Parse.
func parseTime(s string) (time.Time, error) {
	if len(s) == len(TimeLayout) && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':' && s[19] == '.' && s[23] == 'Z' {
		num := func(i, n int) int {
			v := 0
			for _, c := range []byte(s[i : i+n]) {
				if c < '0' || c > '9' {
					return -1
				}
				v = v*10 + int(c-'0')
			}
			return v
		}
		y, mo, d, h, mi, sec, milli := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2), num(20, 3)
		if y >= 0 && mo >= 1 && mo <= 12 && d >= 1 && d <= daysIn(mo, y) && h >= 0 && h < 24 && mi >= 0 && mi < 60 && sec >= 0 && sec < 60 && milli >= 0 {
			return time.Date(y, time.Month(mo), d, h, mi, sec, milli*1e6, time.UTC), nil
		}
	}
	return time.Parse(time.RFC3339Nano, s)
}

func daysIn(m, y int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
