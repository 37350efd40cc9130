package audit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type followed struct {
	lines   chan string
	mu      sync.Mutex
	notices []string
}

func (fw *followed) notice(s string) {
	fw.mu.Lock()
	fw.notices = append(fw.notices, s)
	fw.mu.Unlock()
}

func (fw *followed) next(t *testing.T, what string) Entry {
	t.Helper()
	select {
	case l := <-fw.lines:
		e, err := ParseLine([]byte(l))
		if err != nil {
			t.Fatalf("%s: followed a line that is not an entry: %q", what, l)
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no line followed", what)
	}
	return Entry{}
}

func (fw *followed) noticed(t *testing.T, word string) {
	t.Helper()
	fw.mu.Lock()
	defer fw.mu.Unlock()
	for _, n := range fw.notices {
		if strings.Contains(n, word) {
			return
		}
	}
	t.Fatalf("no notice saying %q: %q", word, fw.notices)
}

func startFollow(t *testing.T, path string, poll time.Duration) *followed {
	fw := &followed{lines: make(chan string, 100)}
	var f *os.File
	var offset int64
	if ff, err := os.Open(path); err == nil {
		st, _ := ff.Stat()
		f, offset = ff, st.Size()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, path, f, offset, FollowOptions{Poll: poll, Notice: fw.notice}, func(line []byte) error {
			fw.lines <- string(line)
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Follow ended with %v, want context.Canceled", err)
		}
	})
	return fw
}

// TestFollow follows appends across rotation, truncation, removal and a partial write, with change
// notifications and, separately, with polling alone.
func TestFollow(t *testing.T) {
	for _, mode := range []struct {
		name string
		poll time.Duration
	}{{"notify", 0}, {"poll", 20 * time.Millisecond}} {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "audit.log")
			l, _ := Open(path, Options{})
			ctx := context.Background()
			if _, err := l.Append(ctx, sample(0)); err != nil {
				t.Fatal(err)
			}
			fw := startFollow(t, path, mode.poll)

			l.Append(ctx, sample(1))
			if e := fw.next(t, "append"); e.Seq != 2 {
				t.Fatalf("append: seq %d", e.Seq)
			}

			// A line written in two parts is passed on whole, once.
			c := &Chain{Seq: 2}
			c.Hash = mustHead(t, path).Hash
			line, _ := c.Next(nil, sample(2))
			appendRaw(t, path, line[:40])
			time.Sleep(3 * max(mode.poll, 20*time.Millisecond))
			appendRaw(t, path, line[40:])
			if e := fw.next(t, "split write"); e.Seq != 3 {
				t.Fatalf("split write: seq %d", e.Seq)
			}

			// Rotation: the old file is renamed and a new one started.
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			l.Append(ctx, sample(3))
			if e := fw.next(t, "rotation"); e.Seq != 1 {
				t.Fatalf("after rotation: seq %d", e.Seq)
			}
			fw.noticed(t, "replaced")

			l.Append(ctx, sample(4))
			l.Append(ctx, sample(5))
			fw.next(t, "before truncation")
			fw.next(t, "before truncation")
			// Truncation: the file is emptied in place.
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * max(mode.poll, 20*time.Millisecond))
			l.Append(ctx, sample(6))
			if e := fw.next(t, "truncation"); e.Seq != 1 {
				t.Fatalf("after truncation: seq %d", e.Seq)
			}
			fw.noticed(t, "truncated")

			// Removal: following waits for the file to come back.
			os.Remove(path)
			time.Sleep(3 * max(mode.poll, 20*time.Millisecond))
			l.Append(ctx, sample(7))
			if e := fw.next(t, "reappeared"); e.Seq != 1 {
				t.Fatalf("after removal: seq %d", e.Seq)
			}
			fw.noticed(t, "removed")

			// Truncated and written again past where reading was, between two looks: the file has
			// not shrunk, but what was read is gone, so reading restarts.
			rewritten, _ := buildLog(3)
			if err := os.WriteFile(path, rewritten, 0o600); err != nil {
				t.Fatal(err)
			}
			for want := uint64(1); want <= 3; want++ {
				if e := fw.next(t, "rewrite"); e.Seq != want {
					t.Fatalf("after rewrite: seq %d, want %d", e.Seq, want)
				}
			}
			fw.noticed(t, "truncated")
		})
	}
}

func TestFollowMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later", "audit.log")
	os.MkdirAll(filepath.Dir(path), 0o700)
	fw := startFollow(t, path, 20*time.Millisecond)
	l, _ := Open(path, Options{})
	l.Append(context.Background(), sample(0))
	if e := fw.next(t, "created"); e.Seq != 1 {
		t.Fatalf("seq %d", e.Seq)
	}
}

