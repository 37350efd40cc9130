package cmd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/oauthflow"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/suggest"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/klrbac/klrbac/internal/validate"
	"github.com/klrbac/klrbac/internal/warn"
)

// githubFormat prints GitHub Actions workflow commands (annotations) instead of a table.
const githubFormat ui.Format = "github"

type validateOptions struct {
	all           bool
	strict        bool
	allowExcess   bool
	requiredOnly  bool
	verbose       bool
	keyStdin      bool
	inventoryRole string
	inventoryApp  string
	concurrency   int
	timeout       time.Duration
	// requestTimeout bounds each call, retries each bounded anew.
	requestTimeout time.Duration
	calibrate      bool
	fullRole       string
	readOnlyRole   string
	format         ui.Format
}

func newKeysValidateCommand(a *app) *cobra.Command {
	var o validateOptions
	var output string
	c := &cobra.Command{
		Use:   "validate [ROLE...] [--all]",
		Short: "Prove that each role's key holds exactly the scopes the role needs",
		Long: `Prove, for each role, that its real Klaviyo key holds every scope the role needs (nothing
missing) and nothing more (least privilege): the CI gate for key drift.

Klaviyo cannot tell a key its own scopes, so klrbac learns them one of two ways:

  probe (the default): one request per scope, concurrently across roles, paced to
    Klaviyo's rate limits. Reads are GET lists of one item with a sparse fieldset, so no
    customer data comes back; writes are built to fail (an empty body to a nonexistent id).
    Scopes that only a beta operation uses are probed with the beta revision.
  inventory (--inventory-role ROLE): that role's key, which must hold credentials:read,
    lists the account's keys (the beta GET /api/api-keys); each role's key is found by its
    last four characters, and its scopes and status are read. Exact, and one call.
    --inventory-oauth APP lists them with an OAuth app's access token instead (granted
    credentials:read; klrbac oauth login APP), refreshed as needed.

What a probe's answer proves (nothing is granted without proof):
  - The answer must be Klaviyo's: an HTML page, JSON that is not JSON:API, or a redirect
    ends the run as undetermined (exit 3), naming what came back and from which host.
  - An error about the revision ends the run as a configuration error (exit 2): see
    klaviyo.revision.
  - A read is granted by a 2xx carrying a JSON:API document; a write by a 400 whose error
    points into the request body, or a 404 about the made-up object. These rest on Klaviyo
    checking scopes first, and are marked "inferred" until --calibrate confirms it (so is
    conversations:read, whose probe asks for a made-up profile).
  - A JSON:API 403 permission_denied proves a scope missing; a 401 rejects the key.
  - Anything else (an edge block, a 5xx, throttling outlasting the retries) leaves the scope
    undetermined with its reason, never missing. A role with an undetermined required scope
    is never valid.
  If a write probe ever succeeds, the whole run stops ("a probe was accepted; stopping to
  avoid side effects", exit 3). If a key's first probe gets no answer at all, its other
  scopes are left undetermined unsent, so an unreachable API fails in seconds.

A key must hold exactly what its role needs: a scope the role does not need is excess, a
finding (exit 1) unless --allow-excess, which reports it without failing. A role with
full_access (admin) is probed for its required scopes only and never reports excess.
--required-only probes only what the roles need: it finds what is missing, not excess.
Five scopes no operation of Klaviyo's uses (accounts:write, applications:write,
data-privacy:read, users:read, users:write): probing lists them as "not checked". --strict
asks for proof that a key holds nothing more: then they, and any undetermined scope, leave
the role undetermined (exit 3); the inventory checks them.

A calibration (--calibrate, with a full-access key --full-role and a read-only key
--read-only-role) establishes whether Klaviyo checks scopes before a write's body; it is
kept in klaviyo.calibration_file (KLRBAC_CALIBRATION_FILE), by default
$XDG_STATE_HOME/klrbac/calibration.json.

Each validated role is recorded in the audit trail (action keys.validate): role, verdict,
the key's fingerprint, missing and excess scopes, never the key. A CI gate fails closed:
when the audit log cannot take the record, nothing is sent and the command exits 3 (and
should the record fail all the same, it exits 3 after printing its results).

Exit 0 when every role is valid; 1 when a scope is missing or in excess, or the inventory
shows a key disabled or not found; 2 for a usage or configuration error (a revision Klaviyo
refuses); 3 when nothing is wrong but something could not be evaluated (a key rejected or
missing, a scope that decides the verdict undetermined, an API that is not Klaviyo). A
finding outranks what could not be evaluated.` + exitStatus(
			exitOK, exitFindings, exitUsage, exitUnavailable, exitInterrupted),
		Example: `  klrbac keys validate --all
  klrbac keys validate marketer viewer --strict
  klrbac keys validate service --allow-excess
  klrbac keys validate --all --inventory-role admin -o json
  klrbac keys validate --all --inventory-oauth key-audit
  klrbac keys validate --all -o github          # annotations in a GitHub Actions job
  klrbac keys validate --calibrate --full-role admin --read-only-role viewer`,
		ValidArgsFunction: a.complete(roleNames),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			formats := []ui.Format{ui.Table, ui.JSON, ui.YAML, githubFormat}
			if o.calibrate {
				formats = listFormats
			}
			f, err := outputFormat(output, formats...)
			if err != nil {
				return err
			}
			o.format = f
			if f == githubFormat {
				defer func() { annotateFailure(a.io, err) }()
			}
			if err := o.check(cmd, args); err != nil {
				return err
			}
			a.requestTimeout = o.requestTimeout
			pol, err := a.policy()
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			if o.calibrate {
				return a.runCalibrate(ctx, pol, o)
			}
			return a.runKeysValidate(ctx, pol, o, args)
		},
	}
	fs := c.Flags()
	fs.BoolVar(&o.all, "all", false, "validate every role of the policy")
	fs.BoolVar(&o.strict, "strict", false, "ask for proof that each key holds nothing more: a scope that could not be checked or determined fails the run (exit 3)")
	fs.BoolVar(&o.allowExcess, "allow-excess", false, "report scopes a role does not need without failing (by default they are a finding, exit 1)")
	fs.BoolVar(&o.requiredOnly, "required-only", false, "probe only the scopes the roles need: finds missing scopes, not excess")
	fs.StringVar(&o.inventoryRole, "inventory-role", "", "read scopes from the account's key inventory with this role's key (needs credentials:read)")
	fs.StringVar(&o.inventoryApp, "inventory-oauth", "", "read scopes from the account's key inventory with this OAuth app's access token (granted credentials:read; see klrbac oauth login)")
	fs.BoolVar(&o.keyStdin, "key-stdin", false, "read the key of the one ROLE from standard input")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "bound the whole run: a run that outlasts it ends as could not evaluate (exit 3)")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 15*time.Second, "bound each call to Klaviyo, each retry included")
	fs.IntVar(&o.concurrency, "concurrency", 0, "at most this many probes in flight (0: as many as the rate limits allow; 1: one at a time)")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "print each probe and its answer on stderr")
	fs.BoolVar(&o.calibrate, "calibrate", false, "establish whether Klaviyo checks scopes before a write's body, and store the result")
	fs.StringVar(&o.fullRole, "full-role", "", "with --calibrate: the role (or KLAVIYO_KEY_<NAME> name) of a full-access key (default: the policy's full_access role)")
	fs.StringVar(&o.readOnlyRole, "read-only-role", "", "with --calibrate: the role (or KLAVIYO_KEY_<NAME> name) of a key holding only read scopes")
	addOutputFlag(c, &output, ui.Table, ui.JSON, ui.YAML, githubFormat)
	_ = c.RegisterFlagCompletionFunc("inventory-role", a.complete(roleNames))
	_ = c.RegisterFlagCompletionFunc("inventory-oauth", a.complete(oauthAppNames))
	_ = c.RegisterFlagCompletionFunc("full-role", a.complete(roleNames))
	_ = c.RegisterFlagCompletionFunc("read-only-role", a.complete(roleNames))
	return c
}

