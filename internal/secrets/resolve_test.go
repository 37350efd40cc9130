package secrets

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/mask"

	"github.com/zalando/go-keyring"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
)

const (
	envKey     = "pk_eeee456789abcdef0123456789abcd0e0e"
	keyringKey = "pk_cccc456789abcdef0123456789abcd0c0c"
	stdinKey   = "pk_Ab12Cd_dddd456789abcdef0123456789abcd0d0d"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestResolveRoleKeyPrecedence(t *testing.T) {
	marketer := policy.Role{Name: "marketer"}
	custom := policy.Role{Name: "service", KeyEnv: "CRM_KLAVIYO_KEY"}
	for _, tc := range []struct {
		name       string
		role       policy.Role
		stdin      string
		vars       map[string]string
		stored     bool
		want       string
		wantSource string
		account    string
	}{
		{"stdin beats env and keyring", marketer, stdinKey + "\n", map[string]string{"KLAVIYO_KEY_MARKETER": envKey}, true, stdinKey, "stdin", "Ab12Cd"},
		{"env beats keyring", marketer, "", map[string]string{"KLAVIYO_KEY_MARKETER": envKey}, true, envKey, "env KLAVIYO_KEY_MARKETER", ""},
		{"keyring when env is unset", marketer, "", nil, true, keyringKey, "keyring", ""},
		{"empty env counts as unset", marketer, "", map[string]string{"KLAVIYO_KEY_MARKETER": ""}, true, keyringKey, "keyring", ""},
		{"key_env names the variable", custom, "", map[string]string{"CRM_KLAVIYO_KEY": envKey, "KLAVIYO_KEY_SERVICE": keyringKey}, false, envKey, "env CRM_KLAVIYO_KEY", ""},
		{"another role's variable does not count", marketer, "", map[string]string{"KLAVIYO_KEY_VIEWER": envKey}, true, keyringKey, "keyring", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mockKeyring(t, nil)
			if tc.stored {
				if err := s.Set(context.Background(), RoleKeyItem(tc.role.Name), NewSecret(keyringKey)); err != nil {
					t.Fatal(err)
				}
			}
			opts := ResolveOptions{Getenv: env(tc.vars)}
			if tc.stdin != "" {
				opts.Stdin = strings.NewReader(tc.stdin)
			}
			r, err := ResolveRoleKey(context.Background(), s, tc.role, opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Value.Reveal() != tc.want || r.Source.String() != tc.wantSource || r.AccountID != tc.account {
				t.Errorf("got %v from %q (account %q), want %s from %q (account %q)",
					r.Value, r.Source, r.AccountID, mask.Secret(tc.want), tc.wantSource, tc.account)
			}
		})
	}
}

func TestResolveRoleKeyFailures(t *testing.T) {
	viewer := policy.Role{Name: "viewer"}
	for _, tc := range []struct {
		name    string
		keyring error // nil: a working, empty keyring
		off     bool
		stored  string
		stdin   string
		vars    map[string]string
		kind    fault.Kind
		message string
		hint    string
	}{
		{name: "nothing anywhere", kind: fault.Unavailable,
			message: "no key for role viewer: KLAVIYO_KEY_VIEWER is not set and the keyring holds none",
			hint:    "store one with `klrbac keys set viewer`, or set KLAVIYO_KEY_VIEWER"},
		{name: "keyring off", off: true, kind: fault.Unavailable,
			message: "no key for role viewer: KLAVIYO_KEY_VIEWER is not set and the keyring is off",
			hint:    "set KLAVIYO_KEY_VIEWER, or turn the keyring on"},
		{name: "keyring locked", keyring: errors.New("failed to unlock correct collection '/x'"), kind: fault.Unavailable,
			message: "cannot read role:viewer in the keyring: the keyring is locked", hint: "or set KLAVIYO_KEY_VIEWER"},
		{name: "malformed variable", vars: map[string]string{"KLAVIYO_KEY_VIEWER": "Xy9Q7w"}, kind: fault.Config,
			message: "KLAVIYO_KEY_VIEWER: this looks like a 6-character public key", hint: "pk_"},
		{name: "malformed stdin", stdin: "pk_123", kind: fault.Usage,
			message: "standard input: not a Klaviyo private API key", hint: "pk_"},
		{name: "malformed keyring item", stored: "garbage-not-a-key", kind: fault.Unavailable,
			message: "the keyring's key for role viewer is not a Klaviyo private API key", hint: "klrbac keys set viewer --force"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mockKeyring(t, tc.keyring)
			if tc.off {
				s = New(Options{Off: true})
			}
			if tc.stored != "" {
				_ = s.Set(context.Background(), RoleKeyItem("viewer"), NewSecret(tc.stored))
			}
			opts := ResolveOptions{Getenv: env(tc.vars)}
			if tc.stdin != "" {
				opts.Stdin = strings.NewReader(tc.stdin)
			}
			_, err := ResolveRoleKey(context.Background(), s, viewer, opts)
			if err == nil {
				t.Fatal("resolved")
			}
			if fault.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q (kind %v), want %q (kind %v)", err, fault.KindOf(err), tc.message, tc.kind)
			}
			if hints := strings.Join(fault.Hints(err), "\n"); !strings.Contains(hints, tc.hint) {
				t.Errorf("hints %q, want %q", hints, tc.hint)
			}
			for _, secret := range []string{"Xy9Q7w", "garbage-not-a-key"} {
				if strings.Contains(err.Error(), secret) || strings.Contains(strings.Join(fault.Hints(err), ""), secret) {
					t.Errorf("error repeats the value: %v", err)
				}
			}
		})
	}
	t.Run("nothing found matches ErrNoCredential", func(t *testing.T) {
		_, err := ResolveRoleKey(context.Background(), mockKeyring(t, nil), viewer, ResolveOptions{Getenv: env(nil)})
		if !errors.Is(err, ErrNoCredential) {
			t.Errorf("%v", err)
		}
	})
}

