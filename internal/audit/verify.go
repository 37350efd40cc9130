package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
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

// Verification is a report as `audit verify` shows it, of the trail at File (a log file, or a
// database without its password): its JSON and YAML shape, documented in docs/json-output.md.
type Verification struct {
	File         string     `json:"file" yaml:"file"`
	OK           bool       `json:"ok" yaml:"ok"`
	Lines        int64      `json:"lines" yaml:"lines"`
	Entries      int64      `json:"entries" yaml:"entries"`
	First        string     `json:"first" yaml:"first"`
	Last         string     `json:"last" yaml:"last"`
	Head         Head       `json:"head" yaml:"head"`
	ExpectedHead *Head      `json:"expected_head,omitempty" yaml:"expected_head,omitempty"`
	After        *Head      `json:"after,omitempty" yaml:"after,omitempty"`
	Recovered    []Recovery `json:"recovered" yaml:"recovered"`
	Problems     []Problem  `json:"problems" yaml:"problems"`
	Omitted      int        `json:"omitted_problems,omitempty" yaml:"omitted_problems,omitempty"`
}

// Verification is the report of the trail at where, verified with opts (the head expected, the
// entry a part continues after).
func (r *Report) Verification(where string, opts VerifyOptions) Verification {
	v := Verification{
		File: where, OK: r.OK(), Lines: r.Lines, Entries: r.Entries, First: r.First, Last: r.Last,
		Head: r.Head, ExpectedHead: opts.Expect, After: opts.After, Recovered: r.Recovered, Problems: r.Problems, Omitted: r.Omitted,
	}
	// Lists stay [] rather than null in JSON, so consumers need no null checks.
	if v.Recovered == nil {
		v.Recovered = []Recovery{}
	}
	if v.Problems == nil {
		v.Problems = []Problem{}
	}
	return v
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Expect, when set, is a head recorded earlier: the log must still contain it, which also catches
	// entries removed from the end.
	Expect *Head
	// After, when set, makes the log a part of a chain (an export --since, a rotated file) that
	// continues after this entry: its first entry must be the next seq and link to this hash, where
	// a whole log starts at seq 1 from the genesis hash. The entry comes from elsewhere (the head
	// the part before ended at): a part proves nothing about what came before it.
	After *Head
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
	v := newVerifier(opts)
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

// newVerifier starts where the chain starts: at the genesis hash, or after opts.After.
func newVerifier(opts VerifyOptions) *verifier {
	start := Head{Hash: Genesis}
	if opts.After != nil {
		start = *opts.After
	}
	v := &verifier{opts: opts, rep: &Report{Head: start}}
	v.base.seq = start.Seq
	copy(v.base.hash[:], start.Hash)
	return v
}

type chainPoint struct {
	seq  uint64
	hash [64]byte
	line int64
}

// outOfPlace is an entry found away from its place in the chain, kept so that the line after its
// place, which links to it, is not blamed too.
type outOfPlace struct {
	seq        uint64
	hash, prev [64]byte
}

// missingRun is a run of seqs absent where they belong (between the entries at lines after and
// before), kept so that an entry of the run found later is named as moved there. reported: a gap
// problem already names the place; otherwise finish reports it if the run is never found.
type missingRun struct {
	from, to    uint64
	first, last [64]byte // the prev of seq from, and the hash of seq to
	after       int64    // the line of seq from-1
	before      int64    // the line of seq to+1
	at          int64    // the line to name if the run is never found
	reported    bool
}

// pendingGap is a seq jump forward whose cause the next line tells: a deletion (the next entry
// follows the one that jumped), or an entry out of place (the next entry follows the one before
// it, or skips over the seqs the jumping entry took the place of).
type pendingGap struct {
	active         bool
	before         chainPoint // the chain point before the jump, and the one before that
	beforePrev     chainPoint
	havePrev       bool
	beforeReported bool
	entry          outOfPlace // the entry that jumped
}

// maxPending bounds the out-of-place entries and missing runs remembered: each is damage already
// met, so a log damaged in more places than this is still reported, only less precisely.
const maxPending = 64

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
	// the entry base followed, to find an entry inserted at base
	basePrev     chainPoint
	haveBasePrev bool
	baseReported bool // base's own line has a problem already
	gap          pendingGap
	moved        []outOfPlace
	missing      []missingRun
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
	// pre is the next line as CheckLine found it, when a caller checked it already: rows are
	// checked in parallel, ahead of their turn.
	pre *CheckedLine
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
		v.settleGap(nil)
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
	pre := v.pre
	v.pre = nil
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
		v.settleGap(nil)
		v.runLine(b, true)
		v.run.lastTorn = true
		return
	}
	var li lineInfo
	var ok, sealed bool
	if pre != nil {
		li, ok, sealed = pre.li, pre.ok, pre.sealed
	} else {
		li, ok = scan(b)
		sealed = ok && li.sealed()
	}
	if !ok {
		v.settleGap(nil)
		v.runLine(b, true)
		return
	}
	if sealed {
		v.settleGap(&li)
	} else {
		v.settleGap(nil)
	}
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
	case prev.line == 0 && v.opts.After != nil && (li.seq != prev.seq+1 || string(li.prev) != string(prev.hash[:])):
		if li.seq != prev.seq+1 {
			v.problem(v.lineNo, KindStart, "line %d: the log starts at seq %d, not %d: it does not continue after %d:%s", v.lineNo, li.seq, prev.seq+1, prev.seq, short(v.opts.After.Hash))
		} else {
			v.problem(v.lineNo, KindStart, "line %d: seq %d does not link to %d:%s (its prev is %s): it does not continue that chain", v.lineNo, li.seq, prev.seq, short(v.opts.After.Hash), short(string(li.prev)))
		}
	case prev.seq == 0 && prev.line == 0 && (li.seq != 1 || string(li.prev) != Genesis):
		if li.seq != 1 {
			v.problem(v.lineNo, KindStart, "line %d: the log starts at seq %d, not 1: entries were removed from the start (or this is a part of a chain: check it with --after, the entry before it)", v.lineNo, li.seq)
		} else {
			v.problem(v.lineNo, KindStart, "line %d: seq 1 does not start a chain (its prev is not 64 zeros)", v.lineNo)
		}
	case li.seq == prev.seq+1 && string(li.prev) == string(prev.hash[:]):
		// the chain continues
		v.advance(next, false)
		v.lastTSLen = copy(v.lastTS[:], li.timestamp)
		return
	case v.resumesAfterMoved(li):
		// The chain goes on from an entry met earlier out of place, where it was reported.
		v.base, v.haveBasePrev, v.baseReported = next, false, false
		v.lastTSLen = copy(v.lastTS[:], li.timestamp)
		return
	case v.insertedAtBase(li):
		// This entry follows the one before base, as if base were not there: base's line is the
		// damage (an entry inserted, sealed right for its own content), not this one.
		if !v.baseReported {
			v.problem(v.base.line, KindOrder, "line %d: seq %d is not part of the chain: the next entry (line %d) goes on from seq %d (line %d) as if it were not there: an entry was inserted", v.base.line, v.base.seq, v.lineNo, v.basePrev.seq, v.basePrev.line)
		}
		v.base, v.baseReported = next, false
		v.lastTSLen = copy(v.lastTS[:], li.timestamp)
		return
	case li.seq == prev.seq+1:
		v.problem(v.lineNo, KindBrokenLink, "line %d: prev does not match the hash of seq %d (line %d): the chain is broken (an entry edited and re-hashed?)", v.lineNo, prev.seq, prev.line)
	case li.seq > prev.seq+1:
		// A deletion, or this entry is out of place: the next line tells (see settleGap). Until
		// then the chain goes on from this entry, as it does after a deletion.
		v.gap = pendingGap{active: true, before: prev, beforePrev: v.basePrev, havePrev: v.haveBasePrev, beforeReported: v.baseReported}
		v.gap.entry.seq = li.seq
		copy(v.gap.entry.hash[:], li.hash)
		copy(v.gap.entry.prev[:], li.prev)
	default:
		if r, ok := v.foundMissing(li); ok {
			v.problem(v.lineNo, KindOrder, "line %d: seq %d follows seq %d (line %d): it belongs between lines %d and %d, where it is missing: the entry was moved here", v.lineNo, li.seq, prev.seq, prev.line, r.after, r.before)
		} else {
			v.problem(v.lineNo, KindOrder, "line %d: seq %d follows seq %d (line %d): lines out of order, duplicated or inserted", v.lineNo, li.seq, prev.seq, prev.line)
		}
		// Keep following the chain from the later entry: the lines after an out-of-place
		// one usually continue from it.
		v.lastTSLen = copy(v.lastTS[:], li.timestamp)
		return
	}
	v.advance(next, true)
	v.lastTSLen = copy(v.lastTS[:], li.timestamp)
}

