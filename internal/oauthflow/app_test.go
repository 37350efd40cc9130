package oauthflow

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/fault"
)

func parseApps(t *testing.T, src string) ([]App, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "oauth" {
			return ParseApps("klrbac.yaml", root.Content[i+1])
		}
	}
	return ParseApps("klrbac.yaml", nil)
}

func TestParseApps(t *testing.T) {
	apps, err := parseApps(t, `
oauth:
  apps:
    crm-sync:
      client_id: crm-client
      redirect_uri: http://localhost:9876/cb
      scopes: [accounts:read, profiles:read, profiles:read]
    minimal:
    default:
      scopes: [lists:read]
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []App{
		{Name: "crm-sync", ClientID: "crm-client", RedirectURI: "http://localhost:9876/cb", Scopes: []string{"accounts:read", "profiles:read"}, File: "klrbac.yaml", Line: 4},
		{Name: "minimal", RedirectURI: DefaultRedirectURI, File: "klrbac.yaml", Line: 8},
		{Name: "default", RedirectURI: DefaultRedirectURI, Scopes: []string{"lists:read"}, File: "klrbac.yaml", Line: 9},
	}
	if len(apps) != len(want) {
		t.Fatalf("apps %+v", apps)
	}
	for i := range want {
		a, w := apps[i], want[i]
		if a.Name != w.Name || a.ClientID != w.ClientID || a.RedirectURI != w.RedirectURI || !slices.Equal(a.Scopes, w.Scopes) || a.Line != w.Line || a.BuiltIn() {
			t.Errorf("app %d: %+v, want %+v", i, a, w)
		}
	}
	for _, src := range []string{"roles: {}", "oauth:", "oauth: {}", "oauth:\n  apps:"} {
		if apps, err := parseApps(t, src); err != nil || len(apps) != 0 {
			t.Errorf("%q: %v %v", src, apps, err)
		}
	}
}

func TestParseAppsProblems(t *testing.T) {
	src := `oauth:
  apps:
    Bad:Name: {}
    crm:
      client_id: crm
      redirect_url: http://127.0.0.1:8765/callback
      scopes: [profile:read, accounts:read]
    remote:
      redirect_uri: http://example.com:8765/callback
    noport:
      redirect_uri: http://127.0.0.1/callback
      scopes: profiles:read
    tls:
      redirect_uri: https://127.0.0.1:8765/callback
    crm:
      client_id: again
`
	_, err := parseApps(t, src)
	if fault.KindOf(err) != fault.Config {
		t.Fatalf("kind %v: %v", fault.KindOf(err), err)
	}
	var msgs, hints []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		msgs = append(msgs, e.Error())
		hints = append(hints, strings.Join(fault.Hints(e), " | "))
	}
	want := []struct{ msg, hint string }{
		{`klrbac.yaml:3: oauth.apps: invalid app name "Bad:Name"`, "lowercase"},
		{`klrbac.yaml:6: oauth.apps.crm: unknown field "redirect_url"`, `did you mean "redirect_uri"?`},
		{`klrbac.yaml:7: oauth.apps.crm.scopes: unknown Klaviyo scope "profile:read"`, `did you mean "profiles:read"?`},
		{`klrbac.yaml:9: oauth.apps.remote.redirect_uri: refusing redirect URI "http://example.com:8765/callback": example.com is not a loopback address`, "loopback URI"},
		{`klrbac.yaml:11: oauth.apps.noport.redirect_uri: redirect URI "http://127.0.0.1/callback" has no port`, "port included"},
		{`klrbac.yaml:12: oauth.apps.noport.scopes: expected a list, found "profiles:read"`, "write a list"},
		{`klrbac.yaml:14: oauth.apps.tls.redirect_uri: refusing redirect URI "https://127.0.0.1:8765/callback"`, "loopback URI"},
		{`klrbac.yaml:15: oauth.apps: "crm" is defined twice (first on line 4)`, "remove one of them"},
	}
	if len(msgs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(msgs), len(want), strings.Join(msgs, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(msgs[i], w.msg) || !strings.Contains(hints[i], w.hint) {
			t.Errorf("problem %d:\n got %s (hint %s)\nwant %s (hint ~ %s)", i, msgs[i], hints[i], w.msg, w.hint)
		}
	}
	if _, err := parseApps(t, "oauth:\n  apps: [a, b]\n"); err == nil || !strings.Contains(err.Error(), "klrbac.yaml:2: oauth.apps: expected a mapping") {
		t.Errorf("apps as a list: %v", err)
	}
}

func TestCheckRedirectURI(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8765/callback", "http://localhost:1/", "http://[::1]:8765/cb", "http://127.5.0.1:80/x", "http://LOCALHOST:8765"} {
		if _, err := CheckRedirectURI(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:8765", "http://127.0.0.1:0/cb", "http://127.0.0.1:99999/cb", "http://0.0.0.0:8765/cb",
		"http://192.168.1.2:8765/cb", "http://user@127.0.0.1:8765/cb", "http://127.0.0.1:8765/cb?x=1", "http://127.0.0.1:8765/cb#f",
		"http://localhost.example.com:8765/cb", "ftp://127.0.0.1:8765/cb"} {
		if _, err := CheckRedirectURI(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A port out of range is not a missing port: the message says which.
func TestRedirectURIPortMessages(t *testing.T) {
	for uri, want := range map[string]string{
		"http://127.0.0.1:99999/cb": `redirect URI "http://127.0.0.1:99999/cb" has port 99999, out of range (1-65535)`,
		"http://127.0.0.1:0/cb":     `redirect URI "http://127.0.0.1:0/cb" has port 0, out of range (1-65535)`,
		"http://localhost/cb":       `redirect URI "http://localhost/cb" has no port`,
		"http://localhost:/cb":      `redirect URI "http://localhost:/cb" has no port`,
	} {
		_, err := CheckRedirectURI(uri)
		if err == nil || err.Error() != want || fault.KindOf(err) != fault.Config {
			t.Errorf("%s: %v, want %q", uri, err, want)
		}
	}
}

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes("accounts:read, profiles:read profiles:read,,lists:write")
	if err != nil || !slices.Equal(got, []string{"accounts:read", "profiles:read", "lists:write"}) {
		t.Errorf("%v %v", got, err)
	}
	if _, err := ParseScopes("accounts:raed"); fault.KindOf(err) != fault.Usage || !strings.Contains(strings.Join(fault.Hints(err), ""), "accounts:read") {
		t.Errorf("typo: %v %v", err, fault.Hints(err))
	}
}

func TestParseCallback(t *testing.T) {
	cb, err := parseCallback("code=abc&state=xyz")
	if err != nil || cb.Code != "abc" || cb.State != "xyz" || !cb.answer() {
		t.Errorf("%+v %v", cb, err)
	}
	cb, err = parseCallback("error=access_denied&error_description=The+user+denied&state=xyz")
	if err != nil || cb.Error != "access_denied" || cb.Description != "The user denied" {
		t.Errorf("%+v %v", cb, err)
	}
	for _, bad := range []string{"code=a&code=b&state=s", "code=a&state=s&state=t", "code=a&error=x&state=s", "code=a%00b&state=s",
		"code=a b&state=s", "%zz", "code=" + strings.Repeat("a", maxCode+1)} {
		if _, err := parseCallback(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParsePasted(t *testing.T) {
	redirect, _ := url.Parse("http://127.0.0.1:8765/callback")
	for _, ok := range []string{"http://127.0.0.1:8765/callback?code=c&state=s", " HTTP://127.0.0.1:8765/callback?code=c&state=s\t", "code=c&state=s", "?code=c&state=s"} {
		if cb, err := parsePasted(ok, redirect); err != nil || cb.Code != "c" || cb.State != "s" {
			t.Errorf("%q: %+v %v", ok, cb, err)
		}
	}
	for _, bad := range []string{"http://127.0.0.1:8766/callback?code=c&state=s", "http://127.0.0.1:8765/other?code=c&state=s",
		"https://attacker.example/callback?code=c&state=s", "http://%zz"} {
		if _, err := parsePasted(bad, redirect); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPrintable(t *testing.T) {
	if got := printable("bad\x1b[31mred\u0085\nline", 100); got != "bad [31mred  line" {
		t.Errorf("%q", got)
	}
	if got := printable(strings.Repeat("x", 10), 4); got != "xxxx…" {
		t.Errorf("%q", got)
	}
}

func TestRefusedError(t *testing.T) {
	e := &RefusedError{What: "the refresh token of OAuth app a", Code: "invalid_grant_type", Description: "gone"}
	if !e.Grant() || e.Client() || e.Error() != "Klaviyo refused the refresh token of OAuth app a (invalid_grant_type): gone" {
		t.Errorf("%v", e)
	}
	if errors.Is(e, ErrReauthorize) {
		t.Error("a bare refusal asks for a login: only a refused refresh token does")
	}
}

// A client secret typed where a scope belongs, or written into the config, must not be printed
// back: the error says where it is and what to do, never what it is.
func TestSecretsWhereScopesBelongAreNotRepeated(t *testing.T) {
	const secret = "f84aae6dcfcdac58a15ec4b3e420232276"
	_, err := ParseScopes("accounts:read," + secret)
	if err == nil || fault.KindOf(err) != fault.Usage {
		t.Fatalf("a secret as a scope: %v", err)
	}
	shown := err.Error() + strings.Join(fault.Hints(err), "\n")
	if strings.Contains(shown, secret) || strings.Contains(shown, secret[:8]) {
		t.Errorf("the secret is repeated: %s", shown)
	}
	if !strings.Contains(err.Error(), "looks like a credential") || !strings.Contains(shown, "oauth set-secret") {
		t.Errorf("a secret as a scope: %s", shown)
	}

	_, err = parseApps(t, `oauth:
  apps:
    crm:
      scopes: [profiles:read, `+secret+`]
      client_secret: `+secret+`
    sync:
      client_secret: not-hex-but-a-secret-all-the-same
`)
	if fault.KindOf(err) != fault.Config {
		t.Fatalf("kind %v: %v", fault.KindOf(err), err)
	}
	var msgs []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		msgs = append(msgs, e.Error()+" | hint: "+strings.Join(fault.Hints(e), " | "))
	}
	all := strings.Join(msgs, "\n")
	if strings.Contains(all, secret[:8]) || strings.Contains(all, "not-hex") {
		t.Errorf("a secret is repeated:\n%s", all)
	}
	want := []string{
		`klrbac.yaml:4: oauth.apps.crm.scopes: a scope looks like a credential, so it is not repeated here`,
		`klrbac.yaml:5: oauth.apps.crm.client_secret: refusing a client secret in the config file`,
		`klrbac.yaml:7: oauth.apps.sync.client_secret: refusing a client secret in the config file`,
	}
	if len(msgs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(msgs), len(want), all)
	}
	for i, w := range want {
		if !strings.HasPrefix(msgs[i], w) {
			t.Errorf("problem %d:\n got %s\nwant %s", i, msgs[i], w)
		}
	}
	for i, app := range []string{"crm", "sync"} {
		if m := msgs[i+1]; !strings.Contains(m, "hint: client secrets never go in the config file: klrbac oauth set-secret "+app+", or KLAVIYO_OAUTH_CLIENT_SECRET") {
			t.Errorf("no hint for the client secret: %s", m)
		}
	}
}
