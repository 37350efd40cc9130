package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/oauthflow"
	"github.com/klrbac/klrbac/internal/warn"
)

// auditState is what the app loads for the audit trail, on first use.
type auditState struct {
	log         *audit.Log
	db          *pgstore.Store // the team audit trail, when audit.dsn is set
	rules       []audit.Rule
	rulesLoaded bool
	actor       string
}

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
		Args: cobra.NoArgs,
	}
	c.AddCommand(newAuditTailCommand(a), newAuditVerifyCommand(a), newAuditHeadCommand(a), newAuditRecordCommand(a),
		newAuditMigrateCommand(a), newAuditSetDSNCommand(a), newAuditExportCommand(a), newAuditImportCommand(a))
	return c
}

// auditPath is the audit log to use: file when given, else --audit-log, $KLRBAC_AUDIT_LOG, then the
// config's audit.path. The flag and the variable beat any file setting, so they spare reading the
// config at all.
func (a *app) auditPath(file string) (string, error) {
	p := file
	if p == "" && a.opts.Flags != nil {
		if f := a.opts.Flags.Lookup("audit-log"); f != nil && f.Changed {
			p = f.Value.String()
		}
	}
	if p == "" {
		p = os.Getenv("KLRBAC_AUDIT_LOG")
	}
	if p == "" {
		cfg, err := a.config()
		if err != nil {
			return "", err
		}
		p = cfg.Path("audit.path")
	}
	if p == "" {
		return "", fault.Configf("no audit log location: neither XDG_STATE_HOME nor HOME is set").
			Hint("set KLRBAC_AUDIT_LOG, audit.path in the config, or pass --audit-log")
	}
	return config.ExpandHome(p), nil
}

// auditReady fails, as a later append would, when the audit log cannot take an entry now: asked
// before a command spends the user's time or makes a change it cannot take back.
func (a *app) auditReady(ctx context.Context) error {
	log, err := a.auditStore(ctx)
	if err != nil {
		return err
	}
	return log.Ready(ctx)
}

// auditLog opens the audit log for appending.
func (a *app) auditLog() (*audit.Log, error) {
	if a.audit.log != nil {
		return a.audit.log, nil
	}
	path, err := a.auditPath("")
	if err != nil {
		return nil, err
	}
	l, err := audit.Open(path, audit.Options{
		Actor: a.actor(),
		OnRecover: func(e audit.Entry) {
			fmt.Fprintf(a.io.Err, "klrbac: audit log %s ended with an interrupted write (%s); recorded its recovery as entry %d\n", path, e.Resource, e.Seq)
		},
	})
	if err != nil {
		return nil, err
	}
	a.audit.log = l
	return l, nil
}

// actor is who runs this klrbac, for the userId of its entries.
func (a *app) actor() string {
	if a.audit.actor == "" {
		a.audit.actor = audit.Actor(os.Getenv)
	}
	return a.audit.actor
}

// alertRules are the alert rules in force: the defaults, as the config's audit.alerts adjusts them.
func (a *app) alertRules() ([]audit.Rule, error) {
	if a.audit.rulesLoaded {
		return a.audit.rules, nil
	}
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	sec, _ := cfg.Raw("audit")
	rules, err := audit.Rules(cfg.File, sec.Value)
	if err != nil {
		return nil, err
	}
	a.audit.rules, a.audit.rulesLoaded = rules, true
	return rules, nil
}

// record appends e to the audit trail: it fills in the actor (userId) when e has none, marks e with
// the alert rules it matches, writes and fsyncs it, then delivers the alerts. The error, when the
// entry could not be written, is an Unavailable fault (exit 3) with hints; alert failures are not
// errors: they are reported on stderr and recorded as audit.alert_failed entries.
//
// Commands that change something call audited rather than record, so that nothing changes without
// its record; record is for facts, such as a decision or a validation result, written as they are
// established.
func (a *app) record(ctx context.Context, e audit.Entry) error {
	return a.recordAll(ctx, []audit.Entry{e})
}

