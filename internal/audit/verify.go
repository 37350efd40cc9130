package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// Problem kinds, as `audit verify -o json` reports them.
const (
	KindTorn       = "torn"        // the last line has no newline: a write was interrupted
	KindMalformed  = "malformed"   // a line that is not an entry, not covered by a recovery record
	KindEdited     = "edited"      // an entry's hash does not match its bytes
	KindBrokenLink = "broken-link" // an entry's prev is not the hash of the entry before it
	KindGap        = "gap"         // seq jumps forward: entries deleted (or moved)
	KindOrder      = "order"       // seq goes back or repeats: entries reordered, duplicated or inserted
	KindStart      = "start"       // the first entry is not seq 1 after the genesis hash
	KindTruncated  = "truncated"   // the expected head is beyond the end of the log
	KindRewritten  = "rewritten"   // the expected head's seq carries another hash
)

// Problem is one thing wrong with a log, at a line (1-based; 0 when it concerns the whole log).
type Problem struct {
	Line    int64  `json:"line" yaml:"line"`
	Kind    string `json:"kind" yaml:"kind"`
	Message string `json:"message" yaml:"message"`
}

// Recovery is a run of lines that are not entries, covered by the audit.recovered entry a later
// writer appended: damage that is accounted for, not tampering.
type Recovery struct {
	Line       int64  `json:"line" yaml:"line"`
	Lines      int64  `json:"lines" yaml:"lines"`
	Bytes      int64  `json:"bytes" yaml:"bytes"`
	RecordedAt int64  `json:"recorded_at" yaml:"recorded_at"`
	Seq        uint64 `json:"seq" yaml:"seq"`
}

// Report is what Verify found.
type Report struct {
	Lines   int64
	Entries int64
	// First and Last are the timestamps of the first and last entries, as written.
	First, Last string
	Head        Head
	Problems    []Problem
	// Omitted counts problems beyond VerifyOptions.MaxProblems.
	Omitted   int
	Recovered []Recovery
}

// OK reports whether the log verified.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Expect, when set, is a head recorded earlier: the log must still contain it, which also catches
	// entries removed from the end.
	Expect *Head
	// MaxProblems bounds the problems listed (default 100); the rest are counted.
	MaxProblems int
}

// Verify reads a whole log and checks every line: its layout, its hash, its link to the entry before
// and its seq. It streams through a large buffer and decodes no JSON except for the rare
// audit.recovered entries, so it runs close to the speed of SHA-256 itself.
//
// The chain rule for damaged lines: a run of lines that are not entries (a torn write and anything a
// crashed writer left) is accounted for when the next entry is an audit.recovered entry that
// continues the chain from the last entry before the run and whose resource and fingerprint give the
// run's exact length and SHA-256. Such runs are listed in Recovered. Any other run is a problem, and
// the chain continues from the last entry before it.
func Verify(r io.Reader, opts VerifyOptions) (*Report, error) {
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 100
	}
	v := &verifier{opts: opts, rep: &Report{Head: Head{Hash: Genesis}}}
	copy(v.base.hash[:], Genesis)
	// The buffer grows to verifyBuffer as the log proves long: small logs stay cheap.
	buf := make([]byte, 64<<10)
	fill := 0
	for {
		n, err := r.Read(buf[fill:])
		fill += n
		if fill == len(buf) && len(buf) < verifyBuffer {
			buf = append(buf, make([]byte, len(buf))...)
			continue
		}
		start := 0
		for {
			i := bytes.IndexByte(buf[start:fill], '\n')
			if i < 0 {
				break
			}
			v.take(buf[start:start+i], true)
			start += i + 1
		}
		if start == 0 && fill == len(buf) {
			// A line longer than the buffer cannot be an entry: take it in pieces as damage.
			v.longPiece(buf[:fill])
			fill = 0
		} else {
			fill = copy(buf, buf[start:fill])
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return v.rep, err
		}
	}
	if fill > 0 || v.long {
		v.take(buf[:fill], false)
	}
	v.finish()
	return v.rep, nil
}

// verifyBuffer is the most Verify reads at once: large enough that the per-read and per-buffer costs
// vanish next to hashing.
const verifyBuffer = 4 << 20

