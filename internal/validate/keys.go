package validate

import (
	"context"
	"errors"
	"io"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/suggest"
)

// Targets resolves each role's key, concurrently where it comes from the keyring. A role whose key
// is missing or unreadable is validated as far as it can be (not at all) and reported; a variable
// holding something that is not a key is a configuration error for the whole run. With stdin set,
// the one role's key is read from it.
func Targets(ctx context.Context, store secrets.Store, pol *policy.Policy, roles []policy.Role, stdin io.Reader, getenv func(string) string) ([]Target, error) {
	targets := make([]Target, len(roles))
	for i, r := range roles {
		targets[i] = Target{Role: r.Name, Required: pol.RequiredScopes(r), FullAccess: r.FullAccess}
	}
	if stdin != nil {
		res, err := secrets.ResolveRoleKey(ctx, store, roles[0], secrets.ResolveOptions{Stdin: stdin})
		if err != nil {
			return nil, err
		}
		targets[0].KeySource, targets[0].Key, targets[0].AccountID = res.Source.String(), klaviyo.PrivateKey(res.Value.Reveal()), res.AccountID
		return targets, nil
	}
	for i, k := range secrets.RoleKeys(ctx, store, roles, getenv, false) {
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

// KeyNameHint says what a NAME of --inventory-role, --full-role and --read-only-role may be.
const KeyNameHint = "name a role of the policy, or any NAME whose key is in KLAVIYO_KEY_<NAME>"

// CheckKeyName refuses a NAME that cannot name a role or a key's variable, before it is repeated in
// a variable's name or a hint: a key given in its place is refused without being repeated.
func CheckKeyName(flag, name string) error {
	if mask.LooksSecret(name) {
		return fault.Usagef("invalid %s: the name given looks like a credential, so it is not repeated here", flag).
			Hint("klrbac never takes a key as an argument: "+KeyNameHint, "store a role's key with klrbac keys set ROLE")
	}
	ok := len(name) <= 64 && name != "" && (name[0] >= 'a' && name[0] <= 'z' || name[0] >= 'A' && name[0] <= 'Z')
	for i := 1; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	if !ok {
		return fault.Usagef("invalid %s %q: not a role or variable name", flag, name).
			Hint("use up to 64 letters, digits, '-' and '_', starting with a letter: " + KeyNameHint)
	}
	return nil
}

// NamedKey finds the key of a role of the policy, or of any NAME whose key is in
// KLAVIYO_KEY_<NAME> or the keyring's role:<NAME>: calibration and the inventory may use a key no
// role holds. A NAME that is neither a role nor has a key anywhere is most likely a mistyped role,
// so it is a usage error that suggests the roles it is close to; when the keyring cannot be read,
// whether it has a key is not known, and the keyring's error (exit 3) carries the suggestion. flag
// names where the NAME came from, for messages.
func NamedKey(ctx context.Context, store secrets.Store, pol *policy.Policy, flag, name string) (secrets.Resolved, error) {
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

// RoleInventory is the credential that lists the account's keys when it is a role's private key
// (--inventory-role); an OAuth app's access token is the other kind (OAuthInventory).
func RoleInventory(ctx context.Context, store secrets.Store, pol *policy.Policy, role string) (InventorySource, error) {
	res, err := NamedKey(ctx, store, pol, "--inventory-role", role)
	if err != nil {
		return InventorySource{}, err
	}
	cred := klaviyo.PrivateKey(res.Value.Reveal())
	return InventorySource{
		Name:       "role " + role,
		AccountID:  res.AccountID,
		Credential: func(context.Context) (klaviyo.Credential, error) { return cred, nil },
	}, nil
}

// OAuthInventory lists the account's keys with an OAuth app's access token, under the app's own
// rate-limit quota (quota: oauthflow.Quota of the app).
func OAuthInventory(app, quota string, token klaviyo.Credential) InventorySource {
	return InventorySource{
		Name:       "OAuth app " + app,
		AccountID:  quota,
		Credential: func(context.Context) (klaviyo.Credential, error) { return token, nil },
	}
}