// check rejects flag combinations that make no sense, before anything is read.
func (o *validateOptions) check(cmd *cobra.Command, args []string) error {
	usage := "usage: " + cmd.UseLine()
	for _, f := range []struct {
		flag, name string
		key        bool
	}{{"inventory-role", o.inventoryRole, true}, {"full-role", o.fullRole, true}, {"read-only-role", o.readOnlyRole, true}, {"inventory-oauth", o.inventoryApp, false}} {
		switch {
		case !cmd.Flags().Changed(f.flag):
		case f.name == "" && f.key:
			return fault.Usagef("--%s needs a NAME, not an empty value", f.flag).Hint(keyNameHint)
		case f.name == "":
			return fault.Usagef("--%s needs an OAuth app's name, not an empty value", f.flag).Hint("name an app you have logged in with (klrbac oauth login APP)")
		case f.key:
			if err := checkKeyName("--"+f.flag, f.name); err != nil {
				return err
			}
		}
	}
	if o.timeout <= 0 || o.requestTimeout <= 0 {
		return fault.Usagef("--timeout and --request-timeout must be positive durations").Hint("e.g. --timeout 2m --request-timeout 15s")
	}
	if o.concurrency < 0 {
		return fault.Usagef("--concurrency %d is negative", o.concurrency).Hint("use 0 (no bound but the rate limits) or a positive number")
	}
	if o.calibrate {
		switch {
		case len(args) > 0 || o.all:
			return fault.Usagef("--calibrate takes no roles to validate").Hint("calibrate first, then validate: klrbac keys validate --calibrate --full-role ROLE --read-only-role ROLE")
		case o.readOnlyRole == "":
			return fault.Usagef("--calibrate needs --read-only-role: a key holding only read scopes").
				Hint("name a role whose key has no write scope, or any NAME with the key in KLAVIYO_KEY_<NAME>")
		case o.inventoryRole != "" || o.inventoryApp != "" || o.strict || o.requiredOnly || o.keyStdin:
			return fault.Usagef("--calibrate cannot be combined with --inventory-role, --inventory-oauth, --strict, --required-only or --key-stdin").Hint(usage)
		}
		return nil
	}
	// The OAuth token stands where the role's key would: the same rules apply, told by the flag given.
	inventory := ""
	switch {
	case o.inventoryRole != "" && o.inventoryApp != "":
		return fault.Usagef("--inventory-role and --inventory-oauth name two inventory credentials; give one").Hint(usage)
	case o.inventoryRole != "":
		inventory = "--inventory-role"
	case o.inventoryApp != "":
		inventory = "--inventory-oauth"
	}
	switch {
	case o.fullRole != "" || o.readOnlyRole != "":
		return fault.Usagef("--full-role and --read-only-role go with --calibrate").Hint(usage)
	case o.all && len(args) > 0:
		return fault.Usagef("keys validate takes ROLE... or --all, not both").Hint(usage)
	case !o.all && len(args) == 0:
		return fault.Usagef("keys validate needs ROLE... or --all").Hint(usage)
	case o.keyStdin && len(args) != 1:
		return fault.Usagef("--key-stdin needs exactly one ROLE").Hint("the key read from standard input is that role's")
	case o.keyStdin && inventory != "":
		return fault.Usagef("--key-stdin cannot be combined with %s", inventory).Hint("store the key (klrbac keys set) or set its variable instead")
	case o.requiredOnly && inventory != "":
		return fault.Usagef("--required-only only applies to probing, not to %s", inventory).Hint("the inventory reads every scope in one call")
	}
	return nil
}

