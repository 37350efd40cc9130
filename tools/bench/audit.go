package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
)

func init() {
	if os.Getenv(rusageChildEnv) != "" {
		rusageChild()
	}
	register(benchmark{
		name: "audit-tail",
		what: "`klrbac audit tail -n 100` on a 1 GiB log vs `klrbac version` and vs GNU `tail -n 100` on the same file, and vs a 1 MiB log: time and peak RSS",
		run:  runAuditTailBench,
	})
	register(benchmark{
		name: "audit-verify",
		what: "`klrbac audit verify` throughput on a 1 GiB log vs `sha256sum` on the same file",
		run:  runAuditVerifyBench,
	})
	register(benchmark{
		name: "audit-append",
		what: "appends per second with 8 concurrent processes (`klrbac audit record`), and through the Go API",
		run:  runAuditAppendBench,
	})
	register(benchmark{
		name: "audit-check",
		what: "whole-process time of `klrbac check` with its decision audited (audit.checks all) vs not (none)",
		run:  runAuditCheckBench,
	})
	register(benchmark{
		name: "audit-follow",
		what: "latency from an append to the line printed by `klrbac audit tail -f`, vs GNU `tail -F`",
		run:  runAuditFollowBench,
	})
}

var bigLogPath string

// bigLog writes a valid 1 GiB audit log into the bench directory, once per run; it goes with the
// directory when the run ends (audit-verify, the last to use it, removes it sooner).
func bigLog(env *benchEnv) (string, error) {
	if bigLogPath != "" {
		return bigLogPath, nil
	}
	path := filepath.Join(env.dir, "audit-1gib.log")
	start := time.Now()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 4<<20)
	kinds := []audit.Entry{
		{UserID: "alice@example.com", Role: "viewer", Action: "check", Resource: "canDeleteProfiles", Reason: "role viewer does not hold canDeleteProfiles", Alert: "denied-profile-deletion"},
		{UserID: "github:deploy-bot", Role: "service", Action: "check", Resource: "POST /api/events", Success: true, Reason: "role service has events:write"},
		{UserID: "bob", Role: "admin", Action: "keys.set", Resource: "marketer", Success: true, Fingerprint: "sha256:0123456789abcdef", Reason: "stored in the keyring"},
		{UserID: "github:ci", Role: "developer", Action: "keys.validate", Resource: "developer", Success: true, KlaviyoEndpoint: "GET /api/accounts", Reason: "the key holds exactly the role's scopes"},
	}
	c := audit.NewChain()
	buf := make([]byte, 0, 1024)
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var size int64
	for i := 0; size < 1<<30; i++ {
		e := kinds[i%len(kinds)]
		e.Timestamp, e.Host = ts.Add(time.Duration(i)*time.Second), "ws-1"
		buf, _ = c.Next(buf[:0], e)
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return "", err
		}
		size += int64(len(buf))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	fmt.Printf("   generated %s: %.2f GiB, %d entries, in %.1fs\n", filepath.Base(path), float64(size)/(1<<30), c.Seq, time.Since(start).Seconds())
	bigLogPath = path
	return path, nil
}

// runMeasured runs a process once and returns its wall time.
func runMeasured(argv []string, extraEnv []string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), extraEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%v: %v: %s", argv, err, stderr.String())
	}
	return d, nil
}

// rusageChildEnv makes this program a fresh, small parent that runs one command and prints its peak
// RSS. Measuring from the benchmark itself would not do: Go starts children with CLONE_VM, so the
// kernel counts the parent's own high-water RSS as the child's.
const rusageChildEnv = "KLRBAC_BENCH_RUSAGE_CHILD"

func rusageChild() {
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(maxRSSKiB(cmd.ProcessState))
	os.Exit(0)
}

