package audit

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"
)

// RowVerifier verifies a chain kept one line per row (the PostgreSQL store), fed row by row in the
// rows' own order, with the checks Verify makes of a file. Problems name a row by the label it was
// added with (its seq column) where a file's name a line by its number.
type RowVerifier struct{ v *verifier }

// NewRowVerifier starts verifying a chain from its first row.
func NewRowVerifier(opts VerifyOptions) *RowVerifier {
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 100
	}
	return &RowVerifier{v: newVerifier(opts)}
}

// Add takes the next row's line (without a newline); label names the row in problems and must grow
// from row to row.
func (rv *RowVerifier) Add(label int64, line []byte) {
	rv.v.lineNo = label - 1
	rv.v.take(line, true)
}

// CheckedLine is a line's layout and hash checked, the bulk of a verifier's work, which can run on
// other goroutines ahead of the line's turn (see AddChecked). It refers to the line's bytes.
type CheckedLine struct {
	li         lineInfo
	ok, sealed bool
}

// CheckLine checks a line's layout and hash (without its newline).
func CheckLine(line []byte) CheckedLine {
	li, ok := scan(line)
	return CheckedLine{li: li, ok: ok, sealed: ok && li.sealed()}
}

// Sealed reports whether the line is an entry whose hash matches its bytes, as Sealed does.
func (c *CheckedLine) Sealed() bool { return c.sealed }

// AddChecked is Add for a line CheckLine checked already; line must be the bytes it checked.
func (rv *RowVerifier) AddChecked(label int64, line []byte, c *CheckedLine) {
	rv.v.pre = c
	rv.Add(label, line)
}

// Problems is the number of problems found so far.
func (rv *RowVerifier) Problems() int { return len(rv.v.rep.Problems) }

// Problem records a problem the store found itself (an indexed column that disagrees with its line).
func (rv *RowVerifier) Problem(label int64, kind, format string, args ...any) {
	rv.v.problem(label, kind, format, args...)
}

// Finish ends the chain and returns the report; its Lines counts the rows.
func (rv *RowVerifier) Finish(rows int64) *Report {
	rv.v.finish()
	rv.v.rep.Lines = rows
	return rv.v.rep
}

// StartsAs reports whether line starts as klrbac's encoder writes an entry with this seq, timestamp,
// userId, role and action: a row store's check that the columns it filters on say what the line
// says, without decoding the line. It answers false for values the encoder would escape, and for a
// line spelled differently that may still decode to the same values: ParseLine decides those, at
// the cost of decoding, which a verify of millions of rows keeps for the rare row that needs it.
func StartsAs(line []byte, seq uint64, ts time.Time, userID, role, action []byte) bool {
	var num [20]byte
	b, ok := cut(line, startSeq)
	b, ok = cutIf(ok, b, strconv.AppendUint(num[:0], seq, 10))
	b, ok = cutIf(ok, b, startTimestamp)
	if ts.Nanosecond()%int(time.Millisecond) != 0 {
		return false // the line holds milliseconds
	}
	stamp, sok := layoutTime(ts)
	b, ok = cutIf(ok && sok, b, stamp[:])
	b, ok = cutIf(ok && plain(userID), b, startUser)
	b, ok = cutIf(ok, b, userID)
	b, ok = cutIf(ok && plain(role), b, startRole)
	b, ok = cutIf(ok, b, role)
	b, ok = cutIf(ok && plain(action), b, startAction)
	b, ok = cutIf(ok, b, action)
	return ok && len(b) > 0 && b[0] == '"'
}

var (
	startSeq       = []byte(linePrefix)
	startTimestamp = []byte(`,"timestamp":"`)
	startUser      = []byte(`","userId":"`)
	startRole      = []byte(`","role":"`)
	startAction    = []byte(`","action":"`)
)

func cut(b, prefix []byte) ([]byte, bool) {
	if !bytes.HasPrefix(b, prefix) {
		return b, false
	}
	return b[len(prefix):], true
}

func cutIf(ok bool, b, prefix []byte) ([]byte, bool) {
	if !ok {
		return b, false
	}
	return cut(b, prefix)
}

// plain reports whether appendString writes s between its quotes unchanged: valid UTF-8 without
// quotes, backslashes, control characters or U+2028/U+2029.
func plain(s []byte) bool {
	ascii := true
	for _, c := range s {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
		ascii = ascii && c < 0x80
	}
	return ascii || utf8.Valid(s) && !bytes.Contains(s, []byte("\u2028")) && !bytes.Contains(s, []byte("\u2029"))
}

// layoutTime writes t as TimeLayout does (false for years AppendFormat writes otherwise), without
// AppendFormat's reading of the layout: StartsAs runs for every row a verify reads.
func layoutTime(t time.Time) (out [len(TimeLayout)]byte, ok bool) {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	if y < 0 || y > 9999 {
		return out, false
	}
	put := func(i, n, v int) {
		for k := i + n - 1; k >= i; k-- {
			out[k] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, 4, y)
	put(5, 2, int(mo))
	put(8, 2, d)
	put(11, 2, h)
	put(14, 2, mi)
	put(17, 2, s)
	put(20, 3, t.Nanosecond()/int(time.Millisecond))
	out[4], out[7], out[10], out[13], out[16], out[19], out[23] = '-', '-', 'T', ':', ':', '.', 'Z'
	return out, true
}