func TestResolveOAuthClientSecret(t *testing.T) {
	s := mockKeyring(t, nil)
	ctx := context.Background()
	const stored, fromEnv = "stored-client-secret-0001", "env-client-secret-0002"
	if _, err := ResolveOAuthClientSecret(ctx, s, "crm", ResolveOptions{Getenv: env(nil)}); !errors.Is(err, ErrNoCredential) ||
		!strings.Contains(strings.Join(fault.Hints(err), ""), "klrbac oauth set-secret crm") {
		t.Fatalf("nothing stored: %v %q", err, fault.Hints(err))
	}
	if err := s.Set(ctx, OAuthClientItem("crm"), NewSecret(stored)); err != nil {
		t.Fatal(err)
	}
	r, err := ResolveOAuthClientSecret(ctx, s, "crm", ResolveOptions{Getenv: env(nil)})
	if err != nil || r.Value.Reveal() != stored || r.Source.String() != "keyring" {
		t.Fatalf("keyring: %v from %v, %v", r.Value, r.Source, err)
	}
	r, err = ResolveOAuthClientSecret(ctx, s, "crm", ResolveOptions{Getenv: env(map[string]string{ClientSecretEnv: fromEnv})})
	if err != nil || r.Value.Reveal() != fromEnv || r.Source.String() != "env KLAVIYO_OAUTH_CLIENT_SECRET" {
		t.Fatalf("env: %v from %v, %v", r.Value, r.Source, err)
	}
	r, err = ResolveOAuthClientSecret(ctx, s, "crm", ResolveOptions{Stdin: strings.NewReader("stdin-client-secret-03\n"),
		Getenv: env(map[string]string{ClientSecretEnv: fromEnv})})
	if err != nil || r.Value.Reveal() != "stdin-client-secret-03" || r.Source.String() != "stdin" {
		t.Fatalf("stdin: %v from %v, %v", r.Value, r.Source, err)
	}
}

