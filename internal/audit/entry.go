// Package audit keeps klrbac's audit trail: an append-only file of JSON lines, one per audited
// action, chained by SHA-256 so that editing, deleting, inserting or reordering entries is evident.
//
// Every line has the same fields in the same order, written by one encoder:
//
//	{"seq":N,"timestamp":"...","userId":"...","role":"...","action":"...","resource":"...",
//	 "success":true,"klaviyoEndpoint":"...","ipAddress":"...","fingerprint":"...","reason":"...",
//	 "host":"...","alert":"...","prev":"<64 hex>","hash":"<64 hex>"}
//
// hash is the SHA-256 of the line's exact bytes before `,"hash":`, and prev is the hash of the entry
// before it (64 zeros for the first). Because the hash covers raw bytes rather than a re-encoding,
// verification needs no JSON decoding: it checks a fixed-size suffix and hashes a prefix.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klrbac/klrbac/internal/mask"
)

// Entry is one audited action. Field names in the JSON line follow the reference design
// (timestamp, userId, role, action, resource, success, klaviyoEndpoint, ipAddress).
type Entry struct {
	// Seq numbers entries from 1, without gaps; assigned when the entry is appended.
	Seq uint64
	// Timestamp is when the entry was appended (UTC, millisecond precision).
	Timestamp time.Time
	// UserID is who acted: see Actor.
	UserID string
	// Role is the klrbac role the action concerns, if any.
	Role string
	// Action names what was done: check, keys.set, oauth.login, config.init, audit.recovered, ...
	Action string
	// Resource is what it was done to: a permission, an operation, a key name, a file.
	Resource string
	// Success says whether the action was allowed and carried out.
	Success bool
	// KlaviyoEndpoint is "METHOD /api/path" when the action made a Klaviyo call.
	KlaviyoEndpoint string
	// IPAddress is the address the action came from, when known.
	IPAddress string
	// Fingerprint identifies a secret the action concerns without revealing it (mask.Fingerprint: 8 hex
	// digits of its SHA-256); for audit.recovered, the fingerprint of the skipped bytes.
	Fingerprint string
	// Reason explains the outcome in words.
	Reason string
	// Host is the machine the entry was written on.
	Host string
	// Alert names the alert rules the entry matched, comma separated.
	Alert string
	// Prev is the previous entry's Hash; Hash is this entry's (both 64 lowercase hex digits).
	Prev, Hash string
}

// Genesis is the Prev of a log's first entry.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Actions klrbac writes on its own behalf. Rules never fire on AlertFailed, so that a failing alert
// cannot trigger itself.
const (
	ActionRecovered   = "audit.recovered"
	ActionAlertFailed = "audit.alert_failed"
)

// TimeLayout is the timestamp format: RFC 3339 in UTC with milliseconds, as JavaScript's
// Date.toISOString writes it, so every timestamp has the same width.
const TimeLayout = "2006-01-02T15:04:05.000Z"

const (
	// maxField bounds each string field, so that a line stays far below maxLine.
	maxField = 1024
	// maxLine bounds a line readers accept as an entry.
	maxLine = 64 << 10
	// suffixLen is the length of `,"prev":"<64>","hash":"<64>"}`; hashedTrim is what of it the hash
	// does not cover: `,"hash":"<64>"}`.
	suffixLen  = len(`,"prev":"`) + 64 + len(`","hash":"`) + 64 + len(`"}`)
	hashedTrim = len(`,"hash":"`) + 64 + len(`"}`)
	linePrefix = `{"seq":`
)

// MarshalLine returns the entry's line, newline included, exactly as Append writes it. The entry must
// carry its Seq, Timestamp, Prev and Hash; MarshalLine does not recompute the hash.
func (e Entry) MarshalLine() []byte {
	b := e.appendBody(make([]byte, 0, 512))
	b = append(b, `,"hash":"`...)
	b = append(b, e.Hash...)
	return append(b, "\"}\n"...)
}

// seal encodes e after prev with the given seq, computes its hash, and appends the whole line to dst.
func seal(dst []byte, e *Entry, seq uint64, prev string) []byte {
	e.Seq, e.Prev = seq, prev
	start := len(dst)
	dst = e.appendBody(dst)
	sum := sha256.Sum256(dst[start:])
	e.Hash = hex.EncodeToString(sum[:])
	dst = append(dst, `,"hash":"`...)
	dst = append(dst, e.Hash...)
	return append(dst, "\"}\n"...)
}

