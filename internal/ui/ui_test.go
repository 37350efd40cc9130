package ui

import (
	"bytes"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/fault"
)

func TestTableIsPlainOffTerminal(t *testing.T) {
	var out bytes.Buffer
	s := &IO{Out: &out}
	if err := s.Table([]string{"ROLE", "SCOPES"}, [][]string{{"admin", "12"}, {"viewer", "4"}}); err != nil {
		t.Fatal(err)
	}
	want := "ROLE     SCOPES\nadmin    12\nviewer   4\n"
	if out.String() != want {
		t.Errorf("got:\n%q\nwant:\n%q", out.String(), want)
	}
}

func TestTableBoldHeaderOnlyWithColour(t *testing.T) {
	var out bytes.Buffer
	s := &IO{Out: &out, OutTTY: true, Color: true}
	if err := s.Table([]string{"ROLE"}, [][]string{{"admin"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "\x1b[1mROLE\x1b[0m\n") {
		t.Errorf("header not bold: %q", out.String())
	}
	if strings.ContainsAny(out.String(), "│─┼") {
		t.Errorf("box drawing in table: %q", out.String())
	}
}

func TestMark(t *testing.T) {
	pipe := &IO{}
	if pipe.Mark(true) != "yes" || pipe.Mark(false) != "no" {
		t.Error("off a terminal marks must be yes/no")
	}
	tty := &IO{OutTTY: true}
	if tty.Mark(true) != "✔" || tty.Mark(false) != "✖" {
		t.Error("a terminal without colour gets bare ✔/✖")
	}
	colour := &IO{OutTTY: true, Color: true}
	if !strings.Contains(colour.Mark(true), "✔") || !strings.Contains(colour.Mark(true), "\x1b[32m") {
		t.Errorf("colour mark = %q", colour.Mark(true))
	}
}

func TestParseFormat(t *testing.T) {
	if f, err := ParseFormat("JSON", Table, JSON); err != nil || f != JSON {
		t.Errorf("JSON: %v %v", f, err)
	}
	_, err := ParseFormat("xml", Table, JSON)
	if fault.KindOf(err) != fault.Usage || !strings.Contains(strings.Join(fault.Hints(err), " "), "-o table, -o json") {
		t.Errorf("xml: %v %v", err, fault.Hints(err))
	}
}

func TestEncode(t *testing.T) {
	var out bytes.Buffer
	s := &IO{Out: &out}
	if err := s.Encode(JSON, map[string]any{"a": []string{}, "b": "<x>"}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "{\n  \"a\": [],\n  \"b\": \"<x>\"\n}\n" {
		t.Errorf("json: %q", out.String())
	}
	out.Reset()
	if err := s.Encode(YAML, map[string]any{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "a: 1\n" {
		t.Errorf("yaml: %q", out.String())
	}
}

// TestEncodeYAMLHasTheJSONShape: YAML output takes its field names, order and omissions from the
// json tags, quotes what would otherwise read as another type, and is block YAML, not JSON.
func TestEncodeYAMLHasTheJSONShape(t *testing.T) {
	type shape struct {
		OnlyA    []string `json:"only_a_permissions"`
		Revision string   `json:"revision"`
		Count    int      `json:"count"`
		Absent   string   `json:"absent,omitempty"`
		Empty    []string `json:"empty"`
	}
	var out bytes.Buffer
	s := &IO{Out: &out}
	if err := s.Encode(YAML, shape{OnlyA: []string{"canReadProfiles", "yes"}, Revision: "2026-07-15", Count: 3, Empty: []string{}}); err != nil {
		t.Fatal(err)
	}
	want := "only_a_permissions:\n  - canReadProfiles\n  - \"yes\"\nrevision: \"2026-07-15\"\ncount: 3\nempty: []\n"
	if out.String() != want {
		t.Errorf("yaml:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestProgressOnlyOnTerminal(t *testing.T) {
	var err bytes.Buffer
	off := (&IO{Err: &err}).NewProgress()
	off.Update("3/10 probes")
	off.Done()
	if err.Len() != 0 {
		t.Errorf("progress drawn off a terminal: %q", err.String())
	}
	off.Println("verbose line")
	if err.String() != "verbose line\n" {
		t.Errorf("lines must still print off a terminal: %q", err.String())
	}

	err.Reset()
	on := (&IO{Err: &err, ErrTTY: true}).NewProgress()
	on.Update("1/10 probes")
	on.Update("2/10 probes") // within 100ms: not redrawn
	on.Println("a line")
	on.Done()
	want := "\r\x1b[K1/10 probes" + "\r\x1b[K" + "a line\n" + "2/10 probes" + "\r\x1b[K"
	if err.String() != want {
		t.Errorf("got %q\nwant %q", err.String(), want)
	}
}

// TestYAMLWritesOnce: the masker on stdout sees each write alone, so a document written in chunks
// could carry a credential cut in two past it.
func TestYAMLWritesOnce(t *testing.T) {
	w := &countingWriter{}
	io := &IO{Out: w}
	v := map[string]string{}
	for i := 0; i < 50; i++ {
		v[strings.Repeat("k", i+1)] = strings.Repeat("value ", 10)
	}
	if err := io.YAML(v); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 {
		t.Errorf("YAML wrote in %d pieces, want 1", w.writes)
	}
}

type countingWriter struct{ writes int }

func (c *countingWriter) Write(p []byte) (int, error) { c.writes++; return len(p), nil }

func TestJoinOrDash(t *testing.T) {
	if JoinOrDash(nil) != "-" || JoinOrDash([]string{"a", "b"}) != "a, b" {
		t.Errorf("JoinOrDash: %q, %q", JoinOrDash(nil), JoinOrDash([]string{"a", "b"}))
	}
}
