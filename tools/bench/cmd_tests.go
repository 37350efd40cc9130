package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func init() {
	register(benchmark{
		name: "cmd-tests",
		what: "wall time of `go test -count=1 ./cmd` at HEAD vs at " + cmdTestsBaseline + ", the commit the fast-tests target was set against",
		run:  runCmdTests,
	})
}

// cmdTestsBaseline is the commit on which `go test ./cmd` took ~50 s, 46 of them waiting in real
// time; the target is a quarter of its time, measured in the same run.
const cmdTestsBaseline = "cd190d5"

// cmdTestsTree is one side of the comparison: a commit's files, extracted into the scratch
// directory so that the caller's checkout is neither used nor touched.
type cmdTestsTree struct {
	label string
	rev   string
	dir   string
}

func runCmdTests(env *benchEnv) error {
	top, err := gitOutput("", "rev-parse", "--show-toplevel")
	if err != nil {
		return fmt.Errorf("cmd-tests must run inside klrbac's git repository: %w", err)
	}
	if dirty, _ := gitOutput(top, "status", "--porcelain", "--untracked-files=no"); dirty != "" {
		fmt.Println("   note: the working tree has uncommitted changes; they are not measured, HEAD is")
	}
	// Both sides build with the same cgo setting, the caller's, pinned so that a difference in how
	// the two trees would default cannot show up as a difference in test time.
	cgo, err := commandOutput("go", "env", "CGO_ENABLED")
	if err != nil {
		return err
	}
	trees := []*cmdTestsTree{{label: "baseline " + cmdTestsBaseline, rev: cmdTestsBaseline}, {label: "HEAD", rev: "HEAD"}}
	for _, t := range trees {
		full, err := gitOutput(top, "rev-parse", "--short", t.rev+"^{commit}")
		if err != nil {
			return fmt.Errorf("%s: %w", t.rev, err)
		}
		t.label += " (" + full + ")"
		t.dir = filepath.Join(env.dir, "cmd-tests-"+full)
		if err := extractTree(top, full, t.dir); err != nil {
			return err
		}
		defer os.RemoveAll(t.dir)
		// Untimed: compile every package and the test binary into the build cache, so that the
		// timed runs measure the tests, not the compiler.
		if _, err := goTest(t.dir, cgo, "-run", "^$"); err != nil {
			return fmt.Errorf("%s: warming the build cache: %w", t.label, err)
		}
	}
	// Each sample takes the baseline's ~50 s on an idle machine; three keep the whole run in minutes.
	samples := min(env.samples, 3)
	type figures struct {
		wall, reported, cpu, floor []float64
		failed                     int
	}
	res := map[*cmdTestsTree]*figures{}
	for _, t := range trees {
		res[t] = &figures{}
	}
	for i := range samples {
		// ABBA order: neither side always runs first, right after the other warmed the caches.
		order := trees
		if i%2 == 1 {
			order = []*cmdTestsTree{trees[1], trees[0]}
		}
		for _, t := range order {
			r, err := goTest(t.dir, cgo)
			if err != nil {
				// A failing run still took its time: it is reported and counted, not dropped,
				// so that a side cannot look faster by failing early.
				var failed *goTestFailed
				if !errors.As(err, &failed) {
					return fmt.Errorf("%s: %w", t.label, err)
				}
				fmt.Printf("   %s, sample %d: %s\n", t.label, i+1, failed.Error())
				res[t].failed++
			}
			// go test's own work around the tests (checking the cache, linking, starting the test
			// binary), for reading the figures: it is in both sides' wall time alike.
			floor, err := goTest(t.dir, cgo, "-run", "^$")
			if err != nil {
				return fmt.Errorf("%s: %w", t.label, err)
			}
			f := res[t]
			f.wall = append(f.wall, r.wall.Seconds())
			f.reported = append(f.reported, r.reported.Seconds())
			f.cpu = append(f.cpu, r.cpu.Seconds())
			f.floor = append(f.floor, floor.wall.Seconds())
		}
	}
	fmt.Printf("   measured: wall time of `go test -count=1 ./cmd` (CGO_ENABLED=%s, build cache warm), %d samples per side, alternating\n", cgo, samples)
	for _, t := range trees {
		f := res[t]
		fmt.Printf("   %-28s median %6.1f s (min %.1f, max %.1f); the package's time as go test reports it %.1f s; CPU %.1f s; go test with no test run %.1f s\n",
			t.label, median(f.wall), percentile(f.wall, 0), percentile(f.wall, 1), median(f.reported), median(f.cpu), median(f.floor))
		if f.failed > 0 {
			fmt.Printf("   %-28s %d of %d runs FAILED (see above)\n", "", f.failed, samples)
		}
	}
	ratio := median(res[trees[1]].wall) / median(res[trees[0]].wall)
	// A HEAD whose tests fail cannot meet the target, however fast: the target keeps every assertion.
	fmt.Printf("   ratio HEAD / baseline: %.3fx  (target <= 0.25x with every test passing: %s)\n", ratio, verdict(ratio <= 0.25 && res[trees[1]].failed == 0))
	return nil
}

// extractTree writes the files of rev into dir with git archive: no worktree is registered in the
// repository, so an interrupted run leaves nothing behind there.
func extractTree(top, rev, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	archive := exec.Command("git", "-C", top, "archive", "--format=tar", rev)
	untar := exec.Command("tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	untar.Stdin = pipe
	var stderr bytes.Buffer
	archive.Stderr, untar.Stderr = &stderr, &stderr
	if err := untar.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		_ = untar.Wait()
		return fmt.Errorf("git archive %s: %w: %s", rev, err, stderr.String())
	}
	if err := untar.Wait(); err != nil {
		return fmt.Errorf("extracting %s: %w: %s", rev, err, stderr.String())
	}
	return nil
}

// goTestRun is one timed `go test -count=1 ./cmd`.
type goTestRun struct {
	wall     time.Duration
	reported time.Duration // the "ok ... 12.3s" go test prints for the package
	cpu      time.Duration // user + system time of go test and everything it waited for
}

var (
	goTestOK       = regexp.MustCompile(`(?m)^(?:ok|FAIL)\s+\S+\s+([0-9.]+)s`)
	goTestFailures = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)
)

func goTest(dir, cgo string, extra ...string) (goTestRun, error) {
	args := append([]string{"test", "-count=1"}, extra...)
	cmd := exec.Command("go", append(args, "./cmd")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	r := goTestRun{wall: time.Since(start)}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return r, err
		}
		if names := goTestFailures.FindAllStringSubmatch(out.String(), -1); len(names) > 0 {
			f := &goTestFailed{}
			for _, m := range names {
				f.tests = append(f.tests, m[1])
			}
			err = f
		} else {
			return r, fmt.Errorf("go %s ./cmd: %w\n%s", strings.Join(args, " "), err, indent(lastLinesOf(out.String(), 30)))
		}
	}
	r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if m := goTestOK.FindStringSubmatch(out.String()); m != nil {
		s, _ := strconv.ParseFloat(m[1], 64)
		r.reported = time.Duration(s * float64(time.Second))
	}
	return r, err
}

// goTestFailed is a go test run that ran and failed tests, as opposed to one that could not run.
type goTestFailed struct{ tests []string }

func (f *goTestFailed) Error() string { return "tests failed: " + strings.Join(f.tests, ", ") }

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func gitOutput(dir string, args ...string) (string, error) {
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	return commandOutput("git", args...)
}

// commandOutput runs a command and returns its trimmed standard output.
func commandOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(ee.Stderr))
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}