// advance makes next the entry the chain goes on from; reported says its line has a problem.
func (v *verifier) advance(next chainPoint, reported bool) {
	v.basePrev, v.haveBasePrev = v.base, true
	v.base, v.baseReported = next, reported
}

// resumesAfterMoved reports whether li follows base across exactly one entry that was met earlier
// out of place and links to both: that entry's damage is already reported where it was met.
func (v *verifier) resumesAfterMoved(li lineInfo) bool {
	if li.seq != v.base.seq+2 {
		return false
	}
	for i, m := range v.moved {
		if m.seq == v.base.seq+1 && m.prev == v.base.hash && string(li.prev) == string(m.hash[:]) {
			v.moved = append(v.moved[:i], v.moved[i+1:]...)
			return true
		}
	}
	return false
}

// insertedAtBase reports whether li follows the entry before base rather than base, while being
// another entry than base (an exact copy of base is the duplicate, not base).
func (v *verifier) insertedAtBase(li lineInfo) bool {
	return v.haveBasePrev && v.base.line > 0 && li.seq == v.basePrev.seq+1 &&
		string(li.prev) == string(v.basePrev.hash[:]) && string(li.hash) != string(v.base.hash[:])
}

// settleGap decides, on the line after a seq jump forward, what the jump was. li is that line's
// entry when it is a sealed one, nil otherwise.
//   - li follows the entry before the jump: the jumping entry is out of place (moved, copied or
//     inserted there), and the chain goes on from before it;
//   - li skips, from the entry before the jump, only seqs below the jumping entry's: the jumping
//     entry is out of place, standing where those seqs are missing (as when two lines are swapped);
//     they are reported at the end unless met later;
//   - otherwise the seqs in between were deleted (or moved later on), as the jump said.
func (v *verifier) settleGap(li *lineInfo) {
	if !v.gap.active {
		return
	}
	g := v.gap
	v.gap.active = false
	at := v.base // the entry that jumped
	switch {
	case li != nil && li.seq == g.before.seq+1 && string(li.prev) == string(g.before.hash[:]):
		v.problem(at.line, KindGap, "line %d: seq %d follows seq %d (line %d), and the next entry goes on from seq %d: this entry is out of place (moved, copied or inserted here)", at.line, at.seq, g.before.seq, g.before.line, g.before.seq)
		v.noteMoved(g.entry)
		v.base, v.basePrev, v.haveBasePrev, v.baseReported = g.before, g.beforePrev, g.havePrev, g.beforeReported
	case li != nil && li.seq > g.before.seq+1 && li.seq < at.seq:
		v.problem(at.line, KindGap, "line %d: seq %d follows seq %d (line %d), and the next entry goes on from seq %d: this entry is out of place (moved, copied or inserted in place of %s)", at.line, at.seq, g.before.seq, g.before.line, li.seq-1, seqRange(g.before.seq+1, li.seq-1))
		v.noteMoved(g.entry)
		r := missingRun{from: g.before.seq + 1, to: li.seq - 1, first: g.before.hash, after: g.before.line, before: v.lineNo, at: at.line}
		copy(r.last[:], li.prev)
		v.addMissing(r)
		// The chain goes on from the missing entry li links to, as if it were there.
		v.base = chainPoint{seq: li.seq - 1, line: at.line}
		copy(v.base.hash[:], li.prev)
		v.haveBasePrev, v.baseReported = false, true
	default:
		missing := at.seq - g.before.seq - 1
		v.problem(at.line, KindGap, "line %d: seq %d follows seq %d (line %d): %d entr%s deleted, or lines moved", at.line, at.seq, g.before.seq, g.before.line, missing, plural(missing, "y", "ies"))
		// Should the entries turn up later, they are named as moved from here.
		r := missingRun{from: g.before.seq + 1, to: at.seq - 1, first: g.before.hash, last: g.entry.prev, after: g.before.line, before: at.line, reported: true}
		v.addMissing(r)
	}
}

