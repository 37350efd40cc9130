// Package ui renders klrbac's output: tables for people, JSON and YAML for scripts, marks and colour
// only where a terminal will show them.
package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"go.yaml.in/yaml/v3"
	"golang.org/x/term"

	"github.com/klrbac/klrbac/internal/fault"
)

// IO is a command's standard streams and what is known about them.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// InTTY, OutTTY and ErrTTY report whether each stream is a terminal.
	InTTY, OutTTY, ErrTTY bool
	// Color allows ANSI colour on stdout: a terminal, and neither NO_COLOR nor TERM=dumb.
	Color bool
}

// System returns the process's streams, with terminal detection.
func System() *IO {
	s := &IO{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		InTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		OutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		ErrTTY: term.IsTerminal(int(os.Stderr.Fd())),
	}
	_, noColor := os.LookupEnv("NO_COLOR")
	s.Color = s.OutTTY && !noColor && os.Getenv("TERM") != "dumb"
	return s
}

// Format is an output format.
type Format string

const (
	Table Format = "table"
	JSON  Format = "json"
	YAML  Format = "yaml"
)

// ParseFormat checks that s names one of the allowed formats.
func ParseFormat(s string, allowed ...Format) (Format, error) {
	names := make([]string, len(allowed))
	for i, f := range allowed {
		if string(f) == strings.ToLower(s) {
			return f, nil
		}
		names[i] = string(f)
	}
	return "", fault.Usagef("unknown output format %q", s).Hint("use -o " + strings.Join(names, ", -o "))
}

// Table writes rows under a header as aligned columns: no borders or box drawing, so output reads
// the same in a terminal, a log and a pipe to awk. The header is bold where colour is allowed.
func (s *IO) Table(header []string, rows [][]string) error {
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: "   ", Overwrite: true}),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, " ")
		if i == 0 {
			l = s.Bold(l)
		}
		if _, err := io.WriteString(s.Out, l+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// OrDash shows an empty value as "-" in a table cell, so that columns stay aligned for awk.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// JoinOrDash shows a list in a table cell or a line: comma separated, "-" when empty.
func JoinOrDash(items []string) string {
	if len(items) == 0 {
		return "-"
	}
	return strings.Join(items, ", ")
}

// Plural is the s that ends a noun counted n times: "1 line", "2 lines".
func Plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// JSON writes v as indented JSON.
func (s *IO) JSON(v any) error {
	enc := json.NewEncoder(s.Out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// YAML writes v as YAML.
//
// The document is written in one piece: the encoder alone writes in small chunks, which could cut a
// value in two and hide it from the masker on stdout.
func (s *IO) YAML(v any) error {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := s.Out.Write(b.Bytes())
	return err
}

// Encode writes v as JSON or YAML, whichever f names. YAML is made from the JSON encoding, so
// the two formats always have the same field names, order and omissions: docs/json-output.md documents
// one shape for both, and a struct missing a yaml tag cannot make them drift apart.
func (s *IO) Encode(f Format, v any) error {
	if f != YAML {
		return s.JSON(v)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	plainStyle(&doc)
	return s.YAML(&doc)
}

// plainStyle drops the flow and quoting styles a node parsed from JSON carries, so the YAML reads
// as block YAML. A string keeps its quotes where encoding it as a Go string would: the node
// encoder alone leaves YAML 1.1 booleans such as yes and off bare, which older parsers misread.
func plainStyle(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		if out, err := yaml.Marshal(n.Value); err == nil && out[0] == '"' {
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	for _, c := range n.Content {
		plainStyle(c)
	}
}

// Mark renders a yes/no answer: ✔ or ✖ on a terminal, yes or no elsewhere so scripts can grep.
func (s *IO) Mark(ok bool) string {
	if !s.OutTTY {
		if ok {
			return "yes"
		}
		return "no"
	}
	if ok {
		return s.Green("✔")
	}
	return s.Red("✖")
}

func (s *IO) paint(code, text string) string {
	if !s.Color || text == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

// Bold, Red, Green and Yellow colour text where colour is allowed.
func (s *IO) Bold(text string) string   { return s.paint("1", text) }
func (s *IO) Red(text string) string    { return s.paint("31", text) }
func (s *IO) Green(text string) string  { return s.paint("32", text) }
func (s *IO) Yellow(text string) string { return s.paint("33", text) }

// Notice tells the user something on stderr, in klrbac's name: what a command meets on its way (a
// log not there yet, a lost connection), not its result.
func (s *IO) Notice(msg string) { fmt.Fprintln(s.Err, "klrbac: "+msg) }
