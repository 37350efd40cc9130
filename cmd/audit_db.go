package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/fault"
)

// auditDB opens the team audit trail, or returns nil when audit.dsn is unset.
func (a *app) auditDB(ctx context.Context, opts pgstore.Options) (*pgstore.Store, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	dsn, err := pgstore.ResolveDSN(ctx, cfg.AuditDSN(), strings.HasPrefix(cfg.Source("audit.dsn"), "flag"), a.secrets)
	if err != nil || dsn == "" {
		return nil, err
	}
	opts.Notice = a.io.Notice
	return pgstore.Open(dsn, opts)
}

// needAuditDB is auditDB for the commands that only make sense with a database.
func (a *app) needAuditDB(ctx context.Context, opts pgstore.Options) (*pgstore.Store, error) {
	s, err := a.auditDB(ctx, opts)
	if err == nil && s == nil {
		err = fault.Configf("no team audit trail is configured").
			Hint("set audit.dsn in the config, KLRBAC_AUDIT_DSN, or store one with `klrbac audit set-dsn`")
	}
	return s, err
}

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
			fmt.Fprintf(a.io.Out, "audit database %s: schema version %d (%d step%s applied)\n", s.Where(), version, applied, plural(applied))
			return nil
		},
	}
}

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
			where, err := pgstore.KeepDSN(cmd.Context(), store, dsn)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.io.Out, "stored the audit DSN for %s in the keyring\n", where)
			fmt.Fprintln(a.io.Err, "hint: set audit.dsn: keyring in the config (or KLRBAC_AUDIT_DSN=keyring) to use it")
			return nil
		},
	}
}

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
				t, err := parseSince(since, time.Now())
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

// auditStore is what records go to: the team audit trail when audit.dsn is set (and then no local
// file is written), else the audit log file, whose recovery of an interrupted write onRecover is told.
func (a *app) auditStore(ctx context.Context, actor string, onRecover func(audit.Entry)) (audit.Store, error) {
	s, err := a.auditDB(ctx, pgstore.Options{})
	if err != nil {
		return nil, err
	}
	if s != nil {
		return s, nil
	}
	path, err := a.auditPath("")
	if err != nil {
		return nil, err
	}
	return audit.Open(path, audit.Options{Actor: actor, OnRecover: onRecover})
}
