package ui

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"

	"github.com/klrbac/klrbac/internal/audit"
)

// Followed prints each followed line that keep accepts as it comes, noting lines that are not
// entries.
func (p *AuditTail) Followed(keep func(audit.Entry) bool) func(line []byte) error {
	return func(line []byte) error {
		e, err := audit.ParseLine(line)
		if err != nil {
			p.Skipped(1)
			return nil
		}
		if keep != nil && !keep(e) {
			return nil
		}
		p.Print(e, line)
		return p.Flush()
	}
}

// AuditTail prints audit entries as a table fitted to them and to the terminal (ui.FittedTable), or as
// their raw lines for -o json, which have every value in full. Followed entries arrive one by one,
// so -f keeps the widths of the first batch, at least tailColumns' minimums.
type AuditTail struct {
	io     *IO
	format Format
	table  *FittedTable
	w      *bufio.Writer
	// warned holds the seqs of edited entries already reported on stderr.
	warned map[uint64]bool
}

// NewAuditTail prints to s in format f (Table or JSON); follow says entries will come one by one
// after the first batch.
func (s *IO) NewAuditTail(f Format, follow bool) *AuditTail {
	t := s.NewFittedTable(tailColumns, follow)
	return &AuditTail{io: s, format: f, table: t, w: t.W}
}

// tailColumns are the table's columns: the widest of USER, ROLE, ACTION and RESOURCE give way first
// on a narrow terminal. With every column at its floor a table needs 100 columns; on a narrower
// terminal lines wrap, but the columns stay where they are.
var tailColumns = []Column{{Name: "TIME", Width: 24}, {Name: "SEQ", Width: 6}, {Name: "USER", Width: 20, Shrink: true, Floor: 10},
	{Name: "ROLE", Width: 10, Shrink: true, Floor: 8}, {Name: "ACTION", Width: 16, Shrink: true, Floor: 10},
	{Name: "RESOURCE", Width: 24, Shrink: true, Floor: 14}, {Name: "RESULT", Width: 7}, {Name: "REASON"}}

// Batch prints entries read at once, fitting the columns to them first.
func (p *AuditTail) Batch(records []audit.Record) {
	if p.format == JSON {
		for _, r := range records {
			p.Print(r.Entry, r.Line)
		}
		return
	}
	rows := make([][]string, len(records))
	var m CellWidths
	for i, r := range records {
		rows[i] = tailCells(r.Entry, p.edited(r.Entry, r.Line))
		m.Add(rows[i])
	}
	p.table.Fit(m)
	for i, r := range records {
		p.table.Row(rows[i], r.Success && rows[i][resultColumn] != resultEdited)
	}
}

// Stream prints the entries keep accepts (nil: all) among the lines pass goes through, reading
// forwards: JSON as it goes, a table after a first pass that fits its columns (pass is called twice
// then, and must go through the same lines). It returns how many lines were not entries, and apart
// the error of writing (a closed pipe, as with | head, ends the reading) and that of reading.
func (p *AuditTail) Stream(pass func(emit func(line []byte) error) error, keep func(audit.Entry) bool) (skipped int, writeErr, readErr error) {
	each := func(fn func(e audit.Entry, line []byte)) error {
		skipped = 0
		return pass(func(line []byte) error {
			e, err := audit.ParseLine(line)
			if err != nil {
				skipped++
				return nil
			}
			if keep == nil || keep(e) {
				fn(e, line)
			}
			_, writeErr = p.w.Write(nil) // bufio keeps the first write error
			return writeErr
		})
	}
	if p.format != JSON {
		var m CellWidths
		if err := each(func(e audit.Entry, line []byte) { m.Add(tailCells(e, p.edited(e, line))) }); err != nil {
			return 0, nil, err
		}
		p.table.Fit(m)
	}
	readErr = each(p.Print)
	if writeErr != nil {
		readErr = nil
	}
	return skipped, writeErr, readErr
}

// Print prints one entry as read (line: its stored line, nil when not known).
func (p *AuditTail) Print(e audit.Entry, line []byte) {
	if p.format == JSON {
		p.edited(e, line) // the line goes out as stored; stderr says it was altered
		p.w.Write(line)
		p.w.WriteByte('\n')
		return
	}
	edited := p.edited(e, line)
	p.table.Row(tailCells(e, edited), e.Success && !edited)
}

// edited reports whether the line read for e does not match its hash, and says so on stderr once
// per entry: tail shows entries as read, and must not call one "ok" that was altered since.
func (p *AuditTail) edited(e audit.Entry, line []byte) bool {
	if line == nil || audit.Sealed(line) {
		return false
	}
	if p.warned == nil {
		p.warned = map[uint64]bool{}
	}
	if !p.warned[e.Seq] {
		p.warned[e.Seq] = true
		fmt.Fprintf(p.io.Err, "klrbac: entry seq %d does not match its hash: it was edited after it was written\n", e.Seq)
		if len(p.warned) == 1 {
			fmt.Fprintln(p.io.Err, "hint: run `klrbac audit verify` to see what else is wrong")
		}
	}
	return true
}

// resultColumn is RESULT's place among tailCells, and resultEdited its value for an entry that
// does not match its hash.
const (
	resultColumn = 6
	resultEdited = "EDITED"
)

// tailCells are an entry's values in the table, as printed before fitting. An edited entry's
// RESULT says so, whatever its success field claims.
func tailCells(e audit.Entry, edited bool) []string {
	result := "ok"
	if !e.Success {
		result = "failed"
		if e.Action == "check" {
			result = "denied"
		}
	}
	if edited {
		result = resultEdited
	}
	reason := e.Reason
	if e.Alert != "" {
		reason = "[alert " + e.Alert + "] " + reason
	}
	cells := []string{e.Timestamp.Format(audit.TimeLayout), strconv.FormatUint(e.Seq, 10), OrDash(e.UserID),
		OrDash(e.Role), e.Action, OrDash(e.Resource), result, reason}
	for i, c := range cells {
		// A stored value cannot break the layout: control characters print as spaces.
		cells[i] = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || r == 0x85 || r == '\u2028' || r == '\u2029' {
				return ' '
			}
			return r
		}, c)
	}
	return cells
}

// Flush writes out what is buffered; its error is the first write's (a closed pipe).
func (p *AuditTail) Flush() error { return p.w.Flush() }

// Skipped notes on stderr n lines that were not entries.
func (p *AuditTail) Skipped(n int) {
	switch {
	case n == 1:
		fmt.Fprintln(p.io.Err, "klrbac: skipped 1 line that is not an audit entry (torn or damaged); run 'klrbac audit verify'")
	case n > 1:
		fmt.Fprintf(p.io.Err, "klrbac: skipped %d lines that are not audit entries (torn or damaged); run 'klrbac audit verify'\n", n)
	}
}
