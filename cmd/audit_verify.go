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
	var expect, after string
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
entries cut from the end.

A part of a chain (written by 'klrbac audit export --since', or a rotated file) starts
mid-chain: --after SEQ:HASH names the entry it continues after, the head the part before
it ended at, and the part must start there. Without it such a part is reported as
entries removed from the start.` + exitStatus(exitOK, exitFindings, exitUsage, exitUnavailable),
		Example: `  klrbac audit verify
  klrbac audit verify --expect-head 1234:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
  klrbac audit verify /var/backups/klrbac/audit.log.1 -o json
  klrbac audit verify week-49.log --after 1234:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08`,
		Args: rangeArgs(0, 1, "at most one FILE"),
		RunE: out.run(func(cmd *cobra.Command, f ui.Format, args []string) error {
			var opts audit.VerifyOptions
			var err error
			if opts.Expect, err = headFlag("expect-head", expect, "`klrbac audit head` printed it"); err != nil {
				return err
			}
			if opts.After, err = headFlag("after", after, "the part before this one ended at (its `klrbac audit head`, or what `klrbac audit export` printed)"); err != nil {
				return err
			}
			if opts.After != nil && opts.Expect != nil && opts.Expect.Seq <= opts.After.Seq {
				return fault.Usagef("--expect-head seq %d is not after --after seq %d: the part holds only later entries", opts.Expect.Seq, opts.After.Seq).
					Hint("pass a head from within the part, or leave --expect-head out")
			}
			s, path, err := a.auditLocation(cmd.Context(), args, pgstore.Options{StatementTimeout: time.Hour})
			if err != nil {
				return err
			}
			if s != nil {
				defer s.Close()
				if opts.After != nil {
					return fault.Usagef("--after checks a part of a chain in a FILE; the team audit database holds the whole chain").
						Hint("verify an exported part with: klrbac audit verify FILE --after SEQ:HASH")
				}
				rep, err := s.Verify(cmd.Context(), opts)
				if err != nil {
					return err
				}
				return reportVerify(a.io, s.Where(), rep, opts, f)
			}
			rep, err := audit.VerifyFile(path, opts)
			if err != nil {
				return err
			}
			return reportVerify(a.io, path, rep, opts, f)
		}),
	}
	c.Flags().StringVar(&expect, "expect-head", "", "SEQ:HASH from an earlier 'klrbac audit head': the log must still hold that entry")
	c.Flags().StringVar(&after, "after", "", "SEQ:HASH of the entry a part of the chain (an export --since, a rotated file) continues after")
	out.register(c, listFormats...)
	return c
}

// reportVerify renders a verify report of the trail at path (a file, or a database without its
// password) and gives its exit status.
func reportVerify(io *ui.IO, path string, rep *audit.Report, opts audit.VerifyOptions, f ui.Format) error {
	v := rep.Verification(path, opts)
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

// headFlag reads the SEQ:HASH given to --name (nil when it was not given); from says where such a
// value comes from, for the hint.
func headFlag(name, value, from string) (*audit.Head, error) {
	if value == "" {
		return nil, nil
	}
	h, err := audit.ParseHead(value)
	if err != nil {
		return nil, fault.Usagef("--%s: %v", name, err).
			Hint("pass SEQ:HASH exactly as " + from + ", e.g. 1234:9f86d081…")
	}
	return &h, nil
}
