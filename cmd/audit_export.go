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
--since starts at a time or a duration ago (90m, 7d, 2026-05-01); such a part starts
mid-chain, which verify reports as its start. FILE is written whole or not at all.` + exitStatus(exitOK, exitUsage, exitUnavailable),
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
				_, err := s.Export(cmd.Context(), a.io.Out, q)
				return err
			}
			n, err := s.ExportFile(cmd.Context(), args[0], q)
			if err == nil {
				a.io.Notice(fmt.Sprintf("exported %d entries from %s to %s", n, s.Where(), args[0]))
			}
			return err
		},
	}
	c.Flags().StringVar(&since, "since", "", "only entries since a time or for a duration: 2026-05-01, 90m, 7d")
	return c
}