// recordAll records several entries under one lock and one fsync.
func (a *app) recordAll(ctx context.Context, entries []audit.Entry) error {
	_, err := a.appendEntries(ctx, entries)
	return err
}

// appendEntries does the work of record and returns the entries as written.
func (a *app) appendEntries(ctx context.Context, entries []audit.Entry) ([]audit.Entry, error) {
	log, err := a.auditStore(ctx)
	if err != nil {
		return nil, err
	}
	rules, err := a.alertRules()
	if err != nil {
		return nil, err
	}
	fire := make([][]audit.Rule, len(entries))
	for i := range entries {
		if entries[i].UserID == "" {
			entries[i].UserID = a.actor()
		}
		fire[i] = audit.Mark(rules, &entries[i])
	}
	written, err := log.AppendAll(ctx, entries)
	if err != nil {
		return nil, err
	}
	a.deliverAlerts(ctx, log, written, fire)
	return written, nil
}

// audited performs a change only once its audit entry is on disk, so that nothing changes
// unrecorded. It records e (Success true: the change is being made) and then runs change; when the
// entry cannot be written, change never runs and the error says so (exit 3). When change fails, a
// second entry with the same action and resource, Success false and the error as Reason, follows.
func (a *app) audited(ctx context.Context, e audit.Entry, change func() error) error {
	e.Success = true
	if err := a.record(ctx, e); err != nil {
		return refuseUnrecorded(e.Action, e.Resource, err)
	}
	err := change()
	if err != nil {
		failed := e
		failed.Success, failed.Reason = false, "failed: "+err.Error()
		if rerr := a.record(ctx, failed); rerr != nil {
			warn.Printf(a.io.Err, "the failure of %s was not recorded: %v", e.Action, rerr)
		}
	}
	return err
}

// auditReadyFor is auditReady worded as the refusal audited would give for action on resource: for
// a command that asks the audit log before it spends the user's time or changes what Klaviyo sees,
// and must fail then as it would have failed later.
func (a *app) auditReadyFor(ctx context.Context, action, resource string) error {
	if err := a.auditReady(ctx); err != nil {
		return refuseUnrecorded(action, resource, err)
	}
	return nil
}

// refuseUnrecorded words the refusal to make a change whose audit entry (action on resource) could
// not be written: exit 3, or exit 2 when the config is what is broken.
func refuseUnrecorded(action, resource string, err error) error {
	what := strings.TrimSpace(action + " " + resource)
	if verb, ok := auditedActions[action]; ok {
		what = verb
		if resource != "" {
			what += " (" + resource + ")"
		}
	}
	return refuseWithoutRecord(what, err)
}

// refuseWithoutRecord words the refusal to do what ("validate keys") for want of its audit record.
func refuseWithoutRecord(what string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	if refusal := refuseDamaged(what, err); refusal != nil {
		return refusal
	}
	refusal := &fault.Error{Kind: auditFailureKind(err), Err: fmt.Errorf("refusing to %s without an audit record: %w", what, err)}
	if len(fault.Hints(err)) == 0 { // the audit log's own error usually says what to do already
		refusal.Hint("make the audit log writable, or point audit.path (KLRBAC_AUDIT_LOG, --audit-log) at a file that is")
	}
	return refusal
}

// auditFailureKind is the kind of a failure to write an audit record: a broken config stays a
// configuration error (exit 2); anything else is exit 3.
func auditFailureKind(err error) fault.Kind {
	if kind := fault.KindOf(err); kind == fault.Config || kind == fault.Usage {
		return kind
	}
	return fault.Unavailable
}

// auditActions are the actions klrbac records, for completing audit tail --action.
var auditActions = []string{"check", "config.init", "keys.set", "keys.rm", "keys.validate", "keys.calibrate",
	"oauth.set-secret", "oauth.rm-secret", oauthflow.ActionLogin, oauthflow.ActionRefresh, oauthflow.ActionRevoke,
	oauthflow.ActionLogout, audit.ActionRecovered, audit.ActionAlertFailed, pgstore.ActionImported}

