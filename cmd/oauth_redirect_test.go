package cmd

import (
	"testing"

	"github.com/klrbac/klrbac/internal/oauthflow"
)

// TestWithDefaultRedirect: the tests' free port replaces only the default redirect URI, never one an
// app registers itself.
func TestWithDefaultRedirect(t *testing.T) {
	saved := defaultRedirectURI
	t.Cleanup(func() { defaultRedirectURI = saved })
	if got := withDefaultRedirect(oauthflow.DefaultApp()).RedirectURI; got != oauthflow.DefaultRedirectURI {
		t.Errorf("unchanged default: redirect URI %q, want %q", got, oauthflow.DefaultRedirectURI)
	}
	defaultRedirectURI = "http://127.0.0.1:41234/callback"
	if got := withDefaultRedirect(oauthflow.DefaultApp()).RedirectURI; got != defaultRedirectURI {
		t.Errorf("default app: redirect URI %q, want %q", got, defaultRedirectURI)
	}
	own := oauthflow.App{Name: "crm", RedirectURI: "http://localhost:9000/callback"}
	if got := withDefaultRedirect(own).RedirectURI; got != own.RedirectURI {
		t.Errorf("an app's own redirect URI became %q", got)
	}
}
