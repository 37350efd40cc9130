// Package doctor checks that klrbac can do its work here: a valid configuration, a reachable
// keyring, a key for every role, a writable audit log and, when asked, Klaviyo accepting the keys.
// Each check says what it found and, when something is broken, how to fix it.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/secrets"
)

// Check is the outcome of one check.
type Check struct {
	Name   string `json:"check" yaml:"check"`
	OK     bool   `json:"ok" yaml:"ok"`
	Detail string `json:"detail" yaml:"detail"`
	Fix    string `json:"fix,omitempty" yaml:"fix,omitempty"`
}

// Env is what the checks look at.
type Env struct {
	// Config is the loaded configuration, or nil when it failed to load with ConfigErr.
	Config    *config.Config
	ConfigErr error
	// Fallback is the configuration the other checks use when Config failed: defaults and the
	// environment.
	Fallback *config.Config
	Store    secrets.Store
	Getenv   func(string) string
	// Klaviyo, when set, is asked whether the API answers and accepts each key (--online).
	Klaviyo Klaviyo
	// APIURL is where Klaviyo is, for messages.
	APIURL string
	// OnlineTimeout bounds the online checks as a whole; 0: OnlineTimeout.
	OnlineTimeout time.Duration
	// AuditDB, when audit.dsn is set, is the team audit trail, checked instead of the audit log
	// file; AuditDBErr is why it could not be opened.
	AuditDB    AuditDatabase
	AuditDBErr error
}

// AuditDatabase is the team audit trail as doctor looks at it, without writing to it.
type AuditDatabase interface {
	Where() string
	SchemaVersion(ctx context.Context) (int, error)
	Head(ctx context.Context) (audit.Head, error)
}

// Run runs every check, in the order they are shown.
func Run(ctx context.Context, env Env) []Check {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	var checks []Check
	cfg := env.Config
	checks = append(checks, configCheck(env))
	if cfg == nil {
		cfg = env.Fallback
	}
	if cfg == nil {
		return checks
	}
	keyringCheck, reachable := checkKeyring(ctx, env.Store)
	checks = append(checks, keyringCheck)
	keys := secrets.RoleKeys(ctx, env.Store, cfg.Policy.Roles, env.Getenv, !reachable)
	checks = append(checks, roleKeyChecks(keys, reachable, secrets.IsOff(env.Store))...)
	if env.AuditDB != nil || env.AuditDBErr != nil {
		checks = append(checks, auditDBCheck(ctx, env.AuditDB, env.AuditDBErr))
	} else {
		auditPath, _ := cfg.AuditPath()
		checks = append(checks, auditCheck(auditPath))
	}
	if env.Klaviyo != nil {
		checks = append(checks, onlineChecks(ctx, env, keys)...)
	}
	return checks
}

// Report is doctor's checks and whether every one passed: the JSON and YAML shape of `doctor`
// (documented in docs/json-output.md).
type Report struct {
	OK     bool    `json:"ok" yaml:"ok"`
	Checks []Check `json:"checks" yaml:"checks"`
}

// OK reports whether every check passed.
func OK(checks []Check) bool {
	for _, c := range checks {
		if !c.OK {
			return false
		}
	}
	return true
}

func configCheck(env Env) Check {
	c := Check{Name: "config"}
	if env.ConfigErr != nil {
		first, more := firstProblem(env.ConfigErr)
		c.Detail = first.Error()
		switch {
		case more == 1:
			c.Detail += " (and 1 more problem)"
		case more > 1:
			c.Detail += fmt.Sprintf(" (and %d more problems)", more)
		}
		c.Fix = "run `klrbac config validate` to see every problem with its line"
		if hints := fault.Hints(first); len(hints) > 0 {
			c.Fix = hints[0] + "; " + c.Fix
		}
		return c
	}
	c.OK = true
	p := env.Config.Policy
	counts := p.Counts()
	if env.Config.File == "" {
		c.Detail = "no config file; the built-in policy applies (" + counts + ")"
	} else {
		c.Detail = env.Config.File + " is valid (" + counts + ")"
	}
	return c
}

// firstProblem returns the first of the problems a configuration error joins, and how many others
// there are: one line has room for one.
func firstProblem(err error) (error, int) {
	leaves := fault.Problems(err)
	if len(leaves) == 0 {
		return err, 0
	}
	return leaves[0], len(leaves) - 1
}

func checkKeyring(ctx context.Context, store secrets.Store) (Check, bool) {
	c := Check{Name: "keyring"}
	if secrets.IsOff(store) {
		c.OK = true
		c.Detail = "off (keyring.backend: off); keys come only from the environment"
		return c, false
	}
	err := secrets.Probe(ctx, store)
	if err == nil {
		c.OK = true
		c.Detail = "the OS keyring answers and is unlocked (service " + secrets.Service + ")"
		return c, true
	}
	var ke *secrets.Error
	if errors.As(err, &ke) {
		c.Detail = ke.Reason()
		c.Fix = ke.Advice("the KLAVIYO_KEY_* variables")
		return c, false
	}
	c.Detail = err.Error()
	return c, false
}

