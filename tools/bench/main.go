// Command bench runs klrbac's benchmarks (make bench). Every figure is reported as a ratio to a
// baseline measured in the same run, alternating with it, so that a busy or slow machine shifts both
// sides alike; absolute times are printed for context only.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

type benchmark struct {
	name string
	what string
	run  func(env *benchEnv) error
}

// benchEnv is what every benchmark gets: the klrbac binary under test and a scratch directory.
type benchEnv struct {
	klrbac  string
	dir     string
	samples int
}

var benchmarks []benchmark

func register(b benchmark) { benchmarks = append(benchmarks, b) }

func main() {
	bin := flag.String("klrbac", "bin/klrbac", "klrbac binary to measure")
	samples := flag.Int("samples", 15, "samples per measurement (medians are reported)")
	list := flag.Bool("list", false, "list the benchmarks")
	flag.Parse()
	sort.Slice(benchmarks, func(i, j int) bool { return benchmarks[i].name < benchmarks[j].name })
	if *list {
		for _, b := range benchmarks {
			fmt.Printf("%-16s %s\n", b.name, b.what)
		}
		return
	}
	want := flag.Args()
	dir, err := os.MkdirTemp("", "klrbac-bench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := isolate(dir); err != nil {
		fatal(err)
	}
	env := &benchEnv{klrbac: *bin, dir: dir, samples: *samples}
	failed := false
	for _, b := range benchmarks {
		if len(want) > 0 && !slices.Contains(want, b.name) {
			continue
		}
		fmt.Printf("== %s: %s\n", b.name, b.what)
		if err := b.run(env); err != nil {
			fmt.Printf("   error: %v\n", err)
			failed = true
		}
		fmt.Println()
	}
	if failed {
		os.Exit(1)
	}
}

// isolate keeps every klrbac the benchmarks start away from the caller's own klrbac: no config,
// policy, credentials or settings from the environment, and config and audit log under the scratch
// directory, so a benchmark never appends to the caller's real audit log. HOME stays, so that go
// build keeps its module and build caches.
func isolate(dir string) error {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "KLRBAC_") && name != rusageChildEnv || strings.HasPrefix(name, "KLAVIYO_") {
			if err := os.Unsetenv(name); err != nil {
				return err
			}
		}
	}
	for name, sub := range map[string]string{"XDG_CONFIG_HOME": "config", "XDG_STATE_HOME": "state"} {
		if err := os.Setenv(name, filepath.Join(dir, sub)); err != nil {
			return err
		}
	}
	return nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	i := int(p*float64(len(s)-1) + 0.5)
	return s[i]
}

func verdict(ok bool) string {
	if ok {
		return "meets target"
	}
	return "MISSES target"
}

func indent(s string) string {
	return "   " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n   ")
}
