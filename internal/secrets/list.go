package secrets

import (
	"context"
	"errors"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
)

// ListedKey is a role's key as `keys list` shows it: the JSON and YAML shape documented in
// docs/schema/keys-list.json.
type ListedKey struct {
	Role string `json:"role" yaml:"role"`
	// Source is env, keyring, none, or unknown when the keyring could not be read.
	Source      string `json:"source" yaml:"source"`
	Env         string `json:"env" yaml:"env"`
	Key         string `json:"key" yaml:"key"`
	Fingerprint string `json:"fingerprint" yaml:"fingerprint"`
	AccountID   string `json:"account_id" yaml:"account_id"`
	Problem     string `json:"problem,omitempty" yaml:"problem,omitempty"`
}

// Where is the key's source as the `keys list` table shows it: "env KLAVIYO_KEY_VIEWER", "keyring",
// "none" or "unknown", marked "(invalid)" when what is there is not a key.
func (k ListedKey) Where() string {
	where := k.Source
	if k.Source == string(FromEnv) {
		where = Source{Kind: FromEnv, Env: k.Env}.String()
	}
	if k.Problem != "" && k.Source != "unknown" {
		where += " (invalid)"
	}
	return where
}

// KeyList is every role's key, masked, as `keys list` reports it.
type KeyList struct {
	Keys []ListedKey
	// Problems are the values that are not keys: each is shown, and the listing is no failure.
	Problems []error
	// Unreadable says the keyring could not be read, once for the whole listing rather than per
	// role: a listing that cannot say where keys are fails (exit 3).
	Unreadable error
}

// ListKeys looks up every role's key as RoleKeys does, for showing.
func ListKeys(ctx context.Context, store Store, roles []policy.Role, getenv func(string) string) KeyList {
	keys := RoleKeys(ctx, store, roles, getenv, false)
	list := KeyList{Keys: make([]ListedKey, len(keys))}
	for i, k := range keys {
		v := ListedKey{Role: k.Role, Source: string(k.Source.Kind), Env: k.Env, Key: k.Key.Masked(),
			Fingerprint: k.Key.Fingerprint(), AccountID: k.AccountID}
		switch {
		case k.Err != nil && k.Source.Kind == "":
			v.Source, v.Problem = "unknown", "the keyring could not be read"
			if list.Unreadable == nil {
				list.Unreadable = keyringUnreadable(k.Err)
			}
		case k.Err != nil:
			v.Problem = k.Err.Error()
			list.Problems = append(list.Problems, k.Err)
		case k.Source.Kind == "":
			v.Source = "none"
		}
		list.Keys[i] = v
	}
	return list
}

func keyringUnreadable(err error) error {
	var ke *Error
	if !errors.As(err, &ke) {
		return err
	}
	return fault.Unavailablef("cannot read the keyring: %s", ke.Reason()).Hint(ke.Advice("the roles' KLAVIYO_KEY_* variables"))
}