// peakRSS runs argv through a fresh parent and returns its peak RSS in MiB: exact for programs larger
// than that parent (a few MiB), an upper bound for smaller ones.
func peakRSS(argv []string) (float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(self, argv...)
	cmd.Env = append(os.Environ(), rusageChildEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("measuring %v: %v", argv, err)
	}
	var kib float64
	if _, err := fmt.Sscan(string(out), &kib); err != nil {
		return 0, err
	}
	return kib / 1024, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func runAuditTailBench(env *benchEnv) error {
	big, err := bigLog(env)
	if err != nil {
		return err
	}
	// A 1 MiB log (its last MiB) shows that the size of the log does not matter.
	small := filepath.Join(env.dir, "audit-1mib.log")
	if err := copyTail(big, small, 1<<20); err != nil {
		return err
	}
	progs := []program{
		{"GNU tail -n 100 (1 GiB)", []string{"tail", "-n", "100", big}, nil},
		{"klrbac audit tail -n 100 (1 GiB)", []string{env.klrbac, "audit", "tail", "-n", "100", big}, nil},
		{"klrbac audit tail -n 100 (1 MiB)", []string{env.klrbac, "audit", "tail", "-n", "100", small}, nil},
		{"klrbac version (start-up floor)", []string{env.klrbac, "version"}, nil},
	}
	times := map[string][]float64{}
	rss := map[string]float64{}
	for i := range env.samples + 3 {
		for _, p := range progs {
			d, err := runMeasured(p.argv, p.env)
			if err != nil {
				return err
			}
			if i < 3 {
				continue // warm-up
			}
			times[p.label] = append(times[p.label], ms(d))
		}
	}
	for range 3 {
		for _, p := range progs {
			r, err := peakRSS(p.argv)
			if err != nil {
				return err
			}
			rss[p.label] = max(rss[p.label], r)
		}
	}
	for _, p := range progs {
		fmt.Printf("   %-34s median %7.3f ms   peak RSS %6.1f MiB\n", p.label, median(times[p.label]), rss[p.label])
	}
	k, g := median(times[progs[1].label]), median(times[progs[0].label])
	ratio := k / g
	peak := rss[progs[1].label]
	fmt.Printf("   ratio to GNU tail (medians):       %.2fx  (target <= 2: %s)\n", ratio, verdict(ratio <= 2))
	fmt.Printf("   peak RSS of klrbac audit tail:     %.1f MiB  (target <= 32 MiB: %s)\n", peak, verdict(peak <= 32))
	fmt.Printf("   (GNU tail's RSS is an upper bound: that of the small parent measuring it)\n")
	version := median(times[progs[3].label])
	rv := k / version
	fmt.Printf("   ratio to klrbac version:           %.2fx  (target <= 1.10x: %s)\n", rv, verdict(rv <= 1.10))
	fmt.Printf("   1 GiB / 1 MiB:                     %.2fx  (the tail's work does not grow with the log)\n", k/median(times[progs[2].label]))
	fmt.Printf("   beyond klrbac's start-up floor:    %.3f ms for 1 GiB, %.3f ms for 1 MiB\n",
		k-version, median(times[progs[2].label])-version)
	return nil
}

func copyTail(src, dst string, n int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	off := max(0, st.Size()-n)
	buf := make([]byte, st.Size()-off)
	if _, err := in.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if i := bytes.IndexByte(buf, '\n'); i >= 0 && off > 0 {
		buf = buf[i+1:] // start on a line; tail does not care that the chain starts mid-way
	}
	return os.WriteFile(dst, buf, 0o600)
}

func runAuditVerifyBench(env *benchEnv) error {
	big, err := bigLog(env)
	if err != nil {
		return err
	}
	defer func() { os.Remove(big); bigLogPath = "" }()
	st, err := os.Stat(big)
	if err != nil {
		return err
	}
	samples := min(env.samples, 3)
	progs := []program{
		{"sha256sum", []string{"sha256sum", big}, nil},
		{"klrbac audit verify", []string{env.klrbac, "audit", "verify", big}, nil},
	}
	times := map[string][]float64{}
	for i := range samples + 1 {
		for _, p := range progs {
			d, err := runMeasured(p.argv, p.env)
			if err != nil {
				return err
			}
			if i > 0 { // the first round warms the page cache
				times[p.label] = append(times[p.label], ms(d))
			}
		}
	}
	mib := float64(st.Size()) / (1 << 20)
	for _, p := range progs {
		m := median(times[p.label])
		fmt.Printf("   %-22s median %8.1f ms   %7.1f MiB/s\n", p.label, m, mib/(m/1000))
	}
	ratio := median(times["sha256sum"]) / median(times["klrbac audit verify"])
	fmt.Printf("   verify throughput / sha256sum throughput: %.2fx  (target >= 0.5: %s)\n", ratio, verdict(ratio >= 0.5))
	return nil
}

func runAuditAppendBench(env *benchEnv) error {
	const procs, each = 8, 40
	log := filepath.Join(env.dir, "append-bench.log")
	defer os.Remove(log)
	defer os.Remove(log + ".lock")
	spawn := func(argv []string, n int) (time.Duration, error) {
		return runProcesses(n, each, argv, "KLRBAC_AUDIT_LOG="+log)
	}
	record := []string{env.klrbac, "audit", "record", "--action", "bench.append"}
	version := []string{env.klrbac, "version"}
	var rec8, ver8, rec1 []float64
	for range max(3, env.samples/5) {
		d, err := spawn(record, procs)
		if err != nil {
			return err
		}
		rec8 = append(rec8, float64(procs*each)/d.Seconds())
		d, err = spawn(version, procs)
		if err != nil {
			return err
		}
		ver8 = append(ver8, float64(procs*each)/d.Seconds())
		d, err = spawn(record, 1)
		if err != nil {
			return err
		}
		rec1 = append(rec1, float64(each)/d.Seconds())
	}
	api, err := apiAppends(log, procs, 200)
	if err != nil {
		return err
	}
	fmt.Printf("   8 processes, klrbac audit record:   median %7.0f appends/s\n", median(rec8))
	fmt.Printf("   8 processes, klrbac version:        median %7.0f runs/s (process cost alone)\n", median(ver8))
	fmt.Printf("   1 process,   klrbac audit record:   median %7.0f appends/s\n", median(rec1))
	fmt.Printf("   8 goroutines, Go API (lock, read tail, write, fsync): %.0f appends/s\n", api)
	fmt.Printf("   8-process appends / 8-process bare runs: %.2fx (the share of process time the append leaves)\n", median(rec8)/median(ver8))
	f, err := os.Open(log)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := audit.Verify(f, audit.VerifyOptions{})
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("the appended log does not verify: %v", rep.Problems[0].Message)
	}
	fmt.Printf("   the log verifies: %d entries, head seq %d\n", rep.Entries, rep.Head.Seq)
	return nil
}