func (a *app) runKeysValidate(ctx context.Context, pol *policy.Policy, o validateOptions, args []string) error {
	roles := pol.Roles
	if !o.all {
		roles = nil
		for _, name := range args {
			r, err := pol.LookupRole(name)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(roles, func(x policy.Role) bool { return x.Name == r.Name }) {
				roles = append(roles, r)
			}
		}
	}
	store, err := a.secrets()
	if err != nil {
		return err
	}
	targets, err := a.validationTargets(ctx, store, pol, roles, o.keyStdin)
	if err != nil {
		return err
	}
	var src validate.InventorySource
	if o.inventoryRole != "" {
		if src, err = a.inventorySource(ctx, store, pol, o.inventoryRole); err != nil {
			return err
		}
	}
	opts, calibrationFile, err := a.probeOptions(ctx, "keys.validate")
	if err != nil {
		return err
	}
	opts.RequiredOnly, opts.Strict, opts.AllowExcess, opts.Concurrency = o.requiredOnly, o.strict, o.allowExcess, o.concurrency
	opts.Timeout = o.timeout
	opts.Calibration = a.loadCalibration(calibrationFile, opts.APIURL, opts.Revision)
	guard := opts.Guard
	if o.inventoryApp != "" {
		if src, err = a.oauthInventorySource(ctx, o.inventoryApp); err != nil {
			return err
		}
	}

	progress := a.io.NewProgress()
	start := time.Now()
	opts.Observe = func(e validate.Event) {
		if o.verbose {
			progress.Println(probeLine(e))
		}
		progress.Update(progressLine(e, time.Since(start)))
	}
	var rep *validate.Report
	if src.Name != "" {
		progress.Update("listing the account's keys with " + src.Name + "...")
		rep, err = validate.Inventory(ctx, targets, src, opts)
	} else {
		rep, err = validate.Probe(ctx, targets, opts)
	}
	progress.Done()
	if err != nil {
		// A run that sent anything leaves its trace, however it ended: interrupted, timed out,
		// stopped by the guard, an API that is not Klaviyo, an inventory that failed.
		var stopped *validate.RunError
		if errors.As(err, &stopped) && (stopped.Requests > 0 || guard.Tripped()) {
			a.auditStopped(ctx, targets, stopped.Reason())
		}
		return err
	}
	if err := a.renderValidation(rep, o); err != nil {
		return err
	}
	if err := a.auditValidation(ctx, rep); err != nil {
		return err
	}
	switch rep.Summary.Result {
	case validate.ResultInvalid:
		return fault.Silent(fault.Findings)
	case validate.ResultIncomplete:
		return fault.Silent(fault.Unavailable)
	}
	return nil
}