func mustHead(t *testing.T, path string) Head {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	h, _, err := LastEntry(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func appendRaw(t *testing.T, path string, b []byte) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestLast(t *testing.T) {
	b, es := buildLog(300)
	torn := append(bytes.Clone(b), `{"seq":301,"ti`...)
	for _, data := range [][]byte{b, torn} {
		r := bytes.NewReader(data)
		got, err := Last(r, int64(len(data)), 5, Select{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Records) != 5 || got.Records[0].Seq != 296 || got.Records[4].Seq != 300 || got.End != int64(len(b)) {
			t.Fatalf("last 5: %d records from %d, end %d", len(got.Records), got.Records[0].Seq, got.End)
		}
		if string(got.Records[4].Line)+"\n" != string(es[299].MarshalLine()) {
			t.Fatalf("line differs: %s", got.Records[4].Line)
		}
		// A filter reaches back across chunks.
		odd, _ := Last(r, int64(len(data)), 3, Select{Keep: func(e Entry) bool { return e.Seq%100 == 1 }})
		if len(odd.Records) != 3 || odd.Records[0].Seq != 1 || odd.Records[2].Seq != 201 {
			t.Fatalf("filtered: %+v", odd.Records)
		}
		all, _ := Last(r, int64(len(data)), -1, Select{})
		if len(all.Records) != 300 || all.Skipped != 0 {
			t.Fatalf("all: %d records, %d skipped", len(all.Records), all.Skipped)
		}
	}
	// Damage is skipped and counted.
	ls := lines(b)
	damaged := join(append(ls[:298:298], "garbage\n", ls[298], ls[299]))
	got, _ := Last(bytes.NewReader(damaged), int64(len(damaged)), 3, Select{})
	if len(got.Records) != 3 || got.Skipped != 1 || got.Records[0].Seq != 298 {
		t.Fatalf("damaged: %+v skipped %d", got.Records, got.Skipped)
	}
	none, _ := Last(bytes.NewReader(b), int64(len(b)), 0, Select{})
	stop, _ := Last(bytes.NewReader(b), int64(len(b)), -1, Select{Stop: func(e Entry) bool { return e.Seq <= 290 }})
	if len(stop.Records) != 10 || stop.Records[0].Seq != 291 {
		t.Fatalf("stop: %d records", len(stop.Records))
	}
	if len(none.Records) != 0 || none.End != int64(len(b)) {
		t.Fatalf("n=0: %+v", none)
	}
}

// TestLastRangeThenLines: Last finds where a range starts without keeping what it reads, and Lines
// reads exactly that range forwards, across chunk boundaries, skipping nothing that is an entry.
func TestLastRangeThenLines(t *testing.T) {
	b, _ := buildLog(3000) // several read chunks
	ls := lines(b)
	damaged := join(append(append(ls[:2500:2500], "garbage\n"), ls[2500:]...))
	for name, data := range map[string][]byte{"clean": b, "damaged": damaged, "torn": append(bytes.Clone(b), `{"seq":3001,"ti`...)} {
		r := bytes.NewReader(data)
		for _, from := range []uint64{1, 2, 1500, 2999, 3000, 3001} {
			rng, err := Last(r, int64(len(data)), -1, Select{Keep: func(Entry) bool { return false }, Stop: func(e Entry) bool { return e.Seq < from }})
			if err != nil {
				t.Fatal(err)
			}
			if len(rng.Records) != 0 {
				t.Fatalf("%s from %d: kept %d records", name, from, len(rng.Records))
			}
			var seqs []uint64
			skipped := 0
			err = Lines(r, rng.Start, rng.End, func(line []byte) error {
				e, err := ParseLine(line)
				if err != nil {
					skipped++
					return nil
				}
				seqs = append(seqs, e.Seq)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := int(3001 - from)
			if len(seqs) != want || want > 0 && (seqs[0] != from || seqs[len(seqs)-1] != 3000) {
				t.Fatalf("%s from %d: %d entries (want %d), first %v", name, from, len(seqs), want, seqs[:min(len(seqs), 1)])
			}
			wantSkipped := 0
			if name == "damaged" && from <= 2500 {
				wantSkipped = 1 // the garbage line sits after seq 2500
			}
			if skipped != wantSkipped {
				t.Fatalf("%s from %d: skipped %d, want %d", name, from, skipped, wantSkipped)
			}
		}
	}
	// n reached: the range starts at the oldest record kept.
	rng, _ := Last(bytes.NewReader(b), int64(len(b)), 7, Select{})
	var first []byte
	_ = Lines(bytes.NewReader(b), rng.Start, rng.End, func(line []byte) error {
		if first == nil {
			first = bytes.Clone(line)
		}
		return nil
	})
	if !bytes.Equal(first, rng.Records[0].Line) {
		t.Fatalf("range of the last 7 starts at %q", first)
	}
}

// TestFollowFailedAppendUndone: an append cut short and taken back out (a full disk) leaves a
// partial line that disappears again; following goes on with the next entry, without reading the
// log again from its start.
func TestFollowFailedAppendUndone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	valid, es := buildLog(3)
	os.WriteFile(path, valid, 0o600)
	fw := startFollow(t, path, 5*time.Millisecond)
	l, _ := Open(path, Options{})
	if e, err := l.Append(context.Background(), sample(3)); err != nil {
		t.Fatal(err)
	} else if got := fw.next(t, "first append"); got.Seq != e.Seq {
		t.Fatalf("followed seq %d, want %d", got.Seq, e.Seq)
	}
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"seq":9,"timestamp":"1999-12-31T`)
	st, _ := f.Stat()
	// Long enough for several looks at the file, so that the partial line is read and held back.
	time.Sleep(100 * time.Millisecond)
	f.Truncate(st.Size() - int64(len(`{"seq":9,"timestamp":"1999-12-31T`)))
	f.Close()
	e, err := l.Append(context.Background(), sample(4))
	if err != nil {
		t.Fatal(err)
	}
	if got := fw.next(t, "append after the undone one"); got.Seq != e.Seq {
		t.Fatalf("followed seq %d, want %d (%d entries before)", got.Seq, e.Seq, len(es))
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if len(fw.notices) > 0 {
		t.Fatalf("notices: %q", fw.notices)
	}
}
