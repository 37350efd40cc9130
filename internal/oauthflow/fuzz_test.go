package oauthflow

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/fault"
)

// FuzzParseCallback feeds the callback server's query parser what any web page could make a
// browser send to it: it must never panic, and what it accepts must be bounded and plain.
func FuzzParseCallback(f *testing.F) {
	for _, s := range []string{"code=abc&state=xyz", "error=access_denied&error_description=denied&state=s", "code=a&code=b",
		"state=%00", "%zz", "", "code=" + strings.Repeat("a", maxCode), "error=x&code=y", "code=%E2%80%AE&state=s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		cb, err := parseCallback(q)
		if err != nil {
			return
		}
		if len(cb.Code) > maxCode || len(cb.State) > maxState || len(cb.Error) > maxErrorCode || len(cb.Description) > maxDescription {
			t.Fatalf("unbounded: %+v", cb)
		}
		if cb.Code != "" && cb.Error != "" {
			t.Fatal("both a code and an error")
		}
		for _, r := range cb.Code + cb.State {
			if r <= ' ' || r >= 0x7f {
				t.Fatalf("control or non-ASCII character in code or state: %q", cb.Code+cb.State)
			}
		}
		if p := printable(cb.Description, 200); strings.ContainsFunc(p, func(r rune) bool { return r < ' ' || r == 0x7f }) || !utf8.ValidString(p) && utf8.ValidString(cb.Description) {
			t.Fatalf("printable kept a control character: %q", p)
		}
	})
}

// FuzzParsePasted feeds manual mode's parser whatever a person might paste.
func FuzzParsePasted(f *testing.F) {
	redirect, _ := url.Parse(DefaultRedirectURI)
	for _, s := range []string{DefaultRedirectURI + "?code=c&state=s", "code=c&state=s", "?error=access_denied&state=s",
		"http://127.0.0.1:8765/other?code=c", "http://%zz", "  ", "https://[::1]:8765/callback?code=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cb, err := parsePasted(s, redirect)
		if err != nil {
			return
		}
		if strings.Contains(s, "://") {
			u, perr := url.Parse(strings.TrimSpace(s))
			if perr != nil || !strings.EqualFold(u.Host, redirect.Host) || u.EscapedPath() != redirect.EscapedPath() {
				t.Fatalf("accepted a URL that is not the redirect URI: %q", s)
			}
		}
		if len(cb.Code) > maxCode || len(cb.State) > maxState {
			t.Fatalf("unbounded: %+v", cb)
		}
	})
}

// FuzzParseApps feeds the config's oauth section to the app parser: any YAML must give apps or
// configuration errors, never a panic, and every app accepted must be usable.
func FuzzParseApps(f *testing.F) {
	for _, s := range []string{
		"apps:\n  crm:\n    client_id: c\n    redirect_uri: http://127.0.0.1:8765/cb\n    scopes: [accounts:read]\n",
		"apps: [1, 2]", "apps:\n  x: 1", "apps:\n  a:\n    scopes: [[x]]", "apps:\n  a:\n    redirect_uri: {a: b}", "apps: ~", "{}",
		"apps:\n  a: {}\n  a: {}", "apps:\n  '': {}",
		"apps:\n  a:\n    client_secret: s3cr3t\n    scopes: [f84aae6dcfcdac58a15ec4b3e420232276]", "apps:\n  a:\n    secret: {x: 1}\n    clientSecret: [1]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var doc yaml.Node
		if yaml.Unmarshal([]byte(src), &doc) != nil || len(doc.Content) == 0 {
			return
		}
		apps, err := ParseApps("f.yaml", doc.Content[0])
		if err != nil {
			if fault.KindOf(err) != fault.Config {
				t.Fatalf("error of kind %v: %v", fault.KindOf(err), err)
			}
			return
		}
		for _, a := range apps {
			if _, err := CheckRedirectURI(a.RedirectURI); err != nil {
				t.Fatalf("accepted app %s with redirect URI %q: %v", a.Name, a.RedirectURI, err)
			}
			for _, s := range a.Scopes {
				if CheckScope(s) != nil {
					t.Fatalf("accepted scope %q", s)
				}
			}
		}
	})
}
