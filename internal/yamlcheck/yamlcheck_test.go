package yamlcheck_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/yamlcheck"
)

// root parses src and returns its top-level node.
func root(t testing.TB, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

// report renders each problem of err as "message | hint", checking on the way that it is a located
// configuration error of f.yaml with exactly one hint.
func report(t testing.TB, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var out []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var p *yamlcheck.Problem
		if fault.KindOf(e) != fault.Config || !errors.As(e, &p) || p.File != "f.yaml" {
			t.Fatalf("not a configuration problem of f.yaml: %T %v", e, e)
		}
		hints := fault.Hints(e)
		if len(hints) != 1 || hints[0] == "" {
			t.Fatalf("%v: hints %q, want one", e, hints)
		}
		out = append(out, e.Error()+" | "+hints[0])
	}
	return out
}

func TestReadersNameWhatTheyFound(t *testing.T) {
	doc := root(t, `
text: [a]
flag: maybe
unset:
list: {a: 1}
names: [a, [b], a, ~, c]
map: [x]
`)
	ps := &yamlcheck.Problems{File: "f.yaml"}
	got := map[string]any{}
	ps.Fields(doc, "thing", []string{"text", "flag", "unset", "list", "names", "map"}, func(field string, _, v *yaml.Node) {
		switch field {
		case "text":
			got[field] = ps.String(v, "thing text")
		case "flag":
			got[field] = ps.Bool(v, "thing flag")
		case "unset":
			got[field] = ps.Bool(v, "thing unset")
		case "list":
			got[field] = len(ps.Sequence(v, "thing list"))
		case "names":
			names, nodes := ps.Names(v, "thing names")
			if len(names) != len(nodes) || nodes[1].Value != "c" || nodes[1].Line != 6 {
				t.Errorf("names %q come with the wrong nodes", names)
			}
			got[field] = strings.Join(names, ",")
		case "map":
			ps.Entries(v, "thing map", func(k, _ *yaml.Node) { t.Errorf("entry %q of a list", k.Value) })
		}
	})
	want := []string{
		`f.yaml:2: thing text: expected a string, found a list | give a single value on the same line`,
		`f.yaml:3: thing flag: expected true or false, found "maybe" | use true or false`,
		`f.yaml:4: thing unset: expected true or false, found nothing | use true or false`,
		`f.yaml:5: thing list: expected a list, found a mapping | write a list: [a, b] or one '- item' per line`,
		`f.yaml:6: thing names: expected a name, found a list | each list item is one name`,
		`f.yaml:6: thing names: "a" is listed twice | list it once`,
		`f.yaml:6: thing names: expected a name, found nothing | each list item is one name`,
		`f.yaml:7: thing map: expected a mapping, found a list | write it as name: followed by indented fields`,
	}
	if r := report(t, ps.Err()); !slices.Equal(r, want) {
		t.Errorf("problems:\n got %q\nwant %q", r, want)
	}
	if got["text"] != "" || got["flag"] != false || got["list"] != 0 || got["names"] != "a,c" {
		t.Errorf("values read despite problems: %v", got)
	}
	if ps.Len() != len(want) {
		t.Errorf("Len = %d, want %d", ps.Len(), len(want))
	}
}

func TestValuesReadWhenRightAndNullIsEmpty(t *testing.T) {
	doc := root(t, "s: hello\nt: true\nf: no\nl: [x, y]\nn: [p, q]\nnull-map:\nnull-list: ~\n")
	ps := &yamlcheck.Problems{File: "f.yaml"}
	if s := ps.String(yamlcheck.Lookup(doc, "s"), "s"); s != "hello" {
		t.Errorf("String = %q", s)
	}
	if !ps.Bool(yamlcheck.Lookup(doc, "t"), "t") || ps.Bool(yamlcheck.Lookup(doc, "f"), "f") {
		t.Error("Bool misread true or no")
	}
	if items := ps.Sequence(yamlcheck.Lookup(doc, "l"), "l"); len(items) != 2 || items[1].Value != "y" {
		t.Errorf("Sequence = %v", items)
	}
	if names, _ := ps.Names(yamlcheck.Lookup(doc, "n"), "n"); !slices.Equal(names, []string{"p", "q"}) {
		t.Errorf("Names = %q", names)
	}
	null := yamlcheck.Lookup(doc, "null-map")
	ps.Entries(null, "m", func(_, _ *yaml.Node) { t.Error("entry in null") })
	ps.Fields(null, "m", []string{"a"}, func(string, *yaml.Node, *yaml.Node) { t.Error("field in null") })
	null = yamlcheck.Lookup(doc, "null-list")
	if items := ps.Sequence(null, "l"); items != nil {
		t.Errorf("Sequence(null) = %v", items)
	}
	if names, nodes := ps.Names(null, "l"); names != nil || nodes != nil {
		t.Errorf("Names(null) = %v", names)
	}
	if err := ps.Err(); err != nil {
		t.Errorf("problems with a good file: %v", err)
	}
}