func seqRange(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("seq %d", from)
	}
	return fmt.Sprintf("seqs %d-%d", from, to)
}

// noteMoved remembers an entry met out of place, the oldest forgotten beyond maxPending.
func (v *verifier) noteMoved(m outOfPlace) {
	if len(v.moved) >= maxPending {
		v.moved = append(v.moved[:0], v.moved[1:]...)
	}
	v.moved = append(v.moved, m)
}

// addMissing remembers seqs missing from their place; beyond maxPending the oldest run is reported
// now (if no gap named it) and forgotten.
func (v *verifier) addMissing(r missingRun) {
	if len(v.missing) >= maxPending {
		v.reportMissing(v.missing[0])
		v.missing = append(v.missing[:0], v.missing[1:]...)
	}
	v.missing = append(v.missing, r)
}

func (v *verifier) reportMissing(r missingRun) {
	if r.reported {
		return
	}
	n := r.to - r.from + 1
	v.problem(r.at, KindGap, "line %d: %s, which belong%s between lines %d and %d, %s missing: %d entr%s deleted, or moved", r.at, seqRange(r.from, r.to), plural(n, "s", ""), r.after, r.before, plural(n, "is", "are"), n, plural(n, "y", "ies"))
}

// foundMissing reports whether li is an entry missing from an earlier place, and where; the run it
// belongs to no longer counts it as missing.
func (v *verifier) foundMissing(li lineInfo) (missingRun, bool) {
	for i, r := range v.missing {
		if li.seq < r.from || li.seq > r.to ||
			(li.seq == r.from && string(li.prev) != string(r.first[:])) ||
			(li.seq == r.to && string(li.hash) != string(r.last[:])) {
			continue
		}
		rest := make([]missingRun, 0, 2)
		if li.seq > r.from {
			lo := r
			lo.to = li.seq - 1
			copy(lo.last[:], li.prev)
			rest = append(rest, lo)
		}
		if li.seq < r.to {
			hi := r
			hi.from = li.seq + 1
			copy(hi.first[:], li.hash)
			rest = append(rest, hi)
		}
		v.missing = append(v.missing[:i], v.missing[i+1:]...)
		for _, x := range rest {
			v.addMissing(x)
		}
		return r, true
	}
	return missingRun{}, false
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
	v.settleGap(nil)
	for _, r := range v.missing {
		v.reportMissing(r)
	}
	// Damage is decided a line or more after it is met: list it in the order of the lines.
	sort.SliceStable(v.rep.Problems, func(i, j int) bool { return v.rep.Problems[i].Line < v.rep.Problems[j].Line })
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
