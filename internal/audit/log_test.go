package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/klrbac/klrbac/internal/fault"
)

// TestMain doubles as a writer process for the crash tests: with KLRBAC_TEST_CRASH_WRITER set it
// appends to that log and, in the middle of its last write, says so and waits to be killed.
func TestMain(m *testing.M) {
	if path := os.Getenv("KLRBAC_TEST_CRASH_WRITER"); path != "" {
		crashWriter(path)
		return
	}
	if path := os.Getenv("KLRBAC_TEST_APPEND_WRITER"); path != "" {
		appendWriter(path)
		return
	}
	if path := os.Getenv("KLRBAC_TEST_FSIZE_WRITER"); path != "" {
		fsizeWriter(path, os.Getenv("KLRBAC_TEST_FSIZE_OP"))
		return
	}
	os.Exit(m.Run())
}

func crashWriter(path string) {
	n, _ := strconv.Atoi(os.Getenv("KLRBAC_TEST_CRASH_ENTRIES"))
	l, err := Open(path, Options{Actor: "crash-test"})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	for i := range n {
		if _, err := l.Append(context.Background(), sample(i)); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
	}
	testHookMidWrite = func() {
		fmt.Println("paused")
		time.Sleep(time.Minute)
	}
	_, _ = l.Append(context.Background(), sample(n))
	os.Exit(3)
}

// appendWriter is one of many processes appending to the log at path at once: it appends
// KLRBAC_TEST_APPEND_ENTRIES entries as writer KLRBAC_TEST_APPEND_ID (UserID wN, Resource i), each
// append taking the lock anew as a separate klrbac run would.
func appendWriter(path string) {
	n, _ := strconv.Atoi(os.Getenv("KLRBAC_TEST_APPEND_ENTRIES"))
	id := os.Getenv("KLRBAC_TEST_APPEND_ID")
	l, err := Open(path, Options{LockTimeout: time.Minute})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	for i := range n {
		if _, err := l.Append(context.Background(), Entry{UserID: "w" + id, Action: "check", Resource: fmt.Sprint(i)}); err != nil {
			fmt.Printf("append %d: %v\n", i, err)
			os.Exit(1)
		}
	}
}

// fsizeWriter runs op (append or ready) on the log at path with the file-size limit (RLIMIT_FSIZE)
// a few bytes past the log's end, as a nearly full disk would, and prints what came of it.
func fsizeWriter(path, op string) {
	st, err := os.Stat(path)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	limit := uint64(st.Size()) + 100
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	l, _ := Open(path, Options{})
	switch op {
	case "append":
		_, err = l.Append(context.Background(), sample(99))
	case "ready":
		err = l.Ready(context.Background())
	}
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println("done")
}

// underFileSizeLimit runs op on the log at path in a process whose file-size limit leaves room for
// less than one entry, and returns what it printed.
func underFileSizeLimit(t *testing.T, path, op string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KLRBAC_TEST_FSIZE_WRITER="+path, "KLRBAC_TEST_FSIZE_OP="+op)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s under a file-size limit: %v: %s", op, err, out)
	}
	return string(out)
}