// Chain seals entries one after another in memory, for writing a log in bulk (tests, benchmarks,
// importing) without the locking Append does.
type Chain struct {
	Seq  uint64
	Hash string
}

// NewChain starts a chain before the first entry.
func NewChain() *Chain { return &Chain{Hash: Genesis} }

// Next seals e as the next entry, appends its line to dst and returns it along with the sealed entry.
func (c *Chain) Next(dst []byte, e Entry) ([]byte, Entry) {
	e = normalize(e)
	dst = seal(dst, &e, c.Seq+1, c.Hash)
	c.Seq, c.Hash = e.Seq, e.Hash
	return dst, e
}

// appendBody writes the line up to and including the prev field: the bytes the hash covers.
func (e *Entry) appendBody(b []byte) []byte {
	b = append(b, linePrefix...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"timestamp":"`...)
	b = e.Timestamp.UTC().AppendFormat(b, TimeLayout)
	b = append(b, '"')
	b = appendField(b, "userId", e.UserID)
	b = appendField(b, "role", e.Role)
	b = appendField(b, "action", e.Action)
	b = appendField(b, "resource", e.Resource)
	b = append(b, `,"success":`...)
	b = strconv.AppendBool(b, e.Success)
	b = appendField(b, "klaviyoEndpoint", e.KlaviyoEndpoint)
	b = appendField(b, "ipAddress", e.IPAddress)
	b = appendField(b, "fingerprint", e.Fingerprint)
	b = appendField(b, "reason", e.Reason)
	b = appendField(b, "host", e.Host)
	b = appendField(b, "alert", e.Alert)
	b = append(b, `,"prev":"`...)
	b = append(b, e.Prev...)
	return append(b, '"')
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string with one fixed escaping, so that equal entries always give
// equal bytes: quote, backslash and control characters escaped (short forms where JSON has them),
// U+2028 and U+2029 escaped for JavaScript readers, everything else as is. s must be valid UTF-8.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0xe2 {
			i++
			continue
		}
		if c == 0xe2 {
			if i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xa8 || s[i+2] == 0xa9) {
				b = append(b, s[start:i]...)
				b = append(b, `\u202`...)
				b = append(b, hexDigits[s[i+2]&0xf])
				i += 3
				start = i
				continue
			}
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// normalize makes an entry safe to write: valid UTF-8, bounded fields, secrets masked, UTC time.
func normalize(e Entry) Entry {
	for _, f := range []*string{&e.UserID, &e.Role, &e.Action, &e.Resource, &e.KlaviyoEndpoint, &e.IPAddress,
		&e.Fingerprint, &e.Reason, &e.Host, &e.Alert} {
		*f = clean(*f)
	}
	e.Timestamp = e.Timestamp.UTC().Truncate(time.Millisecond)
	return e
}

func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = mask.InText(s)
	if len(s) > maxField {
		cut := maxField - len("…")
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// lineInfo is what the fixed layout of a line gives without decoding it.
type lineInfo struct {
	seq       uint64
	timestamp []byte
	prev      []byte // 64 hex digits
	hash      []byte // 64 hex digits
	body      []byte // the bytes the hash covers
}

// scan checks a line's fixed layout (without its newline): the seq and timestamp at the start, the
// prev and hash at the end. It does not check the hash.
func scan(line []byte) (lineInfo, bool) {
	var li lineInfo
	n := len(line)
	if n > maxLine || n < len(linePrefix)+len(`1,"timestamp":""`)+suffixLen || string(line[:len(linePrefix)]) != linePrefix {
		return li, false
	}
	i := len(linePrefix)
	if line[i] < '1' || line[i] > '9' {
		return li, false
	}
	for ; i < n && line[i] >= '0' && line[i] <= '9'; i++ {
		d := uint64(line[i] - '0')
		if li.seq > (1<<64-1-d)/10 {
			return li, false
		}
		li.seq = li.seq*10 + d
	}
	const tsKey = `,"timestamp":"`
	if i+len(tsKey) > n || string(line[i:i+len(tsKey)]) != tsKey {
		return li, false
	}
	i += len(tsKey)
	j := i
	for j < n && j-i < 40 && line[j] != '"' {
		j++
	}
	if j >= n || line[j] != '"' {
		return li, false
	}
	li.timestamp = line[i:j]
	s := n - suffixLen
	if s <= j {
		return li, false
	}
	suf := line[s:]
	if string(suf[:9]) != `,"prev":"` || string(suf[73:83]) != `","hash":"` || string(suf[147:]) != `"}` ||
		!isHex(suf[9:73]) || !isHex(suf[83:147]) {
		return li, false
	}
	li.prev, li.hash = suf[9:73], suf[83:147]
	li.body = line[:n-hashedTrim]
	return li, true
}

// isHex reports whether b is all lowercase hex digits. Verify runs it on 128 bytes of every line, so
// it checks eight bytes at a time, which keeps it well below the cost of the hashing.
func isHex(b []byte) bool {
	for len(b) >= 8 {
		if !hex8(binary.LittleEndian.Uint64(b)) {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// hex8 checks eight bytes at once: with every byte below 0x80, adding 0x80-k sets a byte's high bit
// exactly when the byte is at least k, and no addition carries into the next byte.
func hex8(x uint64) bool {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	if x&high != 0 {
		return false
	}
	atLeast := func(k uint64) uint64 { return (x + ones*(0x80-k)) & high }
	digit := atLeast('0') &^ atLeast('9'+1)
	letter := atLeast('a') &^ atLeast('f'+1)
	return digit|letter == high
}

// sealed reports whether a scanned line's hash matches its bytes.
func (li *lineInfo) sealed() bool {
	sum := sha256.Sum256(li.body)
	var want [64]byte
	hex.Encode(want[:], sum[:])
	return string(want[:]) == string(li.hash)
}

// Fields is an entry as its line spells it: the shape ParseLine decodes, and the one `audit record`
// prints (-o json and yaml).
type Fields struct {
	Seq             uint64 `json:"seq" yaml:"seq"`
	Timestamp       string `json:"timestamp" yaml:"timestamp"`
	UserID          string `json:"userId" yaml:"userId"`
	Role            string `json:"role" yaml:"role"`
	Action          string `json:"action" yaml:"action"`
	Resource        string `json:"resource" yaml:"resource"`
	Success         bool   `json:"success" yaml:"success"`
	KlaviyoEndpoint string `json:"klaviyoEndpoint" yaml:"klaviyoEndpoint"`
	IPAddress       string `json:"ipAddress" yaml:"ipAddress"`
	Fingerprint     string `json:"fingerprint" yaml:"fingerprint"`
	Reason          string `json:"reason" yaml:"reason"`
	Host            string `json:"host" yaml:"host"`
	Alert           string `json:"alert" yaml:"alert"`
	Prev            string `json:"prev" yaml:"prev"`
	Hash            string `json:"hash" yaml:"hash"`
}

// Fields returns the entry's fields as its line spells them.
func (e Entry) Fields() Fields {
	return Fields{e.Seq, e.Timestamp.Format(TimeLayout), e.UserID, e.Role, e.Action, e.Resource, e.Success,
		e.KlaviyoEndpoint, e.IPAddress, e.Fingerprint, e.Reason, e.Host, e.Alert, e.Prev, e.Hash}
}

// ErrNotEntry reports a line that is not an audit entry: torn, damaged or foreign.
var ErrNotEntry = errors.New("not an audit entry")

// ParseLine decodes one line (with or without its newline). It checks the layout and decodes the
// fields; it does not check the hash or the chain (Verify does).
// Sealed reports whether line (with or without its newline) is an entry whose hash matches its
// bytes: not edited since it was written. It says nothing of the entry's place in the chain.
func Sealed(line []byte) bool {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	li, ok := scan(line)
	return ok && li.sealed()
}

func ParseLine(line []byte) (Entry, error) {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	li, ok := scan(line)
	if !ok {
		return Entry{}, ErrNotEntry
	}
	w, ok := decodeCanonical(line)
	if !ok {
		if err := json.Unmarshal(line, &w); err != nil {
			return Entry{}, fmt.Errorf("%w: %v", ErrNotEntry, err)
		}
	}
	ts, err := parseTime(w.Timestamp)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: timestamp %q", ErrNotEntry, w.Timestamp)
	}
	if w.Seq != li.seq || w.Prev != string(li.prev) || w.Hash != string(li.hash) || w.Action == "" {
		return Entry{}, ErrNotEntry
	}
	return Entry{
		Seq: w.Seq, Timestamp: ts.UTC(), UserID: w.UserID, Role: w.Role, Action: w.Action, Resource: w.Resource,
		Success: w.Success, KlaviyoEndpoint: w.KlaviyoEndpoint, IPAddress: w.IPAddress, Fingerprint: w.Fingerprint,
		Reason: w.Reason, Host: w.Host, Alert: w.Alert, Prev: w.Prev, Hash: w.Hash,
	}, nil
}
