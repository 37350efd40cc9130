package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Record is an entry as read back, with its exact line (without the newline).
type Record struct {
	Entry
	Line []byte
}

// Recent is the end of a log as Last reads it.
type Recent struct {
	// Records are the entries kept, oldest first.
	Records []Record
	// Skipped counts lines passed over that are not entries (torn or damaged).
	Skipped int
	// End is the offset just after the last complete line: where following begins.
	End int64
	// Start is where the range read back begins: the first line after the one Stop was true for,
	// the oldest record kept when n was reached, else 0. Lines reads [Start, End) forwards.
	Start int64
}

// Select narrows what Last returns.
type Select struct {
	// Keep accepts entries (nil: all).
	Keep func(Entry) bool
	// Stop ends the reading back at the first entry it is true for, which is left out: entries are in
	// the order they were written, so a time limit need not read further back than its time.
	Stop func(Entry) bool
}

// Last returns the last n entries (n < 0: all) that sel accepts, of a log of size bytes, reading
// backwards from the end in fixed chunks: time and memory depend on how far back the entries are,
// not on the size of the file. A partial last line (a write in progress, or torn) is left out.
func Last(r io.ReaderAt, size int64, n int, sel Select) (Recent, error) {
	var out Recent
	out.End = size
	if n == 0 || size == 0 {
		if size > 0 {
			end, err := completeEnd(r, size)
			out.End = end
			return out, err
		}
		return out, nil
	}
	buf := make([]byte, readChunk)
	var pending []byte // the end of a line that starts before pos
	overlong := false  // pending exceeded maxLine: the line is not an entry
	trailing := true   // the segment after the last newline is not a complete line
	pos := size
	// emit takes a complete line starting at offset at and says whether reading back is done.
	emit := func(line []byte, at int64) bool {
		e, err := ParseLine(line)
		if err != nil {
			out.Skipped++
			return false
		}
		if sel.Stop != nil && sel.Stop(e) {
			out.Start = at + int64(len(line)) + 1
			return true
		}
		if sel.Keep != nil && !sel.Keep(e) {
			return false
		}
		out.Records = append(out.Records, Record{Entry: e, Line: bytes.Clone(line)})
		if len(out.Records) == n {
			out.Start = at
			return true
		}
		return false
	}
	for pos > 0 {
		start := max(0, pos-int64(len(buf)))
		b := buf[:pos-start]
		if _, err := r.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return out, err
		}
		end := len(b)
		for {
			i := bytes.LastIndexByte(b[:end], '\n')
			if i < 0 {
				break
			}
			seg := b[i+1 : end]
			if trailing {
				trailing = false
				out.End = start + int64(i) + 1
			} else if overlong {
				out.Skipped++
			} else {
				line := seg
				if len(pending) > 0 {
					line = append(bytes.Clone(seg), pending...)
				}
				if emit(line, start+int64(i)+1) {
					reverse(out.Records)
					return out, nil
				}
			}
			pending, overlong = pending[:0], false
			end = i
		}
		if !trailing && !overlong {
			if len(pending)+end > maxLine {
				overlong, pending = true, pending[:0]
			} else {
				pending = append(bytes.Clone(b[:end]), pending...)
			}
		}
		if trailing && start == 0 {
			out.End = 0 // no newline at all: nothing complete
		}
		pos = start
	}
	if !trailing {
		if overlong {
			out.Skipped++
		} else {
			emit(pending, 0)
		}
	}
	reverse(out.Records)
	return out, nil
}

// Lines passes each complete line of r between offsets start and end to emit, reading forwards in
// fixed chunks, so memory stays flat however long the range: Last finds where a range starts
// without keeping what it reads, and Lines goes through it. A line too long to be an entry is
// passed on empty, which is not an entry either.
func Lines(r io.ReaderAt, start, end int64, emit func(line []byte) error) error {
	fl := &follower{offset: start, lineEnd: start, emit: emit, buf: make([]byte, readChunk)}
	return fl.readFrom(io.NewSectionReader(r, 0, end))
}

// readChunk is how much Last reads at a time, going backwards.
const readChunk = 64 << 10

// completeEnd returns the offset after the last newline of a file, reading only its end.
func completeEnd(r io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, readChunk)
	for pos := size; pos > 0; {
		start := max(0, pos-int64(len(buf)))
		b := buf[:pos-start]
		if _, err := r.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		pos = start
	}
	return 0, nil
}

func reverse(rs []Record) {
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
}

// Head identifies a log's last entry: a checkpoint to keep elsewhere and give to verify later. Its
// JSON and YAML shape is `audit head`'s.
type Head struct {
	Seq  uint64 `json:"seq" yaml:"seq"`
	Hash string `json:"hash" yaml:"hash"`
}

// String renders a head as SEQ:HASH.
func (h Head) String() string { return strconv.FormatUint(h.Seq, 10) + ":" + h.Hash }

// ParseHead reads SEQ:HASH.
func ParseHead(s string) (Head, error) {
	seq, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || len(hash) != 64 || !isHex([]byte(hash)) {
		return Head{}, fmt.Errorf("%q is not SEQ:HASH (a number, a colon and 64 lowercase hex digits, as `klrbac audit head` prints)", s)
	}
	if n == 0 && hash != Genesis {
		return Head{}, fmt.Errorf("%q: seq 0 is the empty log, whose hash is 64 zeros", s)
	}
	return Head{Seq: n, Hash: hash}, nil
}

// LastEntry returns the head of a log of size bytes, reading only its end, and whether the file ends
// with an interrupted write not yet recovered. An empty log's head is seq 0 with the Genesis hash.
// A log whose end an append would refuse gives a *DamagedError (without a Path): its head is not
// worth keeping as a checkpoint.
func LastEntry(r io.ReaderAt, size int64) (head Head, tornTail bool, err error) {
	t, err := findTail(r, size)
	var d damage
	if errors.As(err, &d) {
		return Head{}, false, &DamagedError{Reason: string(d)}
	}
	if err != nil {
		return Head{}, false, err
	}
	return Head{Seq: t.seq, Hash: t.hash}, t.run.present, nil
}

// Part is where a run of consecutive lines (an export) sits in the chain: Entries of them, the
// entry the first says it continues after (seq 0 and the genesis hash for a whole chain) and the
// last. After is the part's own claim, read from its first entry: it proves nothing until it is
// compared with a head kept from before (verify's After). The next part continues after Head.
type Part struct {
	Entries     int64
	After, Head Head
	started     bool
	head        lineInfo
}

// Add takes the run's next line (without its newline); a line that is not an entry's layout is
// counted, and left for verify to name.
func (p *Part) Add(line []byte) {
	p.Entries++
	li, ok := scan(line)
	if !ok || li.seq == 0 {
		return
	}
	if !p.started {
		p.After, p.started = Head{Seq: li.seq - 1, Hash: string(li.prev)}, true
	}
	// Kept as the scan of the line, not a Head, so that a million lines cost no million strings;
	// the line's bytes are the caller's, so the hash is copied.
	p.head.seq = li.seq
	p.head.hash = append(p.head.hash[:0], li.hash...)
	p.Head = Head{Seq: li.seq}
}

// Done fills in Head's hash once the run is over.
func (p *Part) Done() {
	if !p.started {
		p.After, p.Head = Head{Hash: Genesis}, Head{Hash: Genesis}
		return
	}
	p.Head.Hash = string(p.head.hash)
}