func verifyFile(t *testing.T, path string, opts VerifyOptions) *Report {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := Verify(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestAppend(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "klrbac")
	path := filepath.Join(dir, "audit.log")
	now := t0
	l, err := Open(path, Options{Now: func() time.Time { now = now.Add(1500 * time.Microsecond); return now }, Host: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := l.Append(context.Background(), Entry{UserID: "alice", Action: "config.init", Resource: "/tmp/x.yaml", Success: true})
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 1 || e.Prev != Genesis || e.Host != "h1" || e.Timestamp != t0.Add(1*time.Millisecond) {
		t.Fatalf("first entry: %+v", e)
	}
	es, err := l.AppendAll(context.Background(), []Entry{{Action: "check"}, {Action: "check", Host: "other"}})
	if err != nil {
		t.Fatal(err)
	}
	if es[0].Seq != 2 || es[1].Seq != 3 || es[0].Prev != e.Hash || es[1].Prev != es[0].Hash || es[1].Host != "other" {
		t.Fatalf("batch: %+v", es)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode(), want)
		}
	}
	data, _ := os.ReadFile(path)
	if !bytes.Equal(data, append(append(e.MarshalLine(), es[0].MarshalLine()...), es[1].MarshalLine()...)) {
		t.Fatalf("file holds:\n%s", data)
	}
	if rep := verifyFile(t, path, VerifyOptions{}); !rep.OK() || rep.Entries != 3 {
		t.Fatalf("verify: %+v", rep)
	}
}

// TestAppendConcurrent: writers that each open the log themselves (as separate processes do) never
// interleave, lose or duplicate entries.
func TestAppendConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	const writers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			l, _ := Open(path, Options{})
			for i := range each {
				if _, err := l.Append(context.Background(), Entry{UserID: fmt.Sprint("w", w), Action: "check", Resource: fmt.Sprint(i)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep := verifyFile(t, path, VerifyOptions{})
	if !rep.OK() || rep.Entries != writers*each || rep.Head.Seq != writers*each {
		t.Fatalf("after concurrent appends: %+v", rep)
	}
}

// TestAppendConcurrentProcesses: 16 processes appending 200 entries each, all at once, leave exactly
// 3,200 entries numbered 1 to 3,200 without gaps on a valid chain, each writer's in its order: the
// lock holds across processes, not only across goroutines.
func TestAppendConcurrentProcesses(t *testing.T) {
	const procs, each = 16, 200
	path := filepath.Join(t.TempDir(), "audit.log")
	var wg sync.WaitGroup
	errs := make(chan error, procs)
	for w := range procs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "KLRBAC_TEST_APPEND_WRITER="+path, "KLRBAC_TEST_APPEND_ID="+fmt.Sprint(w),
				"KLRBAC_TEST_APPEND_ENTRIES="+fmt.Sprint(each))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("writer %d: %v: %s", w, err, out)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep := verifyFile(t, path, VerifyOptions{})
	if !rep.OK() || rep.Entries != procs*each || rep.Lines != procs*each || rep.Head.Seq != procs*each || len(rep.Recovered) != 0 {
		t.Fatalf("after %d×%d appends: %d entries in %d lines, head %d, problems %v", procs, each, rep.Entries, rep.Lines, rep.Head.Seq, rep.Problems)
	}
	assertEveryAppendOnce(t, path, procs, each)
}

// TestAppendConcurrentLockFileDeleted: deleting what a writer locks, while writers run (a tmp
// cleaner, `rm audit.log.lock`), must not let two writers in at once: no seq twice, no append
// refused, one unbroken chain.
func TestAppendConcurrentLockFileDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	const writers, each = 8, 100
	stop := make(chan struct{})
	var cleaner sync.WaitGroup
	cleaner.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			matches, _ := filepath.Glob(path + ".*")
			for _, m := range matches {
				os.Remove(m)
			}
			time.Sleep(50 * time.Microsecond)
		}
	})
	appendConcurrently(t, path, writers, each, func() { close(stop); cleaner.Wait() })
	rep := verifyFile(t, path, VerifyOptions{})
	if !rep.OK() || rep.Entries != writers*each || rep.Head.Seq != writers*each {
		t.Fatalf("with the lock file deleted under the writers: %d entries, head %d, problems %+v", rep.Entries, rep.Head.Seq, rep.Problems)
	}
	assertEveryAppendOnce(t, path, writers, each)
}

// appendConcurrently runs writers goroutines that each open the log themselves and append each
// entries (UserID wN, Resource i), then calls done, and fails on any refused append.
func appendConcurrently(t *testing.T, path string, writers, each int, done func()) {
	t.Helper()
	appendConcurrentlyThrough(t, func() *Log {
		l, _ := Open(path, Options{LockTimeout: time.Minute})
		return l
	}, writers, each, done)
}