// validationTargets resolves each role's key, concurrently where it comes from the keyring. A role
// whose key is missing or unreadable is validated as far as it can be (not at all) and reported; a
// variable holding something that is not a key is a configuration error for the whole run.
func (a *app) validationTargets(ctx context.Context, store secrets.Store, pol *policy.Policy, roles []policy.Role, keyStdin bool) ([]validate.Target, error) {
	targets := make([]validate.Target, len(roles))
	for i, r := range roles {
		targets[i] = validate.Target{Role: r.Name, Required: pol.RequiredScopes(r), FullAccess: r.FullAccess}
	}
	if keyStdin {
		res, err := secrets.ResolveRoleKey(ctx, store, roles[0], secrets.ResolveOptions{Stdin: a.io.In})
		if err != nil {
			return nil, err
		}
		targets[0].KeySource, targets[0].Key, targets[0].AccountID = res.Source.String(), klaviyo.PrivateKey(res.Value.Reveal()), res.AccountID
		return targets, nil
	}
	for i, k := range secrets.RoleKeys(ctx, store, roles, os.Getenv, false) {
		t := &targets[i]
		switch kind := fault.KindOf(k.Err); {
		case k.Err != nil && (kind == fault.Config || kind == fault.Usage):
			return nil, k.Err
		case k.Err != nil:
			t.KeySource, t.Err = k.Source.String(), k.Err
			if k.Source.Kind == "" {
				t.KeySource = "unknown"
			}
		case k.Source.Kind == "":
			t.KeySource = "none"
			t.Err = &secrets.MissingError{What: "key for role " + k.Role, Env: k.Env, Off: secrets.IsOff(store)}
		default:
			t.KeySource, t.Key, t.AccountID = k.Source.String(), klaviyo.PrivateKey(k.Key.Reveal()), k.AccountID
		}
	}
	return targets, nil
}