func roleKeyChecks(keys []secrets.RoleKey, keyringReachable, keyringOff bool) []Check {
	out := make([]Check, len(keys))
	for i, k := range keys {
		c := Check{Name: "key " + k.Role}
		switch {
		case k.Source.Kind == "" && k.Err == nil && keyringOff:
			c.Detail = "none: " + k.Env + " " + secrets.EnvState(k.Env) + ", and the keyring is off"
			c.Fix = "set " + k.Env + " (or turn the keyring on and run `klrbac keys set " + k.Role + "`)"
		case k.Source.Kind == "" && k.Err == nil && !keyringReachable:
			c.Detail = "none in " + k.Env + ", and the keyring cannot be asked"
			c.Fix = "set " + k.Env + ", or fix the keyring (above)"
		case k.Source.Kind == "" && k.Err == nil:
			c.Detail = "none: " + k.Env + " " + secrets.EnvState(k.Env) + " and the keyring holds none"
			c.Fix = "store one with `klrbac keys set " + k.Role + "`, or set " + k.Env
		case k.Source.Kind == "":
			c.Detail = "unknown: " + k.Err.Error()
			c.Fix = strings.Join(fault.Hints(k.Err), "; ")
		case k.Err != nil:
			c.Detail = k.Source.String() + " holds " + k.Key.Masked() + ", which is not a Klaviyo private API key"
			c.Fix = "replace it with the role's pk_ key"
			if k.Source.Kind == secrets.FromKeyring {
				c.Fix = "store it again with `klrbac keys set " + k.Role + " --force`"
			}
		default:
			c.OK = true
			c.Detail = k.Source.String() + ", " + k.Key.Masked() + " (fingerprint " + k.Key.Fingerprint() + ")"
			if k.AccountID != "" {
				c.Detail += ", account " + k.AccountID
			}
		}
		out[i] = c
	}
	return out
}

// auditCheck tells whether the audit log can be appended to, without writing to it: an existing
// log is opened for appending and closed; otherwise a scratch file is created and removed in the
// nearest existing directory, since klrbac creates the missing ones on first use.
func auditCheck(path string) Check {
	c := Check{Name: "audit log"}
	if path == "" {
		c.Detail = "no location: neither audit.path nor XDG_STATE_HOME nor a home directory is set"
		c.Fix = "set KLRBAC_AUDIT_LOG or audit.path"
		return c
	}
	fix := "make it writable, or point KLRBAC_AUDIT_LOG (audit.path) elsewhere"
	if st, err := os.Stat(path); err == nil {
		if st.IsDir() {
			c.Detail = path + " is a directory"
			c.Fix = "point KLRBAC_AUDIT_LOG (audit.path) at a file"
			return c
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			c.Detail = path + " cannot be appended to: " + fault.PathCause(err).Error()
			c.Fix = fix
			return c
		}
		defer f.Close()
		// Appends refuse a log whose end was edited: say so now rather than at the next change.
		var damaged *audit.DamagedError
		if _, _, err := audit.LastEntry(f, st.Size()); errors.As(err, &damaged) {
			c.Detail = path + " is damaged: " + damaged.Reason + "; klrbac will not append to it"
			c.Fix = "run `klrbac audit verify " + path + "` to see what changed, keep the file as evidence, and point KLRBAC_AUDIT_LOG (audit.path) at a new one"
			return c
		}
		c.OK, c.Detail = true, path+" is writable"
		return c
	}
	dir := filepath.Dir(path)
	for {
		st, err := os.Stat(dir)
		if err == nil && st.IsDir() {
			break
		}
		if err == nil || !errors.Is(err, fs.ErrNotExist) || filepath.Dir(dir) == dir {
			c.Detail = "cannot create " + path + ": " + dir + " is not a usable directory"
			c.Fix = fix
			return c
		}
		dir = filepath.Dir(dir)
	}
	f, err := os.CreateTemp(dir, ".klrbac-doctor-*")
	if err != nil {
		c.Detail = "cannot create " + path + ": " + dir + " is not writable"
		c.Fix = fix
		return c
	}
	f.Close()
	os.Remove(f.Name())
	c.OK, c.Detail = true, path+" can be created (it does not exist yet)"
	return c
}

// auditDBCheck tells whether the team audit trail answers, its schema's version and its chain's head.
func auditDBCheck(ctx context.Context, db AuditDatabase, openErr error) Check {
	c := Check{Name: "audit database"}
	fix := func(err error) string {
		if h := fault.Hints(err); len(h) > 0 {
			return strings.Join(h, "; ")
		}
		return "check the database, or point audit.dsn (KLRBAC_AUDIT_DSN) elsewhere"
	}
	if openErr != nil {
		c.Detail, c.Fix = openErr.Error(), fix(openErr)
		return c
	}
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		c.Detail, c.Fix = db.Where()+" is unreachable: "+err.Error(), fix(err)
		return c
	}
	if v == 0 {
		c.Detail = db.Where() + " is reachable but has no audit schema yet"
		c.Fix = "klrbac creates it on first use, given the privilege; else run `klrbac audit migrate` as a role that may create tables"
		return c
	}
	head, err := db.Head(ctx)
	if err != nil {
		c.Detail, c.Fix = fmt.Sprintf("%s (schema version %d): %v", db.Where(), v, err), fix(err)
		return c
	}
	c.OK = true
	c.Detail = fmt.Sprintf("%s is reachable, schema version %d, chain head %s", db.Where(), v, head)
	return c
}

// usableKeys are the keys worth asking Klaviyo about: found, and of the right form.
func usableKeys(keys []secrets.RoleKey) []secrets.RoleKey {
	var out []secrets.RoleKey
	for _, k := range keys {
		if k.Source.Kind != "" && k.Err == nil {
			out = append(out, k)
		}
	}
	return out
}