// appendConcurrentlyThrough is appendConcurrently with each writer's Log from open.
func appendConcurrentlyThrough(t *testing.T, open func() *Log, writers, each int, done func()) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			l := open()
			for i := range each {
				if _, err := l.Append(context.Background(), Entry{UserID: fmt.Sprint("w", w), Action: "check", Resource: fmt.Sprint(i)}); err != nil {
					errs <- fmt.Errorf("writer %d, append %d: %w", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if done != nil {
		done()
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// assertEveryAppendOnce checks that the log holds each writer's each appends exactly once, in the
// order that writer made them.
func assertEveryAppendOnce(t *testing.T, path string, writers, each int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	next := make(map[string]int)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		e, err := ParseLine(sc.Bytes())
		if err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if e.Resource != fmt.Sprint(next[e.UserID]) {
			t.Fatalf("writer %s: append %s where %d was due", e.UserID, e.Resource, next[e.UserID])
		}
		next[e.UserID]++
	}
	for w := range writers {
		if got := next[fmt.Sprint("w", w)]; got != each {
			t.Fatalf("writer %d: %d appends in the log, want %d", w, got, each)
		}
	}
}

// TestAppendShortWrite: an append cut short by a full disk (here a file-size limit) fails, and
// leaves the log byte for byte as it was: no torn line for the next append to recover.
func TestAppendShortWrite(t *testing.T) {
	for _, torn := range []bool{false, true} {
		t.Run(fmt.Sprint("torn=", torn), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			valid, _ := buildLog(5)
			if torn {
				valid = append(valid, `{"seq":6,"tim`...)
			}
			os.WriteFile(path, valid, 0o600)
			out := underFileSizeLimit(t, path, "append")
			if !strings.HasPrefix(out, "refused: cannot write audit log") {
				t.Fatalf("append past the file-size limit: %s", out)
			}
			if data, _ := os.ReadFile(path); !bytes.Equal(data, valid) {
				t.Fatalf("a failed append changed the log:\n%s", data[len(valid)-min(len(valid), 40):])
			}
		})
	}
}

// TestReadyFindsNoSpace: Ready fails when the next entry would not fit (a full disk, a file-size
// limit), so that a command fails before it spends the user's time, and leaves the log as it was.
func TestReadyFindsNoSpace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	valid, _ := buildLog(3)
	os.WriteFile(path, valid, 0o600)
	out := underFileSizeLimit(t, path, "ready")
	if !strings.HasPrefix(out, "refused: cannot write audit log") {
		t.Fatalf("Ready with no room for an entry: %s", out)
	}
	if data, _ := os.ReadFile(path); !bytes.Equal(data, valid) {
		t.Fatalf("Ready changed the log")
	}
	// With room, Ready leaves the log as it was too.
	l, _ := Open(path, Options{})
	if err := l.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); !bytes.Equal(data, valid) {
		t.Fatalf("Ready changed the log")
	}
}

func TestAppendRecoversTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	var seen []Entry
	l, _ := Open(path, Options{Actor: "bob", OnRecover: func(e Entry) { seen = append(seen, e) }})
	for i := range 3 {
		if _, err := l.Append(context.Background(), sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"seq":4,"timestamp":"2026-05-01T`)
	f.Close()
	if rep := verifyFile(t, path, VerifyOptions{}); rep.OK() || rep.Problems[0].Kind != KindTorn || rep.Problems[0].Line != 4 {
		t.Fatalf("torn line not reported: %+v", rep.Problems)
	}
	e, err := l.Append(context.Background(), sample(7))
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 5 || len(seen) != 1 || seen[0].Seq != 4 || seen[0].Action != ActionRecovered || seen[0].UserID != "bob" {
		t.Fatalf("recovery: entry %+v, recovered %+v", e, seen)
	}
	rep := verifyFile(t, path, VerifyOptions{})
	if !rep.OK() || len(rep.Recovered) != 1 || rep.Recovered[0].Line != 4 || rep.Entries != 5 {
		t.Fatalf("after recovery: %+v", rep)
	}

	// Taking the torn bytes out afterwards leaves a recovery record with nothing to account for.
	data, _ := os.ReadFile(path)
	ls := strings.SplitAfter(string(data), "\n")
	if err := os.WriteFile(path, []byte(strings.Join(append(ls[:3:3], ls[4:]...), "")), 0o600); err != nil {
		t.Fatal(err)
	}
	rep = verifyFile(t, path, VerifyOptions{})
	if rep.OK() || len(rep.Problems) != 1 || rep.Problems[0].Kind != KindEdited || rep.Problems[0].Line != 4 ||
		!strings.Contains(rep.Problems[0].Message, "no longer before it") {
		t.Fatalf("torn bytes removed after their recovery: %+v", rep.Problems)
	}
}

func TestAppendRefusesForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(path, []byte("shopping list\nmilk\n"), 0o600)
	l, _ := Open(path, Options{})
	_, err := l.Append(context.Background(), sample(1))
	if err == nil || fault.KindOf(err) != fault.Unavailable {
		t.Fatalf("appended to a foreign file: %v", err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != "shopping list\nmilk\n" {
		t.Fatalf("foreign file changed: %q", data)
	}
	// A torn very first write is ours, though.
	os.WriteFile(path, []byte(`{"seq":1,"times`), 0o600)
	if _, err := l.Append(context.Background(), sample(1)); err != nil {
		t.Fatal(err)
	}
	if rep := verifyFile(t, path, VerifyOptions{}); !rep.OK() || len(rep.Recovered) != 1 {
		t.Fatalf("torn first write: %+v", rep)
	}
}

func TestAppendLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	holder := flock.New(path)
	if err := holder.Lock(); err != nil {
		t.Fatal(err)
	}
	l, _ := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	_, err := l.Append(context.Background(), sample(1))
	if err == nil || fault.KindOf(err) != fault.Unavailable {
		t.Fatalf("append under a held lock: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, sample(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled append: %v", err)
	}
	holder.Unlock()
	if _, err := l.Append(context.Background(), sample(1)); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestAppendUnwritable(t *testing.T) {
	// A file where the directory should be: a failure even root cannot write through.
	blocker := filepath.Join(t.TempDir(), "state")
	os.WriteFile(blocker, nil, 0o600)
	l, _ := Open(filepath.Join(blocker, "klrbac", "audit.log"), Options{})
	_, err := l.Append(context.Background(), sample(1))
	if fault.KindOf(err) != fault.Unavailable || len(fault.Hints(err)) == 0 {
		t.Fatalf("unwritable directory: %v", err)
	}
}

// TestCrashMidWrite kills a writer (SIGKILL) in the middle of a write, 50 times, with other
// appends in between: the log stays verifiable apart from the torn lines, which are each reported
// as recovered, and appending continues.
func TestCrashMidWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	const rounds = 50
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "KLRBAC_TEST_CRASH_WRITER="+path, "KLRBAC_TEST_CRASH_ENTRIES="+strconv.Itoa(round%3))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if line != "paused\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: writer said %q (%v)", round, line, err)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		rep := verifyFile(t, path, VerifyOptions{})
		if rep.OK() || rep.Problems[0].Kind != KindTorn {
			t.Fatalf("round %d: torn write not reported: %+v", round, rep.Problems)
		}
		// The killed writer's lock died with it; an ordinary append recovers.
		l, _ := Open(path, Options{LockTimeout: 5 * time.Second})
		if _, err := l.Append(context.Background(), sample(100+round)); err != nil {
			t.Fatalf("round %d: append after crash: %v", round, err)
		}
	}
	rep := verifyFile(t, path, VerifyOptions{})
	if !rep.OK() {
		t.Fatalf("after %d crashes: %+v", rounds, rep.Problems)
	}
	if len(rep.Recovered) != rounds {
		t.Fatalf("recovered %d torn writes, want %d: %+v", len(rep.Recovered), rounds, rep.Recovered)
	}
	// Entries: each round's completed appends, its recovery record and the append after it.
	want := int64(0)
	for round := range rounds {
		want += int64(round%3) + 2
	}
	if rep.Entries != want || rep.Head.Seq != uint64(want) {
		t.Fatalf("entries %d head %d, want %d", rep.Entries, rep.Head.Seq, want)
	}
}