// keyNameHint says what a NAME of --inventory-role, --full-role and --read-only-role may be.
const keyNameHint = "name a role of the policy, or any NAME whose key is in KLAVIYO_KEY_<NAME>"

// checkKeyName refuses a NAME that cannot name a role or a key's variable, before it is repeated in
// a variable's name or a hint: a key given in its place is refused without being repeated.
func checkKeyName(flag, name string) error {
	if mask.LooksSecret(name) {
		return fault.Usagef("invalid %s: the name given looks like a credential, so it is not repeated here", flag).
			Hint("klrbac never takes a key as an argument: "+keyNameHint, "store a role's key with klrbac keys set ROLE")
	}
	ok := len(name) <= 64 && name != "" && (name[0] >= 'a' && name[0] <= 'z' || name[0] >= 'A' && name[0] <= 'Z')
	for i := 1; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	if !ok {
		return fault.Usagef("invalid %s %q: not a role or variable name", flag, name).
			Hint("use up to 64 letters, digits, '-' and '_', starting with a letter: " + keyNameHint)
	}
	return nil
}

// resolveNamedKey finds the key of a role of the policy, or of any NAME whose key is in
// KLAVIYO_KEY_<NAME> or the keyring's role:<NAME>: calibration and the inventory may use a key no
// role holds. A NAME that is neither a role nor has a key anywhere is most likely a mistyped role,
// so it is a usage error that suggests the roles it is close to; when the keyring cannot be read,
// whether it has a key is not known, and the keyring's error (exit 3) carries the suggestion.
func resolveNamedKey(ctx context.Context, store secrets.Store, pol *policy.Policy, flag, name string) (secrets.Resolved, error) {
	r, isRole := pol.Role(name)
	if !isRole {
		r = policy.Role{Name: name}
	}
	res, err := secrets.ResolveRoleKey(ctx, store, r, secrets.ResolveOptions{})
	if isRole || err == nil {
		return res, err
	}
	suggestion := suggest.Hint(suggest.Closest(name, pol.RoleNames(), 3))
	var missing *secrets.MissingError
	if !errors.As(err, &missing) {
		return res, fault.Wrap(fault.KindOf(err), err).Hint(suggestion)
	}
	where := "the keyring holds none"
	if missing.Off {
		where = "the keyring is off"
	}
	return res, fault.Usagef("unknown role %q for %s: the policy has no such role, and %s is not set and %s", name, flag, missing.Env, where).
		Hint(suggestion, "a NAME that is no role of the policy needs its key in "+missing.Env)
}

// inventorySource is the credential that lists the account's keys: a role's private key
// (--inventory-role); oauthInventorySource is the other kind, an OAuth app's access token.
func (a *app) inventorySource(ctx context.Context, store secrets.Store, pol *policy.Policy, role string) (validate.InventorySource, error) {
	res, err := resolveNamedKey(ctx, store, pol, "--inventory-role", role)
	if err != nil {
		return validate.InventorySource{}, err
	}
	cred := klaviyo.PrivateKey(res.Value.Reveal())
	return validate.InventorySource{
		Name:       "role " + role,
		AccountID:  res.AccountID,
		Credential: func(context.Context) (klaviyo.Credential, error) { return cred, nil },
	}, nil
}

// oauthInventorySource lists the account's keys with an OAuth app's access token, refreshed when
// it is about to expire, under the app's own rate-limit quota.
func (a *app) oauthInventorySource(ctx context.Context, name string) (validate.InventorySource, error) {
	// Fetch now, so that a missing login fails before any probe is planned.
	cred, err := a.oauthAccessToken(ctx, name)
	if err != nil {
		return validate.InventorySource{}, err
	}
	return validate.InventorySource{
		Name:       "OAuth app " + name,
		AccountID:  oauthflow.Quota(name),
		Credential: func(context.Context) (klaviyo.Credential, error) { return cred, nil },
	}, nil
}

