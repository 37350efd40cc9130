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
		what: "whole-process time of `klrbac check admin canReadProfiles` vs a minimal Go program and a minimal cobra program",
		run:  runStartup,
	})
}

// buildBaseline compiles one of tools/bench/baseline with the toolchain running this benchmark.
func buildBaseline(env *benchEnv, name string) (string, error) {
	out := filepath.Join(env.dir, name)
	cmd := exec.Command("go", "build", "-o", out, "./tools/bench/baseline/"+name)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building baseline %s: %w", name, err)
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
	auditLog := filepath.Join(env.dir, "startup-audit.log")
	defer os.Remove(auditLog)
	defer os.Remove(auditLog + ".lock")
	klrbacEnv := []string{"KLRBAC_AUDIT_LOG=" + auditLog}
	check := []string{env.klrbac, "check", "admin", "canReadProfiles"}
	progs := []program{
		{"minimal Go", []string{minimal, "check"}, nil},
		{"minimal cobra", []string{cobra, "check"}, nil},
		{"cobra + klrbac's libraries", []string{libs, "check"}, nil},
		// The check decision alone, as the start-up target was set for it, and the default, which
		// also appends the decision to the audit log (lock, write, fsync).
		{"klrbac check, audit off", check, append(klrbacEnv, "KLRBAC_AUDIT_CHECKS=none")},
		{"klrbac check, audit on", check, append(klrbacEnv, "KLRBAC_AUDIT_CHECKS=all")},
	}
	res, err := alternate(env, 200, progs)
	if err != nil {
		return err
	}
	for _, p := range progs {
		fmt.Printf("   %-28s median %6.3f ms/run\n", p.label, median(res[p.label]))
	}
	for _, variant := range []string{"klrbac check, audit off", "klrbac check, audit on"} {
		k := median(res[variant])
		rb := k / median(res["minimal cobra"])
		fmt.Printf("   %s:\n", variant)
		fmt.Printf("     ratio to minimal Go (a):             %.2fx\n", k/median(res["minimal Go"]))
		fmt.Printf("     ratio to minimal cobra (b):          %.2fx  (target <= 1.25x: %s)\n", rb, verdict(rb <= 1.25))
		fmt.Printf("     ratio to cobra + klrbac's libraries: %.2fx  (the floor their package initialisation sets)\n", k/median(res["cobra + klrbac's libraries"]))
	}
	return nil
}
