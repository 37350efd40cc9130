package cmd

import (
	"context"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/oauthflow"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/klrbac/klrbac/internal/validate"
)

// githubFormat prints GitHub Actions workflow commands (annotations) instead of a table.
const githubFormat ui.Format = "github"

type validateOptions struct {
	validate.Request
	verbose bool
	format  ui.Format
}

func newKeysValidateCommand(a *app) *cobra.Command {
	var o validateOptions
	var out outputFlag
	c := &cobra.Command{
		Use:   "validate [ROLE...] [--all]",
		Short: "Prove that each role's key holds exactly the scopes the role needs",
		Long: `Prove, for each role, that its real Klaviyo key holds every scope the role needs (nothing
missing) and nothing more (least privilege): the CI gate for key drift.

Klaviyo cannot tell a key its own scopes, so klrbac learns them one of two ways (--method):

  inventory: a key holding credentials:read lists the account's keys (the beta GET
    /api/api-keys); each role's key is matched by its account and last four characters,
    and its scopes, status and age are read. Exact, and one call. The credential is
    --inventory-role ROLE's key or --inventory-oauth APP's access token (granted
    credentials:read; klrbac oauth login APP), else a full-access role's key, else any
    role's key that holds credentials:read. Two keys ending alike that differ are settled
    by probing only the scopes that tell them apart (auto), or left undetermined.
  probe: one request per scope, concurrently across roles, paced to Klaviyo's rate
    limits. Reads are GET lists of one item with a sparse fieldset, so no customer data
    comes back; writes are built to fail (an empty body to a nonexistent id). Scopes that
    only a beta operation uses are probed with the beta revision. A run that cannot end
    within --timeout at the paced rate is refused before anything is sent (exit 2).
  auto (the default) reads the inventory when a credential can list it, and probes
    otherwise, saying why.

With the inventory, --all also names the account's keys no role uses, and --max-key-age
makes a key older than it a finding.

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
  klrbac keys validate --all --inventory-role admin --max-key-age 180d -o json
  klrbac keys validate developer --method probe
  klrbac keys validate --all --inventory-oauth key-audit
  klrbac keys validate --all -o github          # annotations in a GitHub Actions job
  klrbac keys validate --calibrate --full-role admin --read-only-role viewer`,
		ValidArgsFunction: a.complete(roleNames),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			formats := out.formats
			if o.Calibrate {
				formats = listFormats
			}
			f, err := ui.ParseFormat(out.value, formats...)
			if err != nil {
				return err
			}
			o.format = f
			if f == githubFormat {
				defer func() { annotateFailure(a.io, err) }()
			}
			o.Roles, o.Given = args, map[string]bool{}
			cmd.Flags().Visit(func(f *pflag.Flag) { o.Given[f.Name] = true })
			if err := o.Check(cmd.UseLine()); err != nil {
				return err
			}
			cfg, err := a.config()
			if err != nil {
				return err
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			if o.Calibrate {
				opts := validate.Guarded(klaviyoOptionsFor(cfg), o.RequestTimeout)
				return runCalibrate(ctx, a.io, store, cfg.Policy, a.trail, opts, cfg.CalibrationFile(), o)
			}
			return a.runKeysValidate(ctx, cfg, store, o)
		},
	}
	fs := c.Flags()
	fs.BoolVar(&o.All, "all", false, "validate every role of the policy")
	fs.BoolVar(&o.Strict, "strict", false, "ask for proof that each key holds nothing more: a scope that could not be checked or determined fails the run (exit 3)")
	fs.BoolVar(&o.AllowExcess, "allow-excess", false, "report scopes a role does not need without failing (by default they are a finding, exit 1)")
	fs.BoolVar(&o.RequiredOnly, "required-only", false, "probe only the scopes the roles need: finds missing scopes, not excess")
	fs.StringVar(&o.Method, "method", "auto", "how to learn each key's scopes: auto (the key inventory when a credential can list it, else probing), inventory or probe")
	fs.StringVar(&o.MaxKeyAge, "max-key-age", "", "a key older than this is a finding (180d, 26w, 4320h); needs the inventory, which knows when keys were made")
	fs.StringVar(&o.InventoryRole, "inventory-role", "", "read scopes from the account's key inventory with this role's key (needs credentials:read)")
	fs.StringVar(&o.InventoryApp, "inventory-oauth", "", "read scopes from the account's key inventory with this OAuth app's access token (granted credentials:read; see klrbac oauth login)")
	fs.BoolVar(&o.KeyStdin, "key-stdin", false, "read the key of the one ROLE from standard input")
	fs.DurationVar(&o.Timeout, "timeout", validate.DefaultTimeout, "bound the whole run: a run that outlasts it ends as could not evaluate (exit 3)")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", validate.DefaultRequestTimeout, "bound each call to Klaviyo, each retry included")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "at most this many probes in flight (0: as many as the rate limits allow; 1: one at a time)")
	// No -v: at the root -v is --version, and one letter has one meaning in klrbac.
	fs.BoolVar(&o.verbose, "verbose", false, "print each probe and its answer on stderr")
	fs.BoolVar(&o.Calibrate, "calibrate", false, "establish whether Klaviyo checks scopes before a write's body, and store the result")
	fs.StringVar(&o.FullRole, "full-role", "", "with --calibrate: the role (or KLAVIYO_KEY_<NAME> name) of a full-access key (default: the policy's full_access role)")
	fs.StringVar(&o.ReadOnlyRole, "read-only-role", "", "with --calibrate: the role (or KLAVIYO_KEY_<NAME> name) of a key holding only read scopes")
	out.register(c, ui.Table, ui.JSON, ui.YAML, githubFormat)
	_ = c.RegisterFlagCompletionFunc("inventory-role", a.complete(roleNames))
	_ = c.RegisterFlagCompletionFunc("inventory-oauth", a.complete(oauthAppNames))
	_ = c.RegisterFlagCompletionFunc("full-role", a.complete(roleNames))
	_ = c.RegisterFlagCompletionFunc("read-only-role", a.complete(roleNames))
	return c
}

