// Package yamlcheck reads the YAML files people write for klrbac (the config file with its policy,
// settings, alert rules and OAuth apps; sandbox fixtures) and reports every problem in one go, each
// located at file:line with a hint saying what to do, so that one run shows everything to fix.
//
// A loader walks the parsed yaml.Node tree with the readers of a Problems collector. A reader never
// stops the walk: on a problem it records it and returns the zero value, and the loader carries on.
// Domain rules (scopes against the catalog, durations in range, redirect URIs) stay with the loaders,
// built on these readers.
package yamlcheck

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/suggest"
)

// Problem is one thing wrong with a file, located at its line; Line 0 stands for the file as a
// whole.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p *Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return p.File + ": " + p.Msg
}

// Problems collects the problems of one file. The zero value with File set is ready for use.
type Problems struct {
	File  string
	found []located
}

type located struct {
	line int
	err  error
}

// Add records a problem at n's line (a nil n: the file as a whole). Every problem is a fault.Config
// error (exit 2) wrapping a *Problem, with hint saying what to do.
func (ps *Problems) Add(n *yaml.Node, hint, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	ps.AddLine(line, hint, format, args...)
}

// AddLine records a problem at a line, for what is found once the nodes are gone, such as a value
// that two entries share.
func (ps *Problems) AddLine(line int, hint, format string, args ...any) {
	e := &fault.Error{Kind: fault.Config, Err: &Problem{File: ps.File, Line: line, Msg: fmt.Sprintf(format, args...)}}
	ps.found = append(ps.found, located{line, e.Hint(hint)})
}

// Len is how many problems have been recorded, so that a loader can tell whether an entry it just
// read had any.
func (ps *Problems) Len() int { return len(ps.found) }

// Err returns every problem joined, in the order of their lines, so that they read as the file
// does; problems on one line keep the order they were found in. It is nil when there are none.
func (ps *Problems) Err() error {
	sorted := slices.Clone(ps.found)
	slices.SortStableFunc(sorted, func(a, b located) int { return cmp.Compare(a.line, b.line) })
	return join(sorted)
}

// ErrAsFound returns every problem joined in the order they were found, for a loader that reports
// what an entry lacks after the problems inside it that may explain it (a misspelt field, then the
// missing field), so that the cause comes first.
func (ps *Problems) ErrAsFound() error { return join(ps.found) }

func join(found []located) error {
	errs := make([]error, len(found))
	for i, f := range found {
		errs[i] = f.err
	}
	return errors.Join(errs...)
}

// IsNull reports whether n is YAML's null: a key with nothing after it, ~ or null.
func IsNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// KindName names what n is, for "expected X, found Y" messages: a scalar by its value.
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if IsNull(n) {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing" // an empty document
}

// Lookup returns the value of key in mapping n: nil when n is nil, not a mapping, or has no such
// key.
func Lookup(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Parse reads the one YAML document a file people write holds. A parse error is a SyntaxError; a
// second document (after a "---" line) is a problem too, since only the first would be read and
// whatever the second says would be silently ignored.
func Parse(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, SyntaxError(file, err)
	}
	for {
		var next yaml.Node
		switch err := dec.Decode(&next); {
		case errors.Is(err, io.EOF):
			return &doc, nil
		case err != nil:
			return nil, SyntaxError(file, err)
		}
		if len(next.Content) == 0 || IsNull(next.Content[0]) {
			continue // a trailing "---" starts an empty document: nothing is ignored
		}
		ps := &Problems{File: file}
		ps.Add(&next, "put everything in one document: remove the '---' line and merge what follows into the rest",
			"a second YAML document starts here; klrbac reads one")
		return nil, ps.Err()
	}
}