// TestAppendRefusesDamagedEnd: only a final line without a newline is a crashed write to recover
// from. A complete line at the end that is, or looks like, something else (an edited entry, lines
// moved, text added) stops the append: recording a recovery over it would hide tampering behind a
// duplicate seq.
func TestAppendRefusesDamagedEnd(t *testing.T) {
	valid, _ := buildLog(4)
	ls := lines(valid)
	cases := []struct {
		name, log, reason string
	}{
		{"edited last entry", string(join(ls[:3])) + strings.Replace(ls[3], `"success":false`, `"success":true`, 1),
			"its last entry (seq 4) does not match its hash"},
		{"edited entry before the last", string(join(ls[:2])) + strings.Replace(ls[2], `"success":true`, `"success":false`, 1) + ls[3],
			"the entry before its last (seq 3) does not match its hash"},
		{"last two swapped", string(join(ls[:2])) + ls[3] + ls[2],
			"its last entry (seq 3) does not follow the entry before it (seq 4)"},
		{"entry deleted before the last", string(join(ls[:2])) + ls[3],
			"its last entry (seq 4) does not follow the entry before it (seq 2)"},
		{"first entries deleted", ls[3], "its only entry (seq 4) does not start a chain"},
		{"text added", string(valid) + "hello\n", "its last line is not an audit entry"},
		{"cut-off line terminated", string(valid) + `{"seq":5,"timest` + "\n", "its last line is not an audit entry"},
		{"lines added", string(valid) + "hello\nworld\n", "its last 2 lines are not audit entries"},
		{"text added without a newline", string(valid) + "hello", "its last line is neither an audit entry nor an interrupted write of one"},
		{"edited entry then torn", string(join(ls[:3])) + strings.Replace(ls[3], `"success":false`, `"success":true`, 1) + `{"seq":5,"tim`,
			"its last entry (seq 4) does not match its hash"},
		{"text then torn", string(valid) + "hello\n" + `{"seq":5,"tim`, "its last 2 lines are neither audit entries nor interrupted writes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			os.WriteFile(path, []byte(c.log), 0o600)
			recovered := false
			l, _ := Open(path, Options{OnRecover: func(Entry) { recovered = true }})
			_, err := l.Append(context.Background(), sample(9))
			if err == nil || recovered {
				t.Fatalf("appended (recovered: %v)", recovered)
			}
			var de *DamagedError
			if fault.KindOf(err) != fault.Unavailable || !errors.As(err, &de) || de.Path != path {
				t.Fatalf("not a damaged-log error: %v", err)
			}
			if !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("error %q does not say %q", err, c.reason)
			}
			if hints := strings.Join(fault.Hints(err), "\n"); !strings.Contains(hints, "klrbac audit verify") {
				t.Fatalf("hints do not point to verify: %q", hints)
			}
			if data, _ := os.ReadFile(path); string(data) != c.log {
				t.Fatalf("log changed:\n%s", data)
			}
			if _, _, err := LastEntry(strings.NewReader(c.log), int64(len(c.log))); !errors.As(err, &de) {
				t.Fatalf("LastEntry: %v", err)
			}
		})
	}
}

