package ui

import (
	"bytes"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/oauthflow"
)

// A valid token set is shown whole on stdout, its remaining time read the way a person reads it;
// nothing goes to stderr.
func TestOAuthStatusOfAValidTokenSet(t *testing.T) {
	var out, errOut bytes.Buffer
	s := &IO{Out: &out, Err: &errOut}
	s.OAuthStatus(oauthflow.Status{
		App: "crm", LoggedIn: true, Status: "valid", Valid: true, Refreshable: true, Stored: "oauth-token:crm",
		ClientID: "client-1", AccountID: "AbC123", AccountName: "Demo", AccessToken: "****a1b2", AccessTokenFingerprint: "0c1d2e3f",
		RefreshToken: "****c3d4", RefreshTokenFingerprint: "4a5b6c7d", ExpiresAt: "2026-05-01T10:00:00Z", ExpiresIn: 3540,
		Scopes: []string{"accounts:read", "profiles:read"}, MissingScopes: []string{"lists:read"},
	})
	want := `app:            crm
status:         valid for 59m
stored in:      keyring item oauth-token:crm (service klrbac)
client id:      client-1
account:        AbC123 (Demo)
access token:   ****a1b2 (fingerprint 0c1d2e3f), expires 2026-05-01T10:00:00Z
refresh token:  ****c3d4 (fingerprint 4a5b6c7d)
scopes:         accounts:read, profiles:read
not granted:    lists:read
authorized:     -
`
	if out.String() != want || errOut.Len() != 0 {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	}
}

// An app not logged in, or whose token set is dead, gets a hint on stderr, whatever stdout is.
func TestOAuthStatusHints(t *testing.T) {
	var out, errOut bytes.Buffer
	s := &IO{Out: &out, Err: &errOut}
	s.OAuthStatus(oauthflow.Status{App: "crm", Status: "not logged in"})
	if out.String() != "app:            crm\nstatus:         not logged in\n" || errOut.String() != "hint: log in with klrbac oauth login crm\n" {
		t.Errorf("not logged in: stdout %q, stderr %q", out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	s.OAuthStatus(oauthflow.Status{App: "crm", LoggedIn: true, Status: "expired, not refreshable"})
	if errOut.String() != "hint: re-authorize with klrbac oauth login crm\n" {
		t.Errorf("expired: stderr %q", errOut.String())
	}
}

func TestRoughDurationAndMoment(t *testing.T) {
	for d, want := range map[time.Duration]string{42 * time.Second: "42s", 59*time.Minute + 30*time.Second: "59m", time.Hour: "1h0m"} {
		if got := roughDuration(d); got != want {
			t.Errorf("roughDuration(%s) = %q, want %q", d, got, want)
		}
	}
	if got := Moment(time.Time{}); got != "unknown" {
		t.Errorf("Moment(zero) = %q", got)
	}
	if got := Moment(time.Date(2026, 5, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600))); got != "2026-05-01T10:00:00Z" {
		t.Errorf("Moment = %q, want UTC", got)
	}
}