func (a *app) runKeysValidate(ctx context.Context, cfg *config.Config, store secrets.Store, o validateOptions) error {
	// The progress line starts with the run's first request: the steps before it (finding the keys,
	// the audit trail's readiness, the inventory credential) may fail, and then show nothing.
	progress := a.io.NewProgress()
	var start time.Time
	rep, err := o.Run(ctx, validate.Deps{
		Credentials: validate.Credentials{Store: store, Policy: cfg.Policy, Apps: oauthAppNames(cfg), Quota: oauthflow.Quota,
			App: func(name string) (validate.OAuthApp, error) {
				k, err := a.oauthKeeper(name)
				if err != nil {
					return nil, err
				}
				return k, nil
			}},
		Stdin:           a.io.In,
		Getenv:          os.Getenv,
		Trail:           func() validate.Trail { return a.trail() },
		Klaviyo:         klaviyoOptionsFor(cfg),
		CalibrationFile: cfg.CalibrationFile(),
		Stderr:          a.io.Err,
		Starting: func(src validate.InventorySource, method validate.Method) {
			start = time.Now()
			switch {
			case src.Name != "":
				progress.Update("listing the account's keys with " + src.Name + "...")
			case method != validate.ByProbe:
				progress.Update("reading the account's key inventory...")
			}
		},
		Observe: func(e validate.Event) {
			if o.verbose {
				progress.Println(e.Line())
			}
			progress.Update(e.Progress(time.Since(start)))
		},
	})
	progress.Done()
	if rep != nil {
		if rerr := renderValidation(a.io, rep, o.format); rerr != nil {
			return rerr
		}
	}
	if err != nil {
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
