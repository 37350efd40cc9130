package cmd

import (
	"context"
	"maps"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/oauthflow"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/proxy"
)

func newAuditCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Read, follow and verify the tamper-evident audit trail",
		Long: `Read, follow and verify klrbac's audit trail.

Every audited action (check decisions, config init, key and OAuth changes) appends one
JSON line to the audit log, chained to the one before by SHA-256: editing, deleting,
inserting or reordering entries shows up in 'klrbac audit verify'. Keep the output of
'klrbac audit head' somewhere else to catch a log cut short or rewritten as a whole.

The log is audit.path in the config (KLRBAC_AUDIT_LOG, --audit-log), by default
$XDG_STATE_HOME/klrbac/audit.log.` + exitStatus(exitOK, exitFindings, exitUsage, exitUnavailable, exitInterrupted),
		Args: noArgs,
	}
	c.AddCommand(newAuditTailCommand(a), newAuditVerifyCommand(a), newAuditHeadCommand(a), newAuditRecordCommand(a),
		newAuditMigrateCommand(a), newAuditSetDSNCommand(a), newAuditExportCommand(a), newAuditImportCommand(a))
	return c
}

// auditLocation is where the audit trail is: the log file args name (an empty name: audit.path), else
// the team audit trail when audit.dsn is set (db, which the caller closes), else audit.path as
// configured.
func (a *app) auditLocation(ctx context.Context, args []string, opts pgstore.Options) (db *pgstore.Store, path string, err error) {
	if len(args) == 0 {
		if db, err = a.auditDB(ctx, opts); err != nil || db != nil {
			return db, "", err
		}
	} else if args[0] != "" {
		return nil, config.ExpandHome(args[0]), nil
	}
	cfg, err := a.config()
	if err != nil {
		return nil, "", err
	}
	path, err = cfg.AuditPath()
	return nil, path, err
}

// trail is the audit trail, built on first use over the configured store. A store that cannot be
// opened (no location, a broken config) is still a trail: every record is then refused in the
// trail's own words, as one that failed later would be.
func (a *app) trail() *audit.Trail {
	if a.audit != nil {
		return a.audit
	}
	actor := audit.Actor(os.Getenv)
	var t *audit.Trail
	store, err := a.auditStore(context.Background(), actor, func(e audit.Entry) { t.NoteRecovered(e) })
	if err != nil {
		store = audit.Unavailable("", err)
	}
	// The alert rules in force: the defaults, as the config's audit.alerts adjusts them.
	rules := func() ([]audit.Rule, error) {
		cfg, err := a.config()
		if err != nil {
			return nil, err
		}
		return cfg.AlertRules()
	}
	t = audit.NewTrail(store, audit.TrailOptions{Actor: actor, Rules: rules, Changes: auditedActions, Warn: a.io.Err})
	a.audit = t
	return t
}

// auditActions are the actions klrbac records (for completing audit tail --action, and for audit
// record to refuse as its own): the audited changes, then those recorded without refusing anything.
func auditActions() []string {
	return append(slices.Sorted(maps.Keys(auditedActions)), policy.ActionCheck, oauthflow.ActionLogout,
		audit.ActionRecovered, audit.ActionAlertFailed, pgstore.ActionImported, "GET", "POST", "PUT", "PATCH", "DELETE")
}

// auditedActions words what the actions that are refused without their audit record do.
var auditedActions = map[string]string{
	config.ActionInit:       "write the config file",
	"keys.set":              "store the key",
	"keys.rm":               "remove the key",
	"keys.validate":         "validate keys",
	"keys.calibrate":        "calibrate",
	"oauth.set-secret":      "store the client secret",
	"oauth.rm-secret":       "remove the client secret",
	oauthflow.ActionLogin:   "log in",
	oauthflow.ActionRefresh: "refresh the token set",
	oauthflow.ActionRevoke:  "revoke the grant",
	proxy.ActionTokenCreate: "create the proxy token",
	proxy.ActionTokenRevoke: "revoke the proxy token",
}

// auditDB opens the team audit trail, or returns nil when audit.dsn is unset.
func (a *app) auditDB(ctx context.Context, opts pgstore.Options) (*pgstore.Store, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	dsn, err := pgstore.ResolveDSN(ctx, cfg.AuditDSN(), cfg.AuditDSNFromFlag(), a.secrets)
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

// auditStore is what records go to: the team audit trail when audit.dsn is set (and then no local
// file is written), else the audit log file, whose recovery of an interrupted write onRecover is told.
func (a *app) auditStore(ctx context.Context, actor string, onRecover func(audit.Entry)) (audit.Store, error) {
	db, path, err := a.auditLocation(ctx, nil, pgstore.Options{})
	switch {
	case err != nil:
		return nil, err
	case db != nil:
		return db, nil
	}
	return audit.Open(path, audit.Options{Actor: actor, OnRecover: onRecover})
}