// apiAppends measures appends through the Go API: goroutines each with their own Log, so that each
// append takes the file lock as a separate process would.
func apiAppends(path string, workers, each int) (float64, error) {
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			l, err := audit.Open(path, audit.Options{})
			if err != nil {
				errs <- err
				return
			}
			for range each {
				if _, err := l.Append(context.Background(), audit.Entry{UserID: "bench", Action: "bench.api"}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(workers*each) / time.Since(start).Seconds(), nil
}

func runAuditCheckBench(env *benchEnv) error {
	log := filepath.Join(env.dir, "check-bench.log")
	defer os.Remove(log)
	defer os.Remove(log + ".lock")
	base := []string{"KLRBAC_AUDIT_LOG=" + log}
	argv := []string{env.klrbac, "check", "admin", "canReadProfiles"}
	progs := []program{
		{"audit off (none)", argv, append(base, "KLRBAC_AUDIT_CHECKS=none")},
		{"audit on (all)", argv, append(base, "KLRBAC_AUDIT_CHECKS=all")},
	}
	res, err := alternate(env, 50, progs)
	if err != nil {
		return err
	}
	off, on := median(res[progs[0].label]), median(res[progs[1].label])
	for _, p := range progs {
		fmt.Printf("   klrbac check, %-17s median %6.3f ms/run\n", p.label, median(res[p.label]))
	}
	fmt.Printf("   audit on / off: %.2fx (+%.3f ms: open, lock, read the tail, write, fsync)\n", on/off, on-off)
	return nil
}

func runAuditFollowBench(env *benchEnv) error {
	path := filepath.Join(env.dir, "follow-bench.log")
	defer os.Remove(path)
	defer os.Remove(path + ".lock")
	l, err := audit.Open(path, audit.Options{})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if _, err := l.Append(ctx, audit.Entry{UserID: "bench", Action: "bench.follow"}); err != nil {
		return err
	}
	type follower struct {
		label string
		cmd   *exec.Cmd
		lines chan time.Time
	}
	start := func(label string, argv ...string) (*follower, error) {
		c := exec.Command(argv[0], argv[1:]...)
		out, err := c.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := c.Start(); err != nil {
			return nil, err
		}
		f := &follower{label, c, make(chan time.Time, 1000)}
		go func() {
			r := bufio.NewReader(out)
			for {
				if _, err := r.ReadBytes('\n'); err != nil {
					close(f.lines)
					return
				}
				f.lines <- time.Now()
			}
		}()
		return f, nil
	}
	// Both print the last line first, which shows they are running.
	fs := []*follower{}
	for _, spec := range [][]string{
		{"klrbac audit tail -f", env.klrbac, "audit", "tail", "-f", "-n", "1", "-o", "json", path},
		{"GNU tail -F", "tail", "-F", "-n", "1", path},
	} {
		f, err := start(spec[0], spec[1:]...)
		if err != nil {
			return err
		}
		defer func() { f.cmd.Process.Kill(); f.cmd.Wait() }()
		select {
		case <-f.lines:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s printed nothing", f.label)
		}
		fs = append(fs, f)
	}
	n := max(60, env.samples*6)
	lat := map[string][]float64{}
	for range n {
		time.Sleep(time.Duration(20+rand.IntN(40)) * time.Millisecond)
		// From the start of the append, fsync included: the latency a watcher sees.
		written := time.Now()
		if _, err := l.Append(ctx, audit.Entry{UserID: "bench", Action: "bench.follow"}); err != nil {
			return err
		}
		for _, f := range fs {
			select {
			case t, ok := <-f.lines:
				if !ok {
					return fmt.Errorf("%s ended", f.label)
				}
				lat[f.label] = append(lat[f.label], ms(t.Sub(written)))
			case <-time.After(5 * time.Second):
				return fmt.Errorf("%s did not print an appended line within 5s", f.label)
			}
		}
	}
	for _, f := range fs {
		fmt.Printf("   %-22s median %7.2f ms   p95 %7.2f ms   (%d appends)\n", f.label, median(lat[f.label]), percentile(lat[f.label], 0.95), n)
	}
	p95 := percentile(lat["klrbac audit tail -f"], 0.95)
	fmt.Printf("   klrbac p95: %.2f ms  (target <= 250 ms: %s)\n", p95, verdict(p95 <= 250))
	return nil
}

// runProcesses starts n workers that each run argv `each` times in turn, with env added to this
// process's environment, and returns the wall time of all of them and the first failure.
func runProcesses(n, each int, argv []string, env ...string) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for range n {
		wg.Go(func() {
			for range each {
				c := exec.Command(argv[0], argv[1:]...)
				c.Env = append(os.Environ(), env...)
				if out, err := c.CombinedOutput(); err != nil {
					errs <- fmt.Errorf("%v: %s", err, out)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return time.Since(start), <-errs
}