// SyntaxError turns an error of the YAML parser, "yaml: line N: msg", into a Problem at file:N, a
// configuration error with a hint.
func SyntaxError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil && n > 0 {
				line, msg = n, text
			}
		}
	}
	hint := "the file is not valid YAML; check indentation and quoting"
	if line > 0 {
		hint += " around that line"
	}
	return (&fault.Error{Kind: fault.Config, Err: &Problem{File: file, Line: line, Msg: msg}}).Hint(hint)
}

// Entries calls fn with each key of mapping n and its value, in the file's order. Null is an empty
// mapping; anything else is a problem naming what was found. A key given again is a problem naming
// the line of the first, and fn does not see it. what starts each message: "roles", "role viewer".
func (ps *Problems) Entries(n *yaml.Node, what string, fn func(k, v *yaml.Node)) {
	ps.entries(n, what, func() string { return "write it as name: followed by indented fields" }, fn)
}

// Fields is Entries for a mapping whose keys are field names out of known: an unknown one is a
// problem with a did-you-mean hint, and fn sees only known ones.
func (ps *Problems) Fields(n *yaml.Node, what string, known []string, fn func(field string, k, v *yaml.Node)) {
	list := func() string { return strings.Join(known, ", ") }
	ps.entries(n, what, func() string { return "write its fields indented below it: " + list() }, func(k, v *yaml.Node) {
		if !slices.Contains(known, k.Value) {
			hint := suggest.Hint(suggest.Closest(k.Value, known, 1))
			if hint == "" {
				hint = "known fields: " + list()
			}
			ps.Add(k, hint, "%s: unknown field %q", what, k.Value)
			return
		}
		fn(k.Value, k, v)
	})
}

func (ps *Problems) entries(n *yaml.Node, what string, shape func() string, fn func(k, v *yaml.Node)) {
	if IsNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		ps.Add(n, shape(), "%s: expected a mapping, found %s", what, KindName(n))
		return
	}
	first := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if line, dup := first[k.Value]; dup {
			ps.Add(k, "remove one of them or give it another name", "%s: %q is defined twice (first on line %d)", what, k.Value, line)
			continue
		}
		first[k.Value] = k.Line
		fn(k, v)
	}
}

// Sequence returns the items of list n. Null is an empty list; anything else is a problem naming
// what was found.
func (ps *Problems) Sequence(n *yaml.Node, what string) []*yaml.Node {
	if IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		ps.Add(n, "write a list: [a, b] or one '- item' per line", "%s: expected a list, found %s", what, KindName(n))
		return nil
	}
	return n.Content
}

// String returns scalar n's value. Null, a list or a mapping is a problem: a value left out is a
// mistake, not an empty string.
func (ps *Problems) String(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || IsNull(n) {
		ps.Add(n, "give a single value on the same line", "%s: expected a string, found %s", what, KindName(n))
		return ""
	}
	return n.Value
}

// Bool returns n as a boolean: true or false, or YAML 1.1's yes/no, on/off. Anything else, null
// included, is a problem, and false: a value left out must not quietly turn a setting off.
func (ps *Problems) Bool(n *yaml.Node, what string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || IsNull(n) || n.Decode(&b) != nil {
		ps.Add(n, "use true or false", "%s: expected true or false, found %s", what, KindName(n))
		return false
	}
	return b
}

// Names reads a list of names, each listed once, and returns them with their nodes (for problems
// found later, such as an unknown name). Null is an empty list; an item that is not a name, or a
// name listed again, is a problem and left out.
func (ps *Problems) Names(n *yaml.Node, what string) ([]string, []*yaml.Node) {
	var names []string
	var nodes []*yaml.Node
	for _, item := range ps.Sequence(n, what) {
		if item.Kind != yaml.ScalarNode || IsNull(item) {
			ps.Add(item, "each list item is one name", "%s: expected a name, found %s", what, KindName(item))
			continue
		}
		if slices.Contains(names, item.Value) {
			ps.Add(item, "list it once", "%s: %q is listed twice", what, item.Value)
			continue
		}
		names = append(names, item.Value)
		nodes = append(nodes, item)
	}
	return names, nodes
}