func TestRoleKeys(t *testing.T) {
	s := mockKeyring(t, nil)
	ctx := context.Background()
	_ = s.Set(ctx, RoleKeyItem("admin"), NewSecret(keyringKey))
	_ = s.Set(ctx, RoleKeyItem("marketer"), NewSecret(keyringKey)) // shadowed by the variable
	_ = s.Set(ctx, RoleKeyItem("service"), NewSecret("not-a-key"))
	roles := policy.Default().Roles
	got := RoleKeys(ctx, s, roles, env(map[string]string{"KLAVIYO_KEY_MARKETER": stdinKey, "KLAVIYO_KEY_DEVELOPER": "Xy9Q7w"}), false)
	want := map[string]struct {
		source, mask, account string
		err                   bool
	}{
		"admin":     {"keyring", "pk_****0c0c", "", false},
		"marketer":  {"env KLAVIYO_KEY_MARKETER", "pk_****0d0d", "Ab12Cd", false},
		"developer": {"env KLAVIYO_KEY_DEVELOPER", "****", "", true},
		"viewer":    {"none", "", "", false},
		"service":   {"keyring", "****", "", true},
	}
	if len(got) != len(roles) {
		t.Fatalf("%d results for %d roles", len(got), len(roles))
	}
	for i, rk := range got {
		w := want[rk.Role]
		if rk.Role != roles[i].Name || rk.Source.String() != w.source || rk.Key.Masked() != w.mask ||
			rk.AccountID != w.account || (rk.Err != nil) != w.err || rk.Env != roles[i].EnvVar() {
			t.Errorf("%s: %+v (err %v)", rk.Role, rk, rk.Err)
		}
	}
	// A key read from a variable is the key ResolveRoleKey finds there: surrounding whitespace
	// (a newline from a file or secret store) is not part of it.
	padded := env(map[string]string{"KLAVIYO_KEY_ADMIN": "  " + keyringKey + "\n"})
	one, err := ResolveRoleKey(ctx, s, roles[0], ResolveOptions{Getenv: padded})
	if err != nil {
		t.Fatal(err)
	}
	if all := RoleKeys(ctx, s, roles[:1], padded, false); all[0].Err != nil || all[0].Key.Reveal() != one.Value.Reveal() || one.Value.Reveal() != keyringKey {
		t.Errorf("padded variable: RoleKeys and ResolveRoleKey disagree (%v)", all[0].Err)
	}
	off := RoleKeys(ctx, New(Options{Off: true}), roles, env(nil), false)
	for _, rk := range off {
		if rk.Source.Kind != "" || rk.Err != nil {
			t.Errorf("keyring off: %s: %v %v", rk.Role, rk.Source, rk.Err)
		}
	}
}

// rendezvousBackend answers only once every expected caller is waiting at the same time, so it
// proves the lookups run concurrently: one after another, the first would time out.
type rendezvousBackend struct {
	mu      sync.Mutex
	waiting int
	want    int
	all     chan struct{}
}

func (r *rendezvousBackend) Get(string, string) (string, error) {
	r.mu.Lock()
	r.waiting++
	if r.waiting == r.want {
		close(r.all)
	}
	r.mu.Unlock()
	<-r.all
	return "", keyring.ErrNotFound
}
func (r *rendezvousBackend) Set(string, string, string) error { return nil }
func (r *rendezvousBackend) Delete(string, string) error      { return nil }

func TestRoleKeysLooksUpConcurrently(t *testing.T) {
	roles := policy.Default().Roles
	b := &rendezvousBackend{want: len(roles), all: make(chan struct{})}
	s := New(Options{Backend: b, Timeout: 5 * time.Second})
	for _, rk := range RoleKeys(context.Background(), s, roles, env(nil), false) {
		if rk.Err != nil || rk.Source.Kind != "" {
			t.Errorf("%s: %v %v", rk.Role, rk.Source, rk.Err)
		}
	}
}

func TestRoleKeysSkipKeyring(t *testing.T) {
	h := &hungBackend{release: make(chan struct{})}
	defer close(h.release)
	s := New(Options{Backend: h, Timeout: time.Hour})
	RoleKeys(context.Background(), s, policy.Default().Roles, env(nil), true)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.calls != 0 {
		t.Errorf("%d keyring calls with skipKeyring", h.calls)
	}
}
