package ui

import (
	"fmt"

	"github.com/klrbac/klrbac/internal/audit"
)

// AuditVerification prints a verify report as `audit verify` shows it to people: a summary, then
// each recovered write and each problem on a line of its own.
func (s *IO) AuditVerification(v audit.Verification) {
	w := s.Out
	fmt.Fprintf(w, "audit log:  %s\n", v.File)
	status := "verified"
	if !v.OK {
		n := len(v.Problems) + v.Omitted
		status = fmt.Sprintf("TAMPERED: %d problem%s", n, Plural(n))
	}
	if s.OutTTY {
		status = s.Mark(v.OK) + " " + status
	}
	fmt.Fprintf(w, "status:     %s\n", status)
	fmt.Fprintf(w, "entries:    %d (%d line%s)\n", v.Entries, v.Lines, Plural(int(v.Lines)))
	if v.First != "" {
		fmt.Fprintf(w, "first:      %s\n", v.First)
		fmt.Fprintf(w, "last:       %s\n", v.Last)
	}
	if v.After != nil {
		fmt.Fprintf(w, "after:      %d:%s (a part of the chain, continuing after this entry)\n", v.After.Seq, v.After.Hash)
	}
	fmt.Fprintf(w, "head:       %d:%s\n", v.Head.Seq, v.Head.Hash)
	if v.ExpectedHead != nil {
		fmt.Fprintf(w, "expected:   %d:%s\n", v.ExpectedHead.Seq, v.ExpectedHead.Hash)
	}
	for _, r := range v.Recovered {
		lines := fmt.Sprintf("line %d", r.Line)
		if r.Lines > 1 {
			lines = fmt.Sprintf("lines %d-%d", r.Line, r.Line+r.Lines-1)
		}
		fmt.Fprintf(w, "recovered:  %s (%d bytes left by an interrupted write), accounted for by seq %d at line %d\n", lines, r.Bytes, r.Seq, r.RecordedAt)
	}
	for _, p := range v.Problems {
		fmt.Fprintf(w, "problem:    %s\n", s.Red(p.Message))
	}
	if v.Omitted > 0 {
		fmt.Fprintf(w, "problem:    ... and %d more\n", v.Omitted)
	}
}
