package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

func init() {
	register(benchmark{
		name: "startup",
		what: "whole-process time of `klrbac check admin canReadProfiles` vs the floor klrbac's mandated libraries set, vs bare cobra, and static vs dynamic",
		run:  runStartup,
	})
}

// buildBaseline compiles one of tools/bench/baseline with the toolchain running this benchmark,
// static as make build links klrbac, so that a ratio compares like with like.
func buildBaseline(env *benchEnv, name string) (string, error) {
	return goBuild(env, name, "./tools/bench/baseline/"+name, false)
}

// goBuild builds pkg into the scratch directory: static (CGO_ENABLED=0), or with cgo on, which
// links dynamically wherever a C compiler exists, as a plain `go build` does there.
func goBuild(env *benchEnv, name, pkg string, cgo bool) (string, error) {
	out := filepath.Join(env.dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if cgo {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s: %w", name, err)
	}
	return out, nil
}

// timeLoop runs argv loops times and returns the mean wall time of one run.
func timeLoop(argv []string, extraEnv []string, loops int) (time.Duration, error) {
	start := time.Now()
	for range loops {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), extraEnv...)
		if err := cmd.Run(); err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				return 0, err
			}
		}
	}
	return time.Since(start) / time.Duration(loops), nil
}

// program is one whole-process subject of a start-up comparison.
type program struct {
	label string
	argv  []string
	env   []string
}

// alternate measures programs in turn, sample after sample, and returns each one's samples in
// milliseconds per run.
func alternate(env *benchEnv, loops int, progs []program) (map[string][]float64, error) {
	out := map[string][]float64{}
	for _, p := range progs { // warm the page cache
		if _, err := timeLoop(p.argv, p.env, 5); err != nil {
			return nil, err
		}
	}
	for range env.samples {
		for _, p := range progs {
			d, err := timeLoop(p.argv, p.env, loops)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.label, err)
			}
			out[p.label] = append(out[p.label], float64(d.Microseconds())/1000)
		}
	}
	return out, nil
}

func runStartup(env *benchEnv) error {
	minimal, err := buildBaseline(env, "minimal")
	if err != nil {
		return err
	}
	cobra, err := buildBaseline(env, "cobra")
	if err != nil {
		return err
	}
	libs, err := buildBaseline(env, "cobralibs")
	if err != nil {
		return err
	}
	team, err := buildBaseline(env, "teamlibs")
	if err != nil {
		return err
	}
	// The same klrbac source linked dynamically, for the static-vs-dynamic figure: what a plain
	// `go build` gives wherever a C compiler exists.
	dynamic, err := goBuild(env, "klrbac-dynamic", ".", true)
	if err != nil {
		return err
	}
	auditLog := filepath.Join(env.dir, "startup-audit.log")
	defer os.Remove(auditLog)
	defer os.Remove(auditLog + ".lock")
	klrbacEnv := []string{"KLRBAC_AUDIT_LOG=" + auditLog}
	args := []string{"check", "admin", "canReadProfiles"}
	const (
		bare     = "minimal cobra"
		floor    = "cobra + klrbac's libraries"
		teamFlr  = "... + pgx + client_golang"
		off      = "klrbac check, audit off"
		on       = "klrbac check, audit on"
		dynOff   = "klrbac check, audit off, dynamic"
		minimalG = "minimal Go"
	)
	progs := []program{
		{minimalG, []string{minimal, "check"}, nil},
		{bare, []string{cobra, "check"}, nil},
		{floor, []string{libs, "check"}, nil},
		{teamFlr, []string{team, "check"}, nil},
		// The check decision alone, as the start-up target is set for it, and the default, which
		// also appends the decision to the audit log (lock, write, fsync).
		{off, append([]string{env.klrbac}, args...), append(klrbacEnv, "KLRBAC_AUDIT_CHECKS=none")},
		{on, append([]string{env.klrbac}, args...), append(klrbacEnv, "KLRBAC_AUDIT_CHECKS=all")},
		{dynOff, append([]string{dynamic}, args...), append(klrbacEnv, "KLRBAC_AUDIT_CHECKS=none")},
	}
	res, err := alternate(env, 200, progs)
	if err != nil {
		return err
	}
	for _, p := range progs {
		fmt.Printf("   %-34s median %6.3f ms/run\n", p.label, median(res[p.label]))
	}
	k := median(res[off])
	rf := k / median(res[floor])
	fmt.Printf("   %s:\n", off)
	fmt.Printf("     ratio to the library floor:       %.2fx  (target <= 1.10x: %s)\n", rf, verdict(rf <= 1.10))
	fmt.Printf("     ratio to the floor with pgx and client_golang: %.2fx  (those two alone make the floor %.2fx)\n", k/median(res[teamFlr]), median(res[teamFlr])/median(res[floor]))
	fmt.Printf("     ratio to bare cobra:              %.2fx  (the floor itself is %.2fx bare cobra)\n", k/median(res[bare]), median(res[floor])/median(res[bare]))
	fmt.Printf("     ratio to minimal Go:              %.2fx\n", k/median(res[minimalG]))
	fmt.Printf("     dynamic / static:                 %.2fx  (the same klrbac linked with cgo on)\n", median(res[dynOff])/k)
	fmt.Printf("   %s: ratio to the library floor %.2fx (the audit append: lock, write, fsync)\n", on, median(res[on])/median(res[floor]))
	return nil
}
