package secrets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
)

// SourceKind is where a credential came from.
type SourceKind string

const (
	FromStdin   SourceKind = "stdin"
	FromEnv     SourceKind = "env"
	FromKeyring SourceKind = "keyring"
)

// Source says where a credential came from, as commands show it: "stdin", "env
// KLAVIYO_KEY_MARKETER", "keyring". The zero Source means none was found.
type Source struct {
	Kind SourceKind
	// Env is the variable, for FromEnv.
	Env string
}

func (s Source) String() string {
	switch s.Kind {
	case "":
		return "none"
	case FromEnv:
		return "env " + s.Env
	}
	return string(s.Kind)
}

// Resolved is a credential and where it came from.
type Resolved struct {
	Value  Secret
	Source Source
	// AccountID is the account id a private key carries, if any.
	AccountID string
}

// ResolveOptions adjust credential resolution.
type ResolveOptions struct {
	// Stdin is set when the command was told to read the credential from standard input
	// (--key-stdin): it then beats every other source.
	Stdin io.Reader
	// Getenv looks up environment variables; nil means os.Getenv.
	Getenv func(string) string
}

func (o ResolveOptions) getenv(name string) string {
	if o.Getenv != nil {
		return o.Getenv(name)
	}
	return os.Getenv(name)
}

// ErrNoCredential matches (errors.Is) the error of a resolution that found nothing anywhere.
var ErrNoCredential = errors.New("no credential found")

// MissingError says that no source held a credential.
type MissingError struct {
	What string // "key for role marketer"
	Env  string
	Off  bool
}

func (e *MissingError) Error() string {
	where := "the keyring holds none"
	if e.Off {
		where = "the keyring is off"
	}
	return fmt.Sprintf("no %s: %s %s and %s", e.What, e.Env, EnvState(e.Env), where)
}

// EnvState says why variable name gave no credential: "is not set", or "is set but empty", which
// is a different mistake (a CI secret that did not resolve, an export with nothing after the =) and
// must not send anyone looking for a variable that is there.
func EnvState(name string) string {
	if v, ok := os.LookupEnv(name); ok && v == "" {
		return "is set but empty"
	}
	return "is not set"
}

func (e *MissingError) Is(target error) bool { return target == ErrNoCredential }

// ResolveRoleKey finds role's Klaviyo private key: from standard input when opts.Stdin is set, else
// from the role's variable (KLAVIYO_KEY_<ROLE> or its key_env), else from the keyring. Whatever the
// source, the key must have the form of a private key.
func ResolveRoleKey(ctx context.Context, store Store, role policy.Role, opts ResolveOptions) (Resolved, error) {
	env := role.EnvVar()
	if opts.Stdin != nil {
		v, err := readInput(opts.Stdin)
		if err != nil {
			return Resolved{}, err
		}
		k, err := ParseKey(v)
		if err != nil {
			return Resolved{}, asFormatFault(err, fault.Usage, "standard input")
		}
		return Resolved{Value: k.Secret, Source: Source{Kind: FromStdin}, AccountID: k.AccountID}, nil
	}
	if v := opts.getenv(env); v != "" {
		return envRoleKey(v, env)
	}
	v, err := store.Get(ctx, RoleKeyItem(role.Name))
	if err != nil {
		return Resolved{}, missingOr(err, "key for role "+role.Name, env, "store one with `klrbac keys set "+role.Name+"`, or set "+env)
	}
	return keyringRoleKey(role.Name, v)
}

// envRoleKey reads a role's key from the value of its variable env.
func envRoleKey(v, env string) (Resolved, error) {
	k, err := ParseKey(v)
	if err != nil {
		return Resolved{}, asFormatFault(err, fault.Config, env)
	}
	return Resolved{Value: k.Secret, Source: Source{Kind: FromEnv, Env: env}, AccountID: k.AccountID}, nil
}

// keyringRoleKey reads a role's key from what the keyring holds for it.
func keyringRoleKey(role string, v Secret) (Resolved, error) {
	k, err := ParseKey(v.Reveal())
	if err != nil {
		return Resolved{}, fault.Unavailablef("the keyring's key for role %s is not a Klaviyo private API key: %v", role, err).
			Hint("store it again with `klrbac keys set " + role + " --force`")
	}
	return Resolved{Value: k.Secret, Source: Source{Kind: FromKeyring}, AccountID: k.AccountID}, nil
}

// ClientSecretEnv overrides the keyring for OAuth client secrets.
const ClientSecretEnv = "KLAVIYO_OAUTH_CLIENT_SECRET"

