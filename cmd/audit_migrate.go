package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/ui"
)

func newAuditMigrateCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the team audit trail's tables in PostgreSQL",
		Long: `Create or upgrade the audit_entries and schema_migrations tables of the team audit trail
(audit.dsn). klrbac does this itself on first use; run it explicitly, once, as a role
that may create tables when the roles klrbac runs as may only SELECT and INSERT. It is
safe to run again, and from several places at once.` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.needAuditDB(cmd.Context(), pgstore.Options{})
			if err != nil {
				return err
			}
			defer s.Close()
			applied, version, err := s.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.io.Out, "audit database %s: schema version %d (%d step%s applied)\n", s.Where(), version, applied, ui.Plural(applied))
			return nil
		},
	}
}