// TestAppendRecoversInterruptedRecovery: a writer killed while recording a recovery leaves the
// terminated first torn line and a new torn line; both are interrupted writes of entries, recovered
// together.
func TestAppendRecoversInterruptedRecovery(t *testing.T) {
	valid, _ := buildLog(3)
	log := string(valid) + `{"seq":4,"timestamp":"2026` + "\n" + `{"seq":4,"timestamp":"2026-05-01T10:00:0`
	path := filepath.Join(t.TempDir(), "audit.log")
	os.WriteFile(path, []byte(log), 0o600)
	var seen []Entry
	l, _ := Open(path, Options{OnRecover: func(e Entry) { seen = append(seen, e) }})
	if _, err := l.Append(context.Background(), sample(9)); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0].Seq != 4 || !strings.Contains(seen[0].Reason, "2 writes were interrupted") {
		t.Fatalf("recovery: %+v", seen)
	}
	rep := verifyFile(t, path, VerifyOptions{})
	if !rep.OK() || len(rep.Recovered) != 1 || rep.Recovered[0].Lines != 2 || rep.Head.Seq != 5 {
		t.Fatalf("after recovery: %+v", rep)
	}
}

func TestReady(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l, err := Open(filepath.Join(dir, "sub", "audit.log"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Ready(ctx); err != nil {
		t.Fatalf("a new log in a new directory: %v", err)
	}
	if _, err := l.Append(ctx, Entry{Action: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Ready(ctx); err != nil {
		t.Fatalf("a good log: %v", err)
	}
	data, _ := os.ReadFile(l.Path())
	edited := strings.Replace(string(data), `"action":"x"`, `"action":"y"`, 1)
	if err := os.WriteFile(l.Path(), []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	var damaged *DamagedError
	if err := l.Ready(ctx); !errors.As(err, &damaged) {
		t.Fatalf("an edited log: %v, want a DamagedError", err)
	}
	d, _ := Open(dir, Options{})
	if err := d.Ready(ctx); err == nil || fault.KindOf(err) != fault.Unavailable {
		t.Fatalf("a directory: %v", err)
	}
}

// A Log keeps the file open between its appends (a proxy appends many times a second), and must
// still append exactly where a fresh open would: after other writers' entries, to the file now at
// the path once the log was rotated, and only under the lock.
func TestHeldFileFollowsTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, _ := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	other, _ := Open(path, Options{})
	ctx := context.Background()
	for i, w := range []*Log{l, l, other, l} {
		e, err := w.Append(ctx, sample(i))
		if err != nil || e.Seq != uint64(i+1) {
			t.Fatalf("append %d: seq %d, %v", i, e.Seq, err)
		}
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if e, err := l.Append(ctx, sample(9)); err != nil || e.Seq != 1 {
		t.Fatalf("after rotation: seq %d, %v; want the first entry of a new log", e.Seq, err)
	}
	if rep := verifyFile(t, path+".1", VerifyOptions{}); !rep.OK() || rep.Entries != 4 {
		t.Fatalf("the rotated log was written to: %+v", rep)
	}
	holder := flock.New(path)
	if err := holder.Lock(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, sample(10)); fault.KindOf(err) != fault.Unavailable {
		t.Fatalf("append while another process holds the lock: %v", err)
	}
	holder.Unlock()
	if e, err := l.Append(ctx, sample(11)); err != nil || e.Seq != 2 {
		t.Fatalf("after the lock was let go: seq %d, %v", e.Seq, err)
	}
	if rep := verifyFile(t, path, VerifyOptions{}); !rep.OK() || rep.Entries != 2 {
		t.Fatalf("the new log: %+v", rep)
	}
}

// Appends through one Log from many goroutines at once: one uses the held file, the others open
// their own, and the file lock still lets one in at a time.
func TestAppendConcurrentThroughOneLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, _ := Open(path, Options{LockTimeout: time.Minute})
	const writers, each = 8, 50
	appendConcurrentlyThrough(t, func() *Log { return l }, writers, each, nil)
	rep := verifyFile(t, path, VerifyOptions{})
	if !rep.OK() || rep.Entries != writers*each {
		t.Fatalf("after concurrent appends through one Log: %d entries, problems %+v", rep.Entries, rep.Problems)
	}
	assertEveryAppendOnce(t, path, writers, each)
}