// ResolveOAuthClientSecret finds app's OAuth client secret: from standard input when opts.Stdin is
// set, else KLAVIYO_OAUTH_CLIENT_SECRET, else the keyring item oauth-client:<app>.
func ResolveOAuthClientSecret(ctx context.Context, store Store, app string, opts ResolveOptions) (Resolved, error) {
	if opts.Stdin != nil {
		v, err := readInput(opts.Stdin)
		if err != nil {
			return Resolved{}, err
		}
		s, err := ParseClientSecret(v)
		if err != nil {
			return Resolved{}, asFormatFault(err, fault.Usage, "standard input")
		}
		return Resolved{Value: s, Source: Source{Kind: FromStdin}}, nil
	}
	if v := opts.getenv(ClientSecretEnv); v != "" {
		s, err := ParseClientSecret(v)
		if err != nil {
			return Resolved{}, asFormatFault(err, fault.Config, ClientSecretEnv)
		}
		return Resolved{Value: s, Source: Source{Kind: FromEnv, Env: ClientSecretEnv}}, nil
	}
	v, err := store.Get(ctx, OAuthClientItem(app))
	if err != nil {
		return Resolved{}, missingOr(err, "client secret for OAuth app "+app, ClientSecretEnv,
			"store one with `klrbac oauth set-secret "+app+"`, or set "+ClientSecretEnv)
	}
	return Resolved{Value: v, Source: Source{Kind: FromKeyring}}, nil
}

// missingOr turns "not found" and "off" into one "no credential" error naming every place looked
// in; other keyring failures keep their class and advice.
func missingOr(err error, what, env, advice string) error {
	switch ClassOf(err) {
	case NotFound:
		return fault.Wrap(fault.Unavailable, &MissingError{What: what, Env: env}).Hint(advice)
	case Disabled:
		return fault.Wrap(fault.Unavailable, &MissingError{What: what, Env: env, Off: true}).
			Hint("set " + env + ", or turn the keyring on: unset KLRBAC_KEYRING (keyring.backend: system)")
	}
	return Explain(err, env)
}

func asFormatFault(err error, kind fault.Kind, origin string) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return fe.Fault(kind, origin)
	}
	return err
}

// ReadInput reads one credential from r, refusing more than a credential's worth of bytes.
func ReadInput(r io.Reader) (string, error) { return readInput(r) }

func readInput(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return "", fault.Unavailablef("cannot read standard input: %v", err)
	}
	return string(b), nil
}

// RoleKey is what is known about one role's key without using it.
type RoleKey struct {
	Role string
	// Env is the variable that overrides the keyring for this role.
	Env string
	// Source is where the key is; zero when there is none.
	Source Source
	// Key is the key; zero when there is none.
	Key       Secret
	AccountID string
	// Err says why the key is unusable (wrong form) or could not be looked up (keyring failure).
	Err error
}

// found records what a source held: the key as read, or, when it is not a key, the raw value
// (shown only masked) and why.
func (rk *RoleKey) found(res Resolved, err error, raw Secret, src Source) {
	rk.Source, rk.Key, rk.AccountID, rk.Err = src, res.Value, res.AccountID, err
	if err != nil {
		rk.Key = raw
	}
}

// RoleKeys looks up every role's key the way ResolveRoleKey would, without standard input. Roles
// whose variable is set never touch the keyring; the others are looked up concurrently, so a
// hung keyring costs one timeout, not one per role. With skipKeyring the keyring is not asked at all
// (a caller that already knows it is unreachable).
func RoleKeys(ctx context.Context, store Store, roles []policy.Role, getenv func(string) string, skipKeyring bool) []RoleKey {
	opts := ResolveOptions{Getenv: getenv}
	out := make([]RoleKey, len(roles))
	var wg sync.WaitGroup
	for i, r := range roles {
		rk := RoleKey{Role: r.Name, Env: r.EnvVar()}
		if v := opts.getenv(rk.Env); v != "" {
			res, err := envRoleKey(v, rk.Env)
			rk.found(res, err, NewSecret(v), Source{Kind: FromEnv, Env: rk.Env})
			out[i] = rk
			continue
		}
		if skipKeyring || IsOff(store) {
			out[i] = rk
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := store.Get(ctx, RoleKeyItem(rk.Role))
			switch {
			case ClassOf(err) == NotFound:
			case err != nil:
				rk.Err = Explain(err, rk.Env)
			default:
				res, err := keyringRoleKey(rk.Role, v)
				rk.found(res, err, v, Source{Kind: FromKeyring})
			}
			out[i] = rk
		}()
	}
	wg.Wait()
	return out
}
