package cmd

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
)

func newAuditImportCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE",
		Short: "Append a verified file log's entries to the team audit trail",
		Long: `Append the entries of a file log (one machine's audit.log) to the team audit trail, in
one transaction. The file must verify. Its entries keep their time, user and host and
take new seqs in the database's chain; an audit.imported entry and a row in audit_imports
record the file, its first and last seq and its head hash, so that the old chain stays
provable with 'klrbac audit verify FILE --expect-head'. A file is imported once.` + exitStatus(exitOK, exitFindings, exitUsage, exitUnavailable),
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.needAuditDB(cmd.Context(), pgstore.Options{StatementTimeout: time.Minute})
			if err != nil {
				return err
			}
			defer s.Close()
			res, err := s.Import(cmd.Context(), args[0], audit.Actor(os.Getenv))
			if err != nil {
				return err
			}
			fmt.Fprintf(a.io.Out, "imported %d entries of %s (head %s) into %s as seq %d-%d, recorded as seq %d\n",
				res.Entries, args[0], res.File, s.Where(), res.FirstSeq, res.LastSeq, res.Record)
			return nil
		},
	}
}
