package yamlcheck_test

import (
	"errors"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/yamlcheck"
)

// FuzzReaders walks any YAML with every reader: a reader never panics, every problem it reports is
// a configuration error located in the file with a hint, and what it returns keeps its promises.
func FuzzReaders(f *testing.F) {
	for _, seed := range []string{
		"roles:\n  viewer:\n    permissions: [canReadProfiles]\n    full_access: yes\n",
		"a: 1\na: 2\nb: [x, x, ~, [y]]\nc: {d: e}\n",
		"- {name: a, key: pk_1, scopes: [full]}\n- ~\n- [1, 2]\n",
		"x: &a [*a]\ny: *a\n", "~", "", "[", "a: !!binary aGk=\n", "? [k]\n: v\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
			checkProblems(t, yamlcheck.SyntaxError("f.yaml", err))
			return
		}
		ps := &yamlcheck.Problems{File: "f.yaml"}
		if len(doc.Content) > 0 {
			walk(t, ps, doc.Content[0], 0)
		}
		err := ps.Err()
		checkProblems(t, err)
		var lines []int
		for _, e := range unjoin(err) {
			var p *yamlcheck.Problem
			errors.As(e, &p)
			lines = append(lines, p.Line)
		}
		if !slices.IsSorted(lines) {
			t.Fatalf("problems out of line order: %v", lines)
		}
		if len(unjoin(ps.ErrAsFound())) != len(lines) || ps.Len() != len(lines) {
			t.Fatal("Err, ErrAsFound and Len disagree")
		}
	})
}

// walk reads n with each reader that could apply, and descends.
func walk(t *testing.T, ps *yamlcheck.Problems, n *yaml.Node, depth int) {
	if depth > 20 {
		return
	}
	_ = yamlcheck.KindName(n)
	_ = ps.String(n, "value")
	_ = ps.Bool(n, "value")
	seen := map[string]bool{}
	ps.Entries(n, "map", func(k, v *yaml.Node) {
		if seen[k.Value] {
			t.Fatalf("key %q seen twice", k.Value)
		}
		seen[k.Value] = true
		if yamlcheck.Lookup(n, k.Value) != v {
			t.Fatalf("Lookup(%q) is not the first value", k.Value)
		}
		walk(t, ps, v, depth+1)
	})
	ps.Fields(n, "map", []string{"name", "scopes"}, func(field string, _, _ *yaml.Node) {
		if field != "name" && field != "scopes" {
			t.Fatalf("unknown field %q passed on", field)
		}
	})
	names, nodes := ps.Names(n, "list")
	if len(names) != len(nodes) {
		t.Fatalf("%d names, %d nodes", len(names), len(nodes))
	}
	for i, name := range names {
		if nodes[i].Value != name || slices.Index(names, name) != i {
			t.Fatalf("names %q do not match their nodes or repeat", names)
		}
	}
	for _, item := range ps.Sequence(n, "list") {
		walk(t, ps, item, depth+1)
	}
}

func checkProblems(t *testing.T, err error) {
	t.Helper()
	for _, e := range unjoin(err) {
		var p *yamlcheck.Problem
		if fault.KindOf(e) != fault.Config || !errors.As(e, &p) || p.File != "f.yaml" || p.Line < 0 || len(fault.Hints(e)) == 0 {
			t.Fatalf("not a located configuration problem with a hint: %T %v", e, e)
		}
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
