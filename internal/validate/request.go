package validate

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/warn"
)

// Request is a `keys validate` run as its flags and arguments ask for it. Messages name the flags.
type Request struct {
	// Roles are the roles named; All asks for every role of the policy instead.
	Roles []string
	All   bool
	// Strict, AllowExcess and RequiredOnly are Options' fields of the same names.
	Strict, AllowExcess, RequiredOnly bool
	// KeyStdin reads the key of the one role from standard input.
	KeyStdin bool
	// InventoryRole and InventoryApp name the credential that lists the account's keys: a role's
	// key (--inventory-role), or an OAuth app's access token (--inventory-oauth).
	InventoryRole, InventoryApp string
	Concurrency                 int
	// Method is --method as given (auto, inventory, probe; "" is auto); MaxKeyAge --max-key-age as
	// given ("" for none). Check parses both.
	Method, MaxKeyAge string
	// Timeout bounds the whole run; RequestTimeout each call, retries each bounded anew.
	Timeout, RequestTimeout time.Duration
	// Calibrate asks for a calibration with the keys of FullRole and ReadOnlyRole instead of a
	// validation (CalibrationKeys).
	Calibrate              bool
	FullRole, ReadOnlyRole string
	// Given are the flags given on the command line, by name: a name flag given an empty value
	// names nothing, which is told apart from one not given.
	Given map[string]bool
}

// Check refuses flag combinations that make no sense, before anything is read. usage is the
// command's usage line, for hints.
func (r Request) Check(usage string) error {
	usage = "usage: " + usage
	for _, f := range []struct {
		flag, name string
		key        bool
	}{{"inventory-role", r.InventoryRole, true}, {"full-role", r.FullRole, true}, {"read-only-role", r.ReadOnlyRole, true}, {"inventory-oauth", r.InventoryApp, false}} {
		switch {
		case !r.Given[f.flag]:
		case f.name == "" && f.key:
			return fault.Usagef("--%s needs a NAME, not an empty value", f.flag).Hint(KeyNameHint)
		case f.name == "":
			return fault.Usagef("--%s needs an OAuth app's name, not an empty value", f.flag).Hint("name an app you have logged in with (klrbac oauth login APP)")
		case f.key:
			if err := CheckKeyName("--"+f.flag, f.name); err != nil {
				return err
			}
		}
	}
	method, err := ParseMethod(r.Method)
	if err != nil {
		return err
	}
	maxAge, err := r.maxKeyAge()
	if err != nil {
		return err
	}
	if r.Timeout <= 0 || r.RequestTimeout <= 0 {
		return fault.Usagef("--timeout and --request-timeout must be positive durations").Hint("e.g. --timeout 2m --request-timeout 15s")
	}
	if r.Concurrency < 0 {
		return fault.Usagef("--concurrency %d is negative", r.Concurrency).Hint("use 0 (no bound but the rate limits) or a positive number")
	}
	if r.Calibrate {
		switch {
		case len(r.Roles) > 0 || r.All:
			return fault.Usagef("--calibrate takes no roles to validate").Hint("calibrate first, then validate: klrbac keys validate --calibrate --full-role ROLE --read-only-role ROLE")
		case r.ReadOnlyRole == "":
			return fault.Usagef("--calibrate needs --read-only-role: a key holding only read scopes").
				Hint("name a role whose key has no write scope, or any NAME with the key in KLAVIYO_KEY_<NAME>")
		case r.InventoryRole != "" || r.InventoryApp != "" || r.Strict || r.RequiredOnly || r.KeyStdin:
			return fault.Usagef("--calibrate cannot be combined with --inventory-role, --inventory-oauth, --strict, --required-only or --key-stdin").Hint(usage)
		}
		return nil
	}
	// The OAuth token stands where the role's key would: the same rules apply, told by the flag given.
	inventory := ""
	switch {
	case r.InventoryRole != "" && r.InventoryApp != "":
		return fault.Usagef("--inventory-role and --inventory-oauth name two inventory credentials; give one").Hint(usage)
	case r.InventoryRole != "":
		inventory = "--inventory-role"
	case r.InventoryApp != "":
		inventory = "--inventory-oauth"
	}
	switch {
	case r.FullRole != "" || r.ReadOnlyRole != "":
		return fault.Usagef("--full-role and --read-only-role go with --calibrate").Hint(usage)
	case r.All && len(r.Roles) > 0:
		return fault.Usagef("keys validate takes ROLE... or --all, not both").Hint(usage)
	case !r.All && len(r.Roles) == 0:
		return fault.Usagef("keys validate needs ROLE... or --all").Hint(usage)
	case r.KeyStdin && len(r.Roles) != 1:
		return fault.Usagef("--key-stdin needs exactly one ROLE").Hint("the key read from standard input is that role's")
	case r.KeyStdin && inventory != "":
		return fault.Usagef("--key-stdin cannot be combined with %s", inventory).Hint("store the key (klrbac keys set) or set its variable instead")
	case method == ByProbe && inventory != "":
		return fault.Usagef("--method probe cannot be combined with %s, which names a credential to read the key inventory with", inventory).
			Hint("drop --method probe to read the inventory, or drop " + inventory + " to probe")
	case method == ByProbe && maxAge > 0:
		return fault.Usagef("--max-key-age needs the key inventory, which knows when each key was made; probing does not").
			Hint("use --method auto or inventory with a credential that can list the account's keys (--inventory-role ROLE)")
	case r.RequiredOnly && inventory != "":
		return fault.Usagef("--required-only only applies to probing, not to %s", inventory).Hint("the inventory reads every scope in one call")
	}
	return nil
}