type chainPoint struct {
	seq  uint64
	hash [64]byte
	line int64
}

type tailEntry struct {
	seq        uint64
	hash, prev [64]byte
	sealed     bool
}

type verifier struct {
	opts   VerifyOptions
	rep    *Report
	lineNo int64
	base   chainPoint // the entry the next one must follow
	// the run of lines that are not entries since base
	run struct {
		active   bool
		start    int64
		lines    int64
		length   int64
		digest   hash.Hash
		lastTorn bool
		// foreign: a line of the run does not begin as an entry, so it is no interrupted write
		foreign bool
	}
	// the last two lines that looked like entries, to tell whether an append would build on them
	// (see findTail)
	tailEntries        int
	tailLast, tailPrev tailEntry
	// the last entry's timestamp, kept without allocating per line
	lastTS    [40]byte
	lastTSLen int
	long      bool // inside a line longer than the read buffer
	// expected head
	expectSeen     bool
	expectMismatch int64
}

func (v *verifier) problem(line int64, kind, format string, args ...any) {
	if len(v.rep.Problems) >= v.opts.MaxProblems {
		v.rep.Omitted++
		return
	}
	v.rep.Problems = append(v.rep.Problems, Problem{Line: line, Kind: kind, Message: fmt.Sprintf(format, args...)})
}

// longPiece takes part of a line that does not fit the buffer.
func (v *verifier) longPiece(b []byte) {
	if !v.long {
		v.long = true
		v.lineNo++
		v.runLine(b, true)
		return
	}
	v.run.length += int64(len(b))
	v.run.digest.Write(b)
}

func (v *verifier) runLine(b []byte, first bool) {
	if !v.run.active {
		v.run.active = true
		v.run.start, v.run.lines, v.run.length = v.lineNo, 0, -1
		v.run.foreign = false
		if v.run.digest == nil {
			v.run.digest = sha256.New()
		}
		v.run.digest.Reset()
	}
	if first {
		if len(b) == 0 || !looksLikeEntryStart(b) {
			v.run.foreign = true
		}
		v.run.lines++
		if v.run.length >= 0 {
			v.run.digest.Write([]byte{'\n'})
		}
		v.run.length++
	}
	v.run.length += int64(len(b))
	v.run.digest.Write(b)
}

