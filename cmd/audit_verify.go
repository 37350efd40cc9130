package cmd

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/ui"
)

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
	v := rep.Verification(path, want)
	if f != ui.Table {
		if err := io.Encode(f, v); err != nil {
			return err
		}
	} else {
		io.AuditVerification(v)
	}
	if !v.OK {
		return fault.Silent(fault.Findings)
	}
	return nil
}