// maxKeyAge is MaxKeyAge parsed: 0 when not given.
func (r Request) maxKeyAge() (time.Duration, error) {
	if r.MaxKeyAge == "" {
		return 0, nil
	}
	d, err := ParseAge(r.MaxKeyAge)
	if err != nil {
		return 0, fault.Usagef("--max-key-age %q is not an age", r.MaxKeyAge).Hint("give a positive age in days, weeks or hours: 180d, 26w, 4320h")
	}
	return d, nil
}

// Targets are the roles the request names, or every role of the policy with All, each once and
// with its key (Targets). stdin is read only with KeyStdin.
func (r Request) Targets(ctx context.Context, store secrets.Store, pol *policy.Policy, stdin io.Reader, getenv func(string) string) ([]Target, error) {
	roles := pol.Roles
	if !r.All {
		roles = nil
		for _, name := range r.Roles {
			role, err := pol.LookupRole(name)
			if err != nil {
				return nil, err
			}
			if !slices.ContainsFunc(roles, func(x policy.Role) bool { return x.Name == role.Name }) {
				roles = append(roles, role)
			}
		}
	}
	if !r.KeyStdin {
		stdin = nil
	}
	return Targets(ctx, store, pol, roles, stdin, getenv)
}

// Options are the options of the run the request asks for: a guarded client to Klaviyo (kopts;
// Guarded), and what --calibrate stored in calibrationFile for its API URL and revision. A damaged
// calibration file is reported on stderr and read as uncalibrated: write results are then marked
// inferred, the safe side.
func (r Request) Options(kopts klaviyo.Options, calibrationFile string, stderr io.Writer) Options {
	opts := Guarded(kopts, r.RequestTimeout)
	opts.RequiredOnly, opts.Strict, opts.AllowExcess, opts.Concurrency = r.RequiredOnly, r.Strict, r.AllowExcess, r.Concurrency
	opts.Timeout = r.Timeout
	// Check has refused what does not parse.
	opts.Method, _ = ParseMethod(r.Method)
	opts.MaxKeyAge, _ = r.maxKeyAge()
	opts.EveryRole = r.All
	if opts.Method == ByAuto && (r.InventoryRole != "" || r.InventoryApp != "") {
		// A credential named on the command line is the one asked for: if it cannot list the keys,
		// the run says so rather than quietly probing instead.
		opts.Method = ByInventory
	}
	if w := RevisionWarning(opts.Revision); w != "" {
		warn.Printf(stderr, "%s", w)
	}
	c, err := LoadCalibration(calibrationFile, opts.APIURL, opts.Revision)
	if err != nil {
		warn.Printf(stderr, "%v; write results are marked inferred", err)
		fmt.Fprintln(stderr, "hint: run klrbac keys validate --calibrate again to replace it")
	}
	opts.Calibration = c
	return opts
}

// Trail is what a validation needs of the audit trail (audit.Trail): whether the run's record can be
// kept, asked before anything is sent, and then the record.
type Trail interface {
	Recorder
	Ready(ctx context.Context, action, resource string) error
}

// Deps are what a request's run reads and talks to, as plain values and narrow interfaces, so that
// the command parses flags, runs the request and renders its report, and the order of the steps is
// kept here, where it can be tested.
type Deps struct {
	// Credentials hold the roles' keys (Store, Policy), and the OAuth apps that may list the
	// account's keys.
	Credentials
	// Stdin is read for the one role's key with KeyStdin; Getenv finds keys in KLAVIYO_KEY_<ROLE>.
	Stdin  io.Reader
	Getenv func(string) string
	// Trail opens the audit trail (required: a validation is never run unrecorded). It is asked
	// for only once the targets are found, so that a request naming a role the policy lacks opens
	// no audit store.
	Trail func() Trail
	// Klaviyo are the client's options, before the guard is put in (Options); CalibrationFile is
	// where --calibrate stored its results.
	Klaviyo         klaviyo.Options
	CalibrationFile string
	// Stderr takes warnings: the revision, a damaged calibration file, a stopped run left unrecorded.
	Stderr io.Writer
	// Starting, when set, is told once every check has passed and just before anything is sent:
	// the credential the request names for the inventory (src; Name "" when none) and the method.
	Starting func(src InventorySource, method Method)
	// Observe, when set, hears of every probe as it ends (Options.Observe).
	Observe func(Event)
}

// Run runs the request: it finds the targets and their keys, then makes sure the audit trail can
// keep the run's record, then settles the credentials that may list the account's keys, and only
// then sends anything (Run, whose report and errors it returns). A CI gate fails closed: finding out
// after every probe has been sent that the trail cannot take the record wastes them, and the user's
// time; and a role the policy lacks fails before the trail is opened at all.
func (r Request) Run(ctx context.Context, d Deps) (*Report, error) {
	targets, err := r.Targets(ctx, d.Store, d.Policy, d.Stdin, d.Getenv)
	if err != nil {
		return nil, err
	}
	trail := d.Trail()
	if err := trail.Ready(ctx, ActionValidate, ""); err != nil {
		return nil, err
	}
	opts := r.Options(d.Klaviyo, d.CalibrationFile, d.Stderr)
	src, auto, err := r.Sources(ctx, d.Credentials, opts.Method)
	if err != nil {
		return nil, err
	}
	opts.Inventory = append(opts.Inventory, auto...)
	opts.Observe = d.Observe
	if d.Starting != nil {
		d.Starting(src, opts.Method)
	}
	return Run(ctx, targets, src, opts, trail, d.Stderr)
}