func (v *verifier) take(b []byte, terminated bool) {
	if v.long {
		// the end of a long line
		v.long = false
		v.run.length += int64(len(b))
		v.run.digest.Write(b)
		v.run.lastTorn = !terminated
		return
	}
	v.lineNo++
	v.rep.Lines = v.lineNo
	if !terminated {
		v.runLine(b, true)
		v.run.lastTorn = true
		return
	}
	li, ok := scan(b)
	if !ok {
		v.runLine(b, true)
		return
	}
	sealed := li.sealed()
	v.noteTailEntry(li, sealed)
	v.rep.Entries++
	if v.rep.First == "" {
		v.rep.First = string(li.timestamp)
	}
	if v.run.active {
		v.closeRun(li, b, sealed)
	} else if sealed && isRecovery(b, li) {
		// A recovery record with nothing before it to account for: the damaged bytes it names
		// were taken out of the file afterwards.
		if e, err := ParseLine(b); err == nil && e.Action == ActionRecovered {
			v.problem(v.lineNo, KindEdited, "line %d: this audit.recovered entry accounts for damaged bytes (%s) that are no longer before it: the log was edited", v.lineNo, e.Resource)
		}
	}
	v.checkExpect(li)
	prev := v.base
	next := chainPoint{seq: li.seq, line: v.lineNo}
	copy(next.hash[:], li.hash)
	switch {
	case !sealed && bytes.Contains(b, []byte(`"}{"seq":`)):
		v.problem(v.lineNo, KindMalformed, "line %d: entries run together (a newline was removed)", v.lineNo)
		// Carry on from the last of them, which the next line follows.
		last := b[bytes.LastIndex(b, []byte(`"}{"seq":`))+2:]
		if li, ok := scan(last); ok {
			next.seq = li.seq
			copy(next.hash[:], li.hash)
		}
	case !sealed:
		v.problem(v.lineNo, KindEdited, "line %d: hash does not match the entry's bytes: the entry was edited", v.lineNo)
	case prev.seq == 0 && prev.line == 0 && (li.seq != 1 || string(li.prev) != Genesis):
		if li.seq != 1 {
			v.problem(v.lineNo, KindStart, "line %d: the log starts at seq %d, not 1: entries were removed from the start (or this is a rotated part)", v.lineNo, li.seq)
		} else {
			v.problem(v.lineNo, KindStart, "line %d: seq 1 does not start a chain (its prev is not 64 zeros)", v.lineNo)
		}
	case li.seq == prev.seq+1 && string(li.prev) == string(prev.hash[:]):
		// the chain continues
	case li.seq == prev.seq+1:
		v.problem(v.lineNo, KindBrokenLink, "line %d: prev does not match the hash of seq %d (line %d): the chain is broken (an entry edited and re-hashed?)", v.lineNo, prev.seq, prev.line)
	case li.seq > prev.seq+1:
		missing := li.seq - prev.seq - 1
		v.problem(v.lineNo, KindGap, "line %d: seq %d follows seq %d (line %d): %d entr%s deleted, or lines moved", v.lineNo, li.seq, prev.seq, prev.line, missing, plural(missing, "y", "ies"))
	default:
		v.problem(v.lineNo, KindOrder, "line %d: seq %d follows seq %d (line %d): lines out of order, duplicated or inserted", v.lineNo, li.seq, prev.seq, prev.line)
		// Keep following the chain from the later entry: the lines after an out-of-place
		// one usually continue from it.
		v.lastTSLen = copy(v.lastTS[:], li.timestamp)
		return
	}
	v.base = next
	v.lastTSLen = copy(v.lastTS[:], li.timestamp)
}

func (v *verifier) noteTailEntry(li lineInfo, sealed bool) {
	v.tailPrev = v.tailLast
	v.tailLast = tailEntry{seq: li.seq, sealed: sealed}
	copy(v.tailLast.hash[:], li.hash)
	copy(v.tailLast.prev[:], li.prev)
	v.tailEntries++
}

// appendable reports whether an append would build on the log as read so far, recovering a final
// run of interrupted writes: the rule of findTail, which reads only the end of the file.
func (v *verifier) appendable() bool {
	if v.run.active && (v.run.foreign || !v.run.lastTorn || v.run.length >= maxRun) {
		return false
	}
	last, prev := v.tailLast, v.tailPrev
	switch v.tailEntries {
	case 0:
		return true
	case 1:
		return last.sealed && last.seq == 1 && string(last.prev[:]) == Genesis
	}
	return last.sealed && prev.sealed && prev.seq+1 == last.seq && last.prev == prev.hash
}

// isRecovery reports whether a sealed line is an audit.recovered entry. It reads the fields that
// precede the action in the fixed layout (userId, role) instead of searching the line: this runs
// for every entry, and verify goes at close to the speed of SHA-256.
func isRecovery(line []byte, li lineInfo) bool {
	i := cap(line) - cap(li.timestamp) + len(li.timestamp) // just after the timestamp's value
	for _, key := range []string{`","userId":"`, `","role":"`} {
		if !bytes.HasPrefix(line[i:], []byte(key)) {
			return false
		}
		i += len(key)
		end, ok := stringEnd(line, i)
		if !ok {
			return false
		}
		i = end
	}
	return bytes.HasPrefix(line[i:], []byte(`","action":"`+ActionRecovered+`"`))
}

// stringEnd returns the offset of the quote closing the JSON string whose contents start at i.
func stringEnd(line []byte, i int) (int, bool) {
	for {
		k := bytes.IndexByte(line[i:], '"')
		if k < 0 {
			return 0, false
		}
		j := i + k
		backslashes := 0
		for b := j - 1; b >= 0 && line[b] == '\\'; b-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return j, true
		}
		i = j + 1
	}
}