// auditedActions words the changes that are refused without their audit record.
var auditedActions = map[string]string{
	"config.init":           "write the config file",
	"keys.set":              "store the key",
	"keys.rm":               "remove the key",
	"oauth.set-secret":      "store the client secret",
	"oauth.rm-secret":       "remove the client secret",
	oauthflow.ActionLogin:   "log in",
	oauthflow.ActionRefresh: "refresh the token set",
	oauthflow.ActionRevoke:  "revoke the grant",
}

// refuseDamaged words the refusal to do what when err is a damaged audit log (exit 3), whose own
// hints say what to do; for any other error it returns nil.
func refuseDamaged(what string, err error) error {
	var d *audit.DamagedError
	if !errors.As(err, &d) {
		return nil
	}
	return &fault.Error{Kind: fault.Unavailable, Err: fmt.Errorf("refusing to %s: %w", what, err)}
}

// deliverAlerts sends entries to the targets of the rules they matched, all at once, each within its
// rule's timeout. A failed delivery never loses the entry, which is already written: it is reported
// on stderr and recorded as an audit.alert_failed entry.
func (a *app) deliverAlerts(ctx context.Context, log auditStore, written []audit.Entry, fire [][]audit.Rule) {
	type failure struct {
		entry audit.Entry
		rule  string
		err   error
	}
	var (
		mu       sync.Mutex
		failures []failure
		wg       sync.WaitGroup
	)
	for i, rules := range fire {
		for _, r := range rules {
			e := written[i]
			wg.Go(func() {
				if err := (audit.Sender{}).Send(ctx, r, e.MarshalLine()); err != nil {
					mu.Lock()
					failures = append(failures, failure{e, r.Name, err})
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(failures) == 0 {
		return
	}
	var notes []audit.Entry
	for _, f := range failures {
		fmt.Fprintf(a.io.Err, "klrbac: alert %q for audit entry %d failed: %v\n", f.rule, f.entry.Seq, f.err)
		notes = append(notes, audit.Entry{
			UserID: a.actor(), Role: f.entry.Role, Action: audit.ActionAlertFailed, Resource: fmt.Sprintf("seq %d", f.entry.Seq),
			Reason: fmt.Sprintf("rule %s: %v", f.rule, f.err),
		})
	}
	if _, err := log.AppendAll(ctx, notes); err != nil {
		warn.Printf(a.io.Err, "the alert failure was not recorded: %v", err)
	}
}

// auditCheck records a check's decisions, as audit.checks asks: all of them, the denied ones, or
// none. --list is no decision and is not recorded.
//
// A check only reads, so a record that cannot be written does not fail it: failing would turn a
// broken or read-only state directory into a broken CI gate, and the answer is the same either way.
// The failure is reported on stderr, with how to stop auditing checks. A broken alerts section in the
// config is still a configuration error (exit 2), like any other.
func (a *app) auditCheck(ctx context.Context, res checkResult, opts checkOptions) error {
	if opts.list {
		return nil
	}
	cfg, err := a.config()
	if err != nil {
		return err
	}
	mode := cfg.String("audit.checks")
	if mode == "none" {
		return nil
	}
	entries := make([]audit.Entry, 0, len(res.view.Decisions))
	for _, d := range res.view.Decisions {
		if mode == "denied" && d.Allowed {
			continue
		}
		resource := d.Permission
		if resource == "" {
			resource = d.Operation
		}
		entries = append(entries, audit.Entry{Role: res.view.Role, Action: "check", Resource: resource, Success: d.Allowed, Reason: d.Reason})
	}
	if len(entries) == 0 {
		return nil
	}
	err = a.recordAll(ctx, entries)
	if err == nil || fault.KindOf(err) == fault.Config || fault.KindOf(err) == fault.Usage {
		return err
	}
	warn.Printf(a.io.Err, "check not audited: %v", err)
	for _, h := range fault.Hints(err) {
		fmt.Fprintf(a.io.Err, "hint: %s\n", h)
	}
	fmt.Fprintln(a.io.Err, "hint: to stop auditing checks, set audit.checks: none (or KLRBAC_AUDIT_CHECKS=none)")
	return nil
}
