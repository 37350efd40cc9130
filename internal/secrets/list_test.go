package secrets

import (
	"context"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
)

// A value that is not a key is a problem of its role; a keyring that cannot be read is one failure
// of the whole listing, whatever the number of roles it leaves unknown.
func TestListKeys(t *testing.T) {
	roles := policy.Default().Roles
	s := mockKeyring(t, dbus.Error{Name: "org.freedesktop.Secret.Error.IsLocked"})
	list := ListKeys(context.Background(), s, roles, env(map[string]string{"KLAVIYO_KEY_ADMIN": keyringKey, "KLAVIYO_KEY_VIEWER": "Xy9Q7w"}))
	if len(list.Keys) != len(roles) || len(list.Problems) != 1 || fault.KindOf(list.Unreadable) != fault.Unavailable {
		t.Fatalf("list: %+v", list)
	}
	for _, k := range list.Keys {
		switch {
		case k.Role == "admin" && (k.Source != "env" || k.Key != "pk_****0c0c" || k.Problem != ""),
			k.Role == "viewer" && (k.Source != "env" || k.Problem == ""),
			k.Role != "admin" && k.Role != "viewer" && (k.Source != "unknown" || k.Problem != "the keyring could not be read"):
			t.Errorf("%s: %+v", k.Role, k)
		}
	}
	if got := list.Unreadable.Error(); got != "cannot read the keyring: the keyring is locked" {
		t.Errorf("unreadable: %q", got)
	}
}

// The table names the variable a key comes from, and marks a value that is not a key.
func TestListedKeyWhere(t *testing.T) {
	for _, tc := range []struct {
		k    ListedKey
		want string
	}{
		{ListedKey{Source: "env", Env: "KLAVIYO_KEY_VIEWER"}, "env KLAVIYO_KEY_VIEWER"},
		{ListedKey{Source: "env", Env: "KLAVIYO_KEY_VIEWER", Problem: "not a key"}, "env KLAVIYO_KEY_VIEWER (invalid)"},
		{ListedKey{Source: "keyring", Problem: "not a key"}, "keyring (invalid)"},
		{ListedKey{Source: "none"}, "none"},
		{ListedKey{Source: "unknown", Problem: "the keyring could not be read"}, "unknown"},
	} {
		if got := tc.k.Where(); got != tc.want {
			t.Errorf("%+v: Where() = %q, want %q", tc.k, got, tc.want)
		}
	}
}