// closeRun decides whether the run of damaged lines before this entry is accounted for.
func (v *verifier) closeRun(li lineInfo, b []byte, sealed bool) {
	run := v.run
	v.run.active, v.run.lastTorn = false, false
	digest := digestOf(run.digest.Sum(nil))
	if sealed && li.seq == v.base.seq+1 && string(li.prev) == string(v.base.hash[:]) {
		if e, err := ParseLine(b); err == nil && e.Action == ActionRecovered {
			var off, length int64
			if _, err := fmt.Sscanf(e.Resource, "offset %d, %d bytes", &off, &length); err == nil &&
				length == run.length && e.Fingerprint == digest {
				v.rep.Recovered = append(v.rep.Recovered, Recovery{Line: run.start, Lines: run.lines, Bytes: run.length, RecordedAt: v.lineNo, Seq: li.seq})
				return
			}
		}
	}
	v.runProblem(run.start, run.lines)
}

func (v *verifier) runProblem(start, lines int64) {
	if lines == 1 {
		v.problem(start, KindMalformed, "line %d: not an audit entry (a damaged line or inserted text)", start)
		return
	}
	v.problem(start, KindMalformed, "lines %d-%d: not audit entries (damaged lines or inserted text)", start, start+lines-1)
}

func (v *verifier) checkExpect(li lineInfo) {
	e := v.opts.Expect
	if e == nil || li.seq != e.Seq || v.expectSeen {
		return
	}
	if string(li.hash) == e.Hash {
		v.expectSeen, v.expectMismatch = true, 0
	} else if v.expectMismatch == 0 {
		v.expectMismatch = v.lineNo
	}
}

func (v *verifier) finish() {
	v.rep.Last = string(v.lastTS[:v.lastTSLen])
	if v.base.line > 0 {
		v.rep.Head = Head{Seq: v.base.seq, Hash: string(v.base.hash[:])}
	}
	if v.run.active {
		run := v.run
		// Only promise a recovery that the next append will make.
		next := ""
		if v.appendable() {
			next = "; the next append records its recovery"
			if run.lines > 1 {
				next = "; the next append records their recovery"
			}
		}
		switch {
		case run.lastTorn && run.foreign && run.lines == 1:
			v.problem(run.start, KindMalformed, "line %d: not an audit entry, nor an interrupted write of one (the file ends without a newline)", run.start)
		case run.lastTorn && run.foreign:
			v.problem(run.start, KindMalformed, "lines %d-%d: not audit entries, nor interrupted writes of them (the file ends without a newline)", run.start, run.start+run.lines-1)
		case run.lastTorn && run.length >= maxRun:
			v.problem(run.start, KindMalformed, "line %d: the log ends with %d bytes without a newline or an entry, more than %d MiB: no interrupted write is that long, so appends refuse this log", run.start, run.length, maxRun>>20)
		case run.lastTorn && run.lines == 1:
			v.problem(run.start, KindTorn, "line %d: torn: the last line has no newline (%d bytes; a write was interrupted)%s", run.start, run.length, next)
		case run.lastTorn:
			v.problem(run.start, KindTorn, "lines %d-%d: not audit entries, ending in a line without a newline (interrupted writes)%s", run.start, run.start+run.lines-1, next)
		default:
			v.runProblem(run.start, run.lines)
		}
	}
	e := v.opts.Expect
	if e == nil || e.Seq == 0 || v.expectSeen {
		return
	}
	if v.expectMismatch > 0 {
		v.problem(v.expectMismatch, KindRewritten, "line %d: seq %d has another hash than the expected head %s: the log was rewritten", v.expectMismatch, e.Seq, short(e.Hash))
		return
	}
	if e.Seq > v.rep.Head.Seq {
		v.problem(0, KindTruncated, "the log ends at seq %d (line %d), before the expected head seq %d: entries were removed from the end", v.rep.Head.Seq, v.base.line, e.Seq)
		return
	}
	v.problem(0, KindTruncated, "the expected head seq %d is not in the log", e.Seq)
}

func plural(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// short abbreviates a hash for messages.
func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// String summarises a report in one line.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d entries", r.Entries)
	if r.First != "" {
		fmt.Fprintf(&b, ", %s to %s", r.First, r.Last)
	}
	return b.String()
}