// probeOptions prepares a run that sends probes (action: keys.validate, keys.calibrate): it refuses
// the run when the audit log could not take its record (a CI gate fails closed, and finding that out
// after every probe has been sent wastes them, and the user's time), and starts its options with a client to the
// configured Klaviyo whose transport is a side-effect guard of the run's own, so that the run stops
// as soon as a write built to fail succeeds. calibrationFile is where calibrations are kept.
func (a *app) probeOptions(ctx context.Context, action string) (opts validate.Options, calibrationFile string, err error) {
	cfg, err := a.config()
	if err != nil {
		return opts, "", err
	}
	kopts, err := a.klaviyoOptions()
	if err != nil {
		return opts, "", err
	}
	if err := a.trail().Ready(ctx, action, ""); err != nil {
		return opts, "", err
	}
	guard := validate.NewGuard(nil)
	timeout := a.requestTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	kopts.HTTPClient = &http.Client{Transport: guard, Timeout: timeout}
	client := klaviyo.New(kopts)
	opts = validate.Options{Client: client, APIURL: client.APIURL(), Revision: client.Revision(), Guard: guard}
	return opts, cfg.CalibrationFile(), nil
}

// loadCalibration reads what --calibrate stored for this API URL and revision. A damaged file is
// reported and read as uncalibrated: write results are then marked inferred, the safe side.
func (a *app) loadCalibration(path, apiURL, revision string) validate.Calibration {
	c, err := validate.LoadCalibration(path, apiURL, revision)
	if err != nil {
		warn.Printf(a.io.Err, "%v; write results are marked inferred", err)
		fmt.Fprintln(a.io.Err, "hint: run klrbac keys validate --calibrate again to replace it")
	}
	return c
}

func probeLine(e validate.Event) string {
	f := e.Finding
	answer := f.Answer.String()
	if f.Answer == validate.NotChecked {
		answer = "key rejected"
	}
	if f.Inferred {
		answer += " (inferred)"
	}
	return fmt.Sprintf("%s %s: %s: %s -> %s: %s", strings.Join(e.Roles, ","), e.Key, f.Scope, f.Request, f.Reason, answer)
}

func progressLine(e validate.Event, elapsed time.Duration) string {
	left := e.Estimate - elapsed
	if e.Done > 0 {
		left = max(left, time.Duration(float64(elapsed)/float64(e.Done)*float64(e.Total-e.Done)))
	}
	eta := ""
	if e.Done < e.Total {
		eta = fmt.Sprintf(", about %s left", max(left, 0).Round(time.Second))
	}
	return fmt.Sprintf("validating: %d/%d roles, %d/%d probes%s", e.RolesDone, e.RolesTotal, e.Done, e.Total, eta)
}

// renderValidation prints the report in the chosen format.
func (a *app) renderValidation(rep *validate.Report, o validateOptions) error {
	switch o.format {
	case ui.JSON, ui.YAML:
		return a.io.Encode(o.format, rep)
	case githubFormat:
		return writeAnnotations(a.io, rep)
	}
	io := a.io
	rows := make([][]string, len(rep.Roles))
	for i, rr := range rep.Roles {
		inferred := func(scopes []string) []string {
			out := make([]string, len(scopes))
			for j, s := range scopes {
				out[j] = s
				if slices.Contains(rr.Inferred, s) {
					out[j] += " (inferred)"
				}
			}
			return out
		}
		rows[i] = []string{rr.Role, rr.KeySource, string(rr.Method), paintVerdict(io, rr.Verdict),
			brief(inferred(rr.Missing)), brief(inferred(rr.Excess)), brief(rr.Undetermined)}
	}
	if err := io.Table([]string{"ROLE", "KEY SOURCE", "METHOD", "VERDICT", "MISSING", "EXCESS", "UNDETERMINED"}, rows); err != nil {
		return err
	}
	a.validationNotes(rep)
	return nil
}

// brief lists a few scopes: a table cell holding thirty is unreadable; -o json lists them all.
func brief(scopes []string) string {
	const shown = 4
	if len(scopes) > shown+1 {
		return strings.Join(scopes[:shown], ", ") + fmt.Sprintf(" and %d more", len(scopes)-shown)
	}
	return dash(scopes)
}

