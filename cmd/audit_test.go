package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
)

// klrbacBinary is a klrbac for the tests that start it as a process: this test binary, which
// TestMain's testscript.Main turns into klrbac when it is started under that name, so that no go
// build (a link of the whole program, seconds of CPU) comes first. Under the race detector, whose
// start-up cost in each of those processes would dominate, it is klrbac built without it instead,
// once for all the tests.
func klrbacBinary(t *testing.T) string {
	t.Helper()
	if !raceDetector {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		return exe
	}
	bin, err := builtKlrbac.get()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// builtKlrbac is klrbac built for klrbacBinary; TestMain removes it after the tests.
var builtKlrbac = &klrbacBuild{}

type klrbacBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func (b *klrbacBuild) get() (string, error) {
	b.once.Do(func() {
		root, err := filepath.Abs("..")
		if err != nil {
			b.err = err
			return
		}
		if b.dir, err = os.MkdirTemp("", "klrbac-test-"); err != nil {
			b.err = err
			return
		}
		b.bin = filepath.Join(b.dir, "klrbac")
		cmd := exec.Command("go", "build", "-o", b.bin, ".")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building klrbac: %v\n%s", err, out)
		}
	})
	return b.bin, b.err
}

func (b *klrbacBuild) remove() {
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

// klrbacCommand runs klrbac (exe, from klrbacBinary) as a process of its own, as people run it.
// Without the scripts' test variables in env the test binary has none of their stand-ins: it is
// klrbac as built.
func klrbacCommand(exe string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = "klrbac"
	cmd.Env = env
	return cmd
}

// auditEnv is a clean environment for klrbac processes writing to log.
func auditEnv(home, log string) []string {
	env := []string{"HOME=" + home, "XDG_STATE_HOME=" + home + "/state", "XDG_CONFIG_HOME=" + home + "/config",
		"USER=tester", "PATH=" + os.Getenv("PATH"), "KLRBAC_AUDIT_LOG=" + log,
		// Under -race the test binary otherwise sleeps a second as it exits.
		"GORACE=atexit_sleep_ms=0 " + os.Getenv("GORACE")}
	return env
}

// TestAuditConcurrentProcesses: klrbac processes appending through the command line at once leave
// every entry, numbered without gaps, on a valid chain. The log's own test runs 3,200 appends from
// 16 processes (internal/audit TestAppendConcurrentProcesses); this one proves the command's path
// to it, each run a process of its own, without spending minutes on process start-ups.
func TestAuditConcurrentProcesses(t *testing.T) {
	// Beside the scripts: most of its time is spent waiting for the log's lock and fsync.
	t.Parallel()
	// Eight writers of ten: with the log's lock taken by nobody (both of its paths made no-ops),
	// the second or third round of appends already collides, and 20 runs out of 20 failed; each
	// further round costs eight process start-ups and proves nothing more.
	const procs, each = 8, 10
	exe := klrbacBinary(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	env := auditEnv(dir, log)
	var wg sync.WaitGroup
	errs := make(chan error, procs)
	for w := range procs {
		wg.Go(func() {
			for i := range each {
				cmd := klrbacCommand(exe, env, "audit", "record", "--action", "test.append", "--resource", fmt.Sprintf("worker-%d", w), "--reason", fmt.Sprint(i))
				if out, err := cmd.CombinedOutput(); err != nil {
					errs <- fmt.Errorf("worker %d append %d: %v\n%s", w, i, err, out)
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
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := audit.Verify(f, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Entries != procs*each || rep.Lines != procs*each || rep.Head.Seq != procs*each || len(rep.Recovered) != 0 {
		t.Fatalf("after %d×%d appends: %d entries in %d lines, head %d, problems %v", procs, each, rep.Entries, rep.Lines, rep.Head.Seq, rep.Problems)
	}
	st, _ := f.Stat()
	all, err := audit.Last(f, st.Size(), -1, audit.Select{})
	if err != nil {
		t.Fatal(err)
	}
	perWorker := map[string]int{}
	for i, r := range all.Records {
		if r.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d", i+1, r.Seq)
		}
		perWorker[r.Resource]++
	}
	for w := range procs {
		if n := perWorker[fmt.Sprintf("worker-%d", w)]; n != each {
			t.Errorf("worker %d has %d entries, want %d", w, n, each)
		}
	}
}

// tailProcess is a running `klrbac audit tail -f`.
type tailProcess struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startTail(t *testing.T, exe string, env []string, args ...string) *tailProcess {
	t.Helper()
	cmd := klrbacCommand(exe, env, append([]string{"audit", "tail", "-f", "-o", "json"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	tp := &tailProcess{cmd: cmd, lines: make(chan string, 100), stderr: &lockedBuffer{}}
	cmd.Stderr = tp.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			tp.lines <- sc.Text()
		}
		close(tp.lines)
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return tp
}

func (tp *tailProcess) next(t *testing.T, what string) audit.Entry {
	t.Helper()
	select {
	case l, ok := <-tp.lines:
		if !ok {
			t.Fatalf("%s: tail -f ended; stderr: %s", what, tp.stderr)
		}
		e, err := audit.ParseLine([]byte(l))
		if err != nil {
			t.Fatalf("%s: printed a line that is not an entry: %q", what, l)
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing printed; stderr: %s", what, tp.stderr)
	}
	return audit.Entry{}
}

// TestAuditTailFollow runs `klrbac audit tail -f` across appends, rotation and truncation, with and
// without a filter, and stops it with Ctrl-C.
func TestAuditTailFollow(t *testing.T) {
	// Beside the scripts: it waits on the followers throughout.
	t.Parallel()
	exe := klrbacBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	l, err := audit.Open(path, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	add := func(action string) {
		t.Helper()
		if _, err := l.Append(ctx, audit.Entry{UserID: "alice", Action: action}); err != nil {
			t.Fatal(err)
		}
	}
	add("check")
	add("keys.validate")
	add("check")
	env := auditEnv(dir, path)
	// Each follower prints its last entries first, which shows it is running before anything is
	// appended.
	all := startTail(t, exe, env, "-n", "2")
	keys := startTail(t, exe, env, "-n", "1", "--action", "keys.*")
	if a, b := all.next(t, "last 2"), all.next(t, "last 2"); a.Seq != 2 || b.Seq != 3 {
		t.Fatalf("last 2: seq %d, %d", a.Seq, b.Seq)
	}
	if e := keys.next(t, "last filtered"); e.Seq != 2 {
		t.Fatalf("last filtered: seq %d", e.Seq)
	}
	add("keys.set")
	if e := all.next(t, "append"); e.Seq != 4 {
		t.Fatalf("append: seq %d", e.Seq)
	}
	if e := keys.next(t, "filtered append"); e.Action != "keys.set" {
		t.Fatalf("filtered: %+v", e)
	}

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	add("check")
	if e := all.next(t, "after rotation"); e.Seq != 1 {
		t.Fatalf("after rotation: seq %d", e.Seq)
	}
	add("keys.rm")
	all.next(t, "before truncation")
	if e := keys.next(t, "filtered after rotation"); e.Action != "keys.rm" {
		t.Fatalf("filtered after rotation: %+v", e)
	}
	// Truncated and written again at once: one entry is shorter than the two read, so the follower
	// sees the file shrink whether or not it looked while it was empty.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	add("check")
	if e := all.next(t, "after truncation"); e.Seq != 1 {
		t.Fatalf("after truncation: seq %d", e.Seq)
	}

	// Ctrl-C ends following with exit status 130 and no error message.
	all.cmd.Process.Signal(syscall.SIGINT)
	err = all.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("after Ctrl-C: %v, want exit status 130", err)
	}
	// Only now is all of stderr read: its pipe is copied apart from stdout's, so a notice can still
	// be on its way when the line after it has arrived.
	for _, want := range []string{"was replaced (rotated?)", "was truncated"} {
		if !strings.Contains(all.stderr.String(), want) {
			t.Errorf("stderr does not say %q: %s", want, all.stderr)
		}
	}
	if s := all.stderr.String(); strings.Contains(s, "interrupted") {
		t.Errorf("Ctrl-C printed an error: %s", s)
	}
}