func TestDuplicateKeysNameTheFirstLine(t *testing.T) {
	doc := root(t, "roles:\n  viewer: 1\n  admin: 2\n  viewer: 3\n")
	ps := &yamlcheck.Problems{File: "f.yaml"}
	var seen []string
	ps.Entries(yamlcheck.Lookup(doc, "roles"), "roles", func(k, v *yaml.Node) { seen = append(seen, k.Value+"="+v.Value) })
	if !slices.Equal(seen, []string{"viewer=1", "admin=2"}) {
		t.Errorf("entries seen: %q", seen)
	}
	want := []string{`f.yaml:4: roles: "viewer" is defined twice (first on line 2) | remove one of them or give it another name`}
	if r := report(t, ps.Err()); !slices.Equal(r, want) {
		t.Errorf("got %q", r)
	}
}

func TestUnknownFieldsGetASuggestion(t *testing.T) {
	doc := root(t, "permisions: [a]\nzzz: 1\ndescription: d\n")
	ps := &yamlcheck.Problems{File: "f.yaml"}
	var seen []string
	ps.Fields(doc, "role viewer", []string{"description", "permissions"}, func(field string, _, _ *yaml.Node) { seen = append(seen, field) })
	if !slices.Equal(seen, []string{"description"}) {
		t.Errorf("fields seen: %q", seen)
	}
	want := []string{
		`f.yaml:1: role viewer: unknown field "permisions" | did you mean "permissions"?`,
		`f.yaml:2: role viewer: unknown field "zzz" | known fields: description, permissions`,
	}
	if r := report(t, ps.Err()); !slices.Equal(r, want) {
		t.Errorf("got %q", r)
	}
	ps = &yamlcheck.Problems{File: "f.yaml"}
	ps.Fields(root(t, "a: [x]\n").Content[1], "role viewer", []string{"description", "permissions"}, nil)
	want = []string{`f.yaml:1: role viewer: expected a mapping, found a list | write its fields indented below it: description, permissions`}
	if r := report(t, ps.Err()); !slices.Equal(r, want) {
		t.Errorf("got %q", r)
	}
}

func TestProblemOrder(t *testing.T) {
	ps := &yamlcheck.Problems{File: "f.yaml"}
	if ps.Err() != nil || ps.ErrAsFound() != nil {
		t.Fatal("no problems must be a nil error")
	}
	ps.AddLine(5, "h", "five")
	ps.AddLine(2, "h", "two, first")
	ps.Add(nil, "h", "the file")
	ps.AddLine(2, "h", "two, second")
	msgs := func(err error) (out []string) {
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	byLine := []string{"f.yaml: the file", "f.yaml:2: two, first", "f.yaml:2: two, second", "f.yaml:5: five"}
	if got := msgs(ps.Err()); !slices.Equal(got, byLine) {
		t.Errorf("Err: %q", got)
	}
	asFound := []string{"f.yaml:5: five", "f.yaml:2: two, first", "f.yaml: the file", "f.yaml:2: two, second"}
	if got := msgs(ps.ErrAsFound()); !slices.Equal(got, asFound) {
		t.Errorf("ErrAsFound: %q", got)
	}
}

func TestKindName(t *testing.T) {
	doc := root(t, "m: {a: 1}\nl: [1]\ns: 'it''s'\nn:\na: &x 1\nb: *x\n")
	for key, want := range map[string]string{"m": "a mapping", "l": "a list", "s": `"it's"`, "n": "nothing", "b": "an alias"} {
		if got := yamlcheck.KindName(yamlcheck.Lookup(doc, key)); got != want {
			t.Errorf("%s: %s, want %s", key, got, want)
		}
	}
	if got := yamlcheck.KindName(&yaml.Node{}); got != "nothing" {
		t.Errorf("empty document: %s", got)
	}
}

func TestLookup(t *testing.T) {
	doc := root(t, "a: 1\nb: 2\na: 3\n")
	if v := yamlcheck.Lookup(doc, "a"); v == nil || v.Value != "1" {
		t.Errorf("a = %v, want the first", v)
	}
	if yamlcheck.Lookup(doc, "c") != nil || yamlcheck.Lookup(nil, "a") != nil || yamlcheck.Lookup(root(t, "[a, 1]"), "a") != nil {
		t.Error("Lookup found what is not there")
	}
}

func TestSyntaxError(t *testing.T) {
	for src, want := range map[string]string{
		"roles: [a,\n  b": "f.yaml:2: did not find expected ',' or ']' | the file is not valid YAML; check indentation and quoting around that line",
		"\t":              "f.yaml: found character that cannot start any token | the file is not valid YAML; check indentation and quoting",
	} {
		var doc yaml.Node
		err := yaml.Unmarshal([]byte(src), &doc)
		if err == nil {
			t.Fatalf("%q parsed", src)
		}
		got := yamlcheck.SyntaxError("f.yaml", err)
		if r := report(t, errors.Join(got)); !slices.Equal(r, []string{want}) {
			t.Errorf("%q: got %q\nwant %q", src, r, want)
		}
	}
	if got := yamlcheck.SyntaxError("f.yaml", errors.New("yaml: line x: odd")).Error(); got != "f.yaml: line x: odd" {
		t.Errorf("a line that is no number: %s", got)
	}
}

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