func paintVerdict(io *ui.IO, v validate.Verdict) string {
	switch v {
	case validate.VerdictValid:
		return io.Green(string(v))
	case validate.VerdictUndetermined:
		return io.Yellow(string(v))
	}
	return io.Red(string(v))
}

// validationNotes explains, on stderr, what the table cannot: why a role failed or a scope is
// undetermined, and what inferred means. Roles with the same note share one line.
func (a *app) validationNotes(rep *validate.Report) {
	w := a.io.Err
	var order []string
	roles := map[string][]string{}
	note := func(role, text string) {
		if _, seen := roles[text]; !seen {
			order = append(order, text)
		}
		roles[text] = append(roles[text], role)
	}
	for _, rr := range rep.Roles {
		for _, p := range rr.Problems {
			note(rr.Role, p)
		}
		byReason := map[string][]string{}
		for _, s := range rr.Undetermined {
			byReason[rr.Reasons[s]] = append(byReason[rr.Reasons[s]], s)
		}
		reasons := make([]string, 0, len(byReason))
		for r := range byReason {
			reasons = append(reasons, r)
		}
		sort.Slice(reasons, func(i, j int) bool { return byReason[reasons[i]][0] < byReason[reasons[j]][0] })
		for _, r := range reasons {
			note(rr.Role, brief(byReason[r])+" undetermined: "+r)
		}
		if len(rr.NotChecked) > 0 && !rep.Strict {
			note(rr.Role, "not checked: "+brief(rr.NotChecked)+": no operation of Klaviyo's uses them, so no probe can tell; the inventory (--inventory-role ROLE) checks them")
		}
		if rr.WritesInferred {
			note(rr.Role, "write scopes granted by a 400 or 404 are inferred: whether Klaviyo checks scopes before a write's body is not calibrated for this API; run klrbac keys validate --calibrate --full-role ROLE --read-only-role ROLE")
		}
	}
	for _, text := range order {
		fmt.Fprintf(w, "note: %s: %s\n", strings.Join(roles[text], ", "), text)
	}
	if rep.Calibration.State == validate.Refuted && rep.Method == validate.ByProbe {
		fmt.Fprintln(w, "note: calibration found that Klaviyo validates a write's body before its scopes, so write probes cannot prove a scope: use --inventory-role ROLE for exact answers")
	}
}

// writeAnnotations prints GitHub Actions workflow commands: an error per finding (a warning for
// excess without --strict) and a notice per valid role.
func writeAnnotations(io *ui.IO, rep *validate.Report) error {
	var b strings.Builder
	emit := func(level, role, msg string) {
		b.WriteString("::" + level + " title=" + escapeProperty("klrbac keys validate: "+role) + "::" + escapeData(msg) + "\n")
	}
	for _, rr := range rep.Roles {
		who := fmt.Sprintf("role %s's key (%s, %s)", rr.Role, orDash(rr.Key), rr.KeySource)
		inferred := func(s string) string {
			if slices.Contains(rr.Inferred, s) {
				return " (inferred: Klaviyo's check order is not calibrated)"
			}
			return ""
		}
		for _, p := range rr.Problems {
			emit("error", rr.Role, who+": "+p)
		}
		for _, s := range rr.Missing {
			emit("error", rr.Role, fmt.Sprintf("%s lacks %s, which the role needs%s", who, s, inferred(s)))
		}
		level := "error"
		if rep.AllowExcess {
			level = "warning"
		}
		for _, s := range rr.Excess {
			emit(level, rr.Role, fmt.Sprintf("%s holds %s, which the role does not need%s", who, s, inferred(s)))
		}
		if rr.Verdict == validate.VerdictUndetermined {
			for _, s := range rr.Undetermined {
				emit("error", rr.Role, fmt.Sprintf("%s: %s could not be determined: %s", who, s, rr.Reasons[s]))
			}
		}
		if len(rr.NotChecked) > 0 && !rep.Strict {
			emit("notice", rr.Role, fmt.Sprintf("%s: not checked: %s (no operation of Klaviyo's uses them; the inventory (--inventory-role ROLE) checks them)", who, strings.Join(rr.NotChecked, ", ")))
		}
		if rr.Verdict == validate.VerdictValid {
			emit("notice", rr.Role, fmt.Sprintf("%s holds every scope the role needs (%d, by %s)", who, len(rr.Required), rr.Method))
		}
	}
	_, err := fmt.Fprint(io.Out, b.String())
	return err
}

