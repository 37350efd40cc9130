package cmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
)

func newAuditExportCommand(a *app) *cobra.Command {
	var since string
	c := &cobra.Command{
		Use:   "export [FILE]",
		Short: "Write the team audit trail as a JSON-lines log that audit verify FILE accepts",
		Long: `Write the team audit trail's entries, in seq order, each line exactly as stored, to FILE
(or stdout): a file log that 'klrbac audit verify FILE' checks as it checks the database.
FILE is written whole or not at all, and the export names its head on stderr.

--since starts at a time or a duration ago (90m, 7d, 2026-05-01). Such a part continues
the chain after an entry it does not hold: the export names the entry its first line
links to, and 'klrbac audit verify FILE --after SEQ:HASH' checks the part against a head
kept from before (the previous export's, or an 'audit head'). Keep each export's head:
the next part must continue after it.` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Args: rangeArgs(0, 1, "at most one FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var q pgstore.Query
			if since != "" {
				t, err := audit.ParseSince(since, time.Now())
				if err != nil {
					return err
				}
				q.Since = t
			}
			s, err := a.needAuditDB(cmd.Context(), pgstore.Options{StatementTimeout: time.Minute})
			if err != nil {
				return err
			}
			defer s.Close()
			if len(args) == 0 {
				part, err := s.Export(cmd.Context(), a.io.Out, q)
				if err == nil {
					a.io.Notice(exported(part, s.Where(), "standard output", "FILE"))
				}
				return err
			}
			part, err := s.ExportFile(cmd.Context(), args[0], q)
			if err == nil {
				a.io.Notice(exported(part, s.Where(), args[0], args[0]))
			}
			return err
		},
	}
	c.Flags().StringVar(&since, "since", "", "only entries since a time or for a duration: 2026-05-01, 90m, 7d")
	return c
}

// exported says what an export wrote to dest, and how to verify it (file: its name in the
// command to run): a part that starts mid-chain needs --after.
func exported(part audit.Part, from, dest, file string) string {
	entries := "entries"
	if part.Entries == 1 {
		entries = "entry"
	}
	msg := fmt.Sprintf("exported %d %s from %s to %s", part.Entries, entries, from, dest)
	if part.Entries == 0 {
		return msg // nothing since then: no head of its own, nothing to continue after
	}
	msg += ", head " + part.Head.String()
	if part.After.Seq == 0 {
		return msg
	}
	return msg + fmt.Sprintf("\nthe part's first entry links to %s: it continues the chain if that is the head the part before it ended at (or an `audit head` kept from then): klrbac audit verify %s --after SEQ:HASH", part.After, file)
}
