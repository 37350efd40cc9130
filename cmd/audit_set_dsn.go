package cmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/fault"
)

func newAuditSetDSNCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "set-dsn",
		Short: "Store the team audit trail's postgres:// URL in the keyring, read from stdin",
		Long: `Read a postgres:// URL from stdin (never from the command line, which other users can
see) and keep it in the keyring. Set audit.dsn to keyring (or KLRBAC_AUDIT_DSN=keyring)
to use it.` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Example: `  printf '%s\n' "$DSN" | klrbac audit set-dsn`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(io.LimitReader(a.io.In, 8<<10)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fault.Unavailablef("cannot read the DSN from stdin: %v", err)
			}
			dsn := strings.TrimSpace(line)
			if dsn == "" {
				return fault.Usagef("no DSN on stdin").Hint("pipe it in: printf '%s\\n' \"$DSN\" | klrbac audit set-dsn")
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			where, err := pgstore.KeepDSN(cmd.Context(), store, dsn, "the DSN on standard input")
			if err != nil {
				return err
			}
			fmt.Fprintf(a.io.Out, "stored the audit DSN for %s in the keyring\n", where)
			fmt.Fprintln(a.io.Err, "hint: set audit.dsn: keyring in the config (or KLRBAC_AUDIT_DSN=keyring) to use it")
			return nil
		},
	}
}