// annotateFailure prints, for -o github, the error that ended a run as a whole (the guard tripped,
// the keys could not be listed, no audit record) as one ::error annotation, besides the usual
// message on stderr: a CI log shows annotations first, and a run that failed as a whole has no
// per-role annotation to show. Findings already annotated (a silent error) and interruptions are
// not repeated.
func annotateFailure(io *ui.IO, err error) {
	if err == nil || fault.IsSilent(err) || exitCode(err) == exitInterrupted {
		return
	}
	lines := []string{err.Error()}
	for _, h := range fault.Hints(err) {
		lines = append(lines, "hint: "+h)
	}
	msg := mask.InText(strings.Join(lines, "\n"))
	fmt.Fprintf(io.Out, "::error title=%s::%s\n", escapeProperty("klrbac keys validate"), escapeData(msg))
}

// escapeData and escapeProperty follow the escaping of GitHub Actions workflow commands: a
// message may not hold %, CR or LF as such, and a property value not : or , either.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// auditValidation records each role's result. A validation changes nothing, but it is the
// evidence a CI gate ran: a result that could not be recorded fails the run (exit 3), after the
// results are printed.
func (a *app) auditValidation(ctx context.Context, rep *validate.Report) error {
	entries := make([]audit.Entry, len(rep.Roles))
	endpoint := ""
	if rep.Method == validate.ByInventory {
		endpoint = "GET /api/api-keys"
	}
	for i, rr := range rep.Roles {
		// Which credential listed the keys matters to whoever reads the trail: a role's key and an
		// OAuth app's token are different grants, held and revoked by different people.
		method := string(rr.Method)
		if rr.Method == validate.ByInventory && rep.Inventory != "" {
			method += " (" + rep.Inventory + ")"
		}
		if rr.Method == validate.ByProbe && len(rr.Checked) > 0 {
			// Probing makes a call per scope, too many for klaviyoEndpoint's one: say how many.
			method += fmt.Sprintf(" (%d scope%s checked)", len(rr.Checked), plural(len(rr.Checked)))
		}
		reason := fmt.Sprintf("%s by %s; missing: %s; excess: %s; undetermined: %s", rr.Verdict, method,
			dashNone(rr.Missing), dashNone(rr.Excess), dashNone(rr.Undetermined))
		if len(rr.Problems) > 0 {
			reason += "; " + strings.Join(rr.Problems, "; ")
		}
		entries[i] = audit.Entry{Role: rr.Role, Action: "keys.validate", Resource: secrets.RoleKeyItem(rr.Role).String(),
			Success: rr.Verdict == validate.VerdictValid, KlaviyoEndpoint: endpoint, Fingerprint: rr.KeyFingerprint, Reason: reason}
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := a.trail().Record(ctx, entries...); err != nil {
		return (&fault.Error{Kind: audit.FailureKind(err), Err: fmt.Errorf("the validation was not audited: %w", err)}).
			Hint("a CI gate without its record fails closed: make the audit log writable, or point audit.path (KLRBAC_AUDIT_LOG, --audit-log) at a file that is")
	}
	return nil
}

// auditStopped records, for each role, a run that ended before its report, and how (reason). An
// interrupted run's context has ended: the record is written all the same, under a bound of its own.
func (a *app) auditStopped(ctx context.Context, targets []validate.Target, reason string) {
	entries := make([]audit.Entry, 0, len(targets))
	for _, t := range targets {
		entries = append(entries, audit.Entry{Role: t.Role, Action: "keys.validate", Resource: secrets.RoleKeyItem(t.Role).String(),
			Fingerprint: t.Key.Fingerprint(), Reason: reason})
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := a.trail().Record(ctx, entries...); err != nil {
		warn.Printf(a.io.Err, "the stopped validation was not audited: %v", err)
	}
}

func dashNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
