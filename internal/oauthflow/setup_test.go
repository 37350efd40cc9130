package oauthflow

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/secrets"
)

// TestWithDefaultRedirect: the tests' free port replaces only the default redirect URI, never one an
// app registers itself.
func TestWithDefaultRedirect(t *testing.T) {
	if got := (Setup{RedirectURI: DefaultRedirectURI}).withDefaultRedirect(DefaultApp()).RedirectURI; got != DefaultRedirectURI {
		t.Errorf("unchanged default: redirect URI %q, want %q", got, DefaultRedirectURI)
	}
	s := Setup{RedirectURI: "http://127.0.0.1:41234/callback"}
	if got := s.withDefaultRedirect(DefaultApp()).RedirectURI; got != s.RedirectURI {
		t.Errorf("default app: redirect URI %q, want %q", got, s.RedirectURI)
	}
	own := App{Name: "crm", RedirectURI: "http://localhost:9000/callback"}
	if got := s.withDefaultRedirect(own).RedirectURI; got != own.RedirectURI {
		t.Errorf("an app's own redirect URI became %q", got)
	}
}

func setupWith(t *testing.T, yaml string) Setup {
	t.Helper()
	cfg, err := config.Parse("klrbac.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	return Setup{Config: cfg, ClientID: "env-client", RedirectURI: DefaultRedirectURI, Store: secrets.New(secrets.Options{Off: true})}
}

// An app takes KLAVIYO_OAUTH_CLIENT_ID's client id unless its config names one; an unknown name is a
// usage error that suggests the app it is close to.
func TestSetupApp(t *testing.T) {
	s := setupWith(t, "oauth:\n  apps:\n    crm-sync:\n      scopes: [profiles:read]\n    own:\n      client_id: own-client\n")
	for name, want := range map[string]string{"crm-sync": "env-client", "own": "own-client", "default": "env-client"} {
		if ap, err := s.App(name); err != nil || ap.ClientID != want {
			t.Errorf("%s: client id %q, %v; want %q", name, ap.ClientID, err, want)
		}
	}
	_, err := s.App("crm-synk")
	if fault.KindOf(err) != fault.Usage || err.Error() != `unknown OAuth app "crm-synk"` || fault.Hints(err)[0] != `did you mean "crm-sync"?` {
		t.Errorf("unknown app: %v %q", err, fault.Hints(err))
	}
}

// A keeper of an unknown app reports the unknown name where it would say "not logged in": the name
// is more likely mistyped than the app logged out.
func TestSetupKeeperOfAnUnknownApp(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	s := setupWith(t, "")
	s.Store = secrets.New(secrets.Options{Backend: &memKeyring{}})
	k, err := s.Keeper("crm")
	if err != nil {
		t.Fatal(err)
	}
	if k.LockFile != filepath.Join(state, "klrbac", "oauth", "crm.lock") {
		t.Errorf("lock file %s", k.LockFile)
	}
	if _, err := k.Status(context.Background()); fault.KindOf(err) != fault.Usage || errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("status of an unknown app: %v", err)
	}
	k, err = s.Keeper("default")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := k.Status(context.Background()); err != nil || st.Status != "not logged in" || st.LoggedIn {
		t.Errorf("status of the default app: %+v, %v", st, err)
	}
}

// A keeper records in the Setup's trail when it has one, and only then: a login cannot go without.
func TestSetupTrail(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	s := setupWith(t, "")
	k, err := s.Keeper("default")
	if err != nil || k.Trail != nil {
		t.Fatalf("no trail: keeper trail %v, %v", k.Trail, err)
	}
	if _, err := s.Login(context.Background(), "default", AuthorizeOptions{}); err == nil {
		t.Error("a login without a trail went ahead")
	}
	trail := audit.NewTrail(audit.Unavailable("", errors.New("no log")), audit.TrailOptions{})
	s.Trail = func() *audit.Trail { return trail }
	if k, err = s.Keeper("default"); err != nil || k.Trail != trail {
		t.Errorf("keeper trail %v, %v; want the Setup's", k.Trail, err)
	}
}
