package cmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/ui"
)

// verifyView is the JSON and YAML shape of `audit verify` (documented in docs/json-output.md).
type verifyView struct {
	File         string           `json:"file" yaml:"file"`
	OK           bool             `json:"ok" yaml:"ok"`
	Lines        int64            `json:"lines" yaml:"lines"`
	Entries      int64            `json:"entries" yaml:"entries"`
	First        string           `json:"first" yaml:"first"`
	Last         string           `json:"last" yaml:"last"`
	Head         headView         `json:"head" yaml:"head"`
	ExpectedHead *headView        `json:"expected_head,omitempty" yaml:"expected_head,omitempty"`
	Recovered    []audit.Recovery `json:"recovered" yaml:"recovered"`
	Problems     []audit.Problem  `json:"problems" yaml:"problems"`
	Omitted      int              `json:"omitted_problems,omitempty" yaml:"omitted_problems,omitempty"`
}

func newAuditVerifyCommand(a *app) *cobra.Command {
	var out outputFlag
	var expect string
	c := &cobra.Command{
		Use:   "verify [FILE]",
		Short: "Check the audit log's hash chain and report tampering",
		Long: `Check every line of the audit log: its layout, its hash, its link to the entry before it
and its sequence number. A log that checks out gives a summary (entries, first and last
time, head) and exit 0. Otherwise each problem is named with its line number (an edited
entry, a deleted, inserted or reordered line, a torn line, a broken link) and the exit
status is 1.

Damage a crashed writer left behind (a torn line) is accounted for by the
audit.recovered entry the next writer appends: it is listed, not counted as tampering.

The chain proves the entries are as written, but someone able to rewrite the whole file
could write a new chain. Keep 'klrbac audit head' elsewhere (a ticket, CI artifacts)
and pass it to --expect-head: the log must still contain that entry, which also catches
entries cut from the end.` + exitStatus(exitOK, exitFindings, exitUsage, exitUnavailable),
		Example: `  klrbac audit verify
  klrbac audit verify --expect-head 1234:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
  klrbac audit verify /var/backups/klrbac/audit.log.1 -o json`,
		Args: rangeArgs(0, 1, "at most one FILE"),
		RunE: out.run(func(cmd *cobra.Command, f ui.Format, args []string) error {
			var want *audit.Head
			if expect != "" {
				h, err := audit.ParseHead(expect)
				if err != nil {
					return fault.Usagef("--expect-head: %v", err).
						Hint("pass SEQ:HASH exactly as `klrbac audit head` printed it, e.g. 1234:9f86d081…")
				}
				want = &h
			}
			s, path, err := a.auditLocation(cmd.Context(), args, pgstore.Options{StatementTimeout: time.Hour})
			if err != nil {
				return err
			}
			if s != nil {
				defer s.Close()
				rep, err := s.Verify(cmd.Context(), audit.VerifyOptions{Expect: want})
				if err != nil {
					return err
				}
				return reportVerify(a.io, s.Where(), rep, want, f)
			}
			rep, err := audit.VerifyFile(path, want)
			if err != nil {
				return err
			}
			return reportVerify(a.io, path, rep, want, f)
		}),
	}
	c.Flags().StringVar(&expect, "expect-head", "", "SEQ:HASH from an earlier 'klrbac audit head': the log must still hold that entry")
	out.register(c, listFormats...)
	return c
}

// reportVerify renders a verify report of the trail at path (a file, or a database without its
// password) and gives its exit status.
func reportVerify(io *ui.IO, path string, rep *audit.Report, want *audit.Head, f ui.Format) error {
	v := verifyView{
		File: path, OK: rep.OK(), Lines: rep.Lines, Entries: rep.Entries, First: rep.First, Last: rep.Last,
		Head: headView{rep.Head.Seq, rep.Head.Hash}, Recovered: rep.Recovered, Problems: rep.Problems, Omitted: rep.Omitted,
	}
	if v.Recovered == nil {
		v.Recovered = []audit.Recovery{}
	}
	if v.Problems == nil {
		v.Problems = []audit.Problem{}
	}
	if want != nil {
		v.ExpectedHead = &headView{want.Seq, want.Hash}
	}
	if f != ui.Table {
		if err := io.Encode(f, v); err != nil {
			return err
		}
	} else {
		renderVerify(io, v)
	}
	if !v.OK {
		return fault.Silent(fault.Findings)
	}
	return nil
}

func renderVerify(io *ui.IO, v verifyView) {
	w := io.Out
	fmt.Fprintf(w, "audit log:  %s\n", v.File)
	status := "verified"
	if !v.OK {
		n := len(v.Problems) + v.Omitted
		status = fmt.Sprintf("TAMPERED: %d problem%s", n, plural(n))
	}
	if io.OutTTY {
		status = io.Mark(v.OK) + " " + status
	}
	fmt.Fprintf(w, "status:     %s\n", status)
	fmt.Fprintf(w, "entries:    %d (%d line%s)\n", v.Entries, v.Lines, plural(int(v.Lines)))
	if v.First != "" {
		fmt.Fprintf(w, "first:      %s\n", v.First)
		fmt.Fprintf(w, "last:       %s\n", v.Last)
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
		fmt.Fprintf(w, "problem:    %s\n", io.Red(p.Message))
	}
	if v.Omitted > 0 {
		fmt.Fprintf(w, "problem:    ... and %d more\n", v.Omitted)
	}
}
