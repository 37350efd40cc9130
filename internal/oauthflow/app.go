// Package oauthflow runs Klaviyo's OAuth authorization-code flow with PKCE from a terminal and keeps
// the tokens it yields fresh.
//
// A login listens on the app's loopback redirect URI, shows the person the authorize URL (and opens
// their browser on it), takes the first callback that carries this login's state, exchanges the code
// with HTTP Basic client authentication and the PKCE verifier, and hands the token set to the caller
// to store. In manual mode nothing listens: the person pastes the URL their browser was sent to.
//
// A Keeper hands out access tokens, refreshing them shortly before they expire. Refresh tokens rotate,
// so two processes must never refresh with the same one: refreshes of an app are serialised by a lock
// file, and the token set is read again once the lock is held.
//
// Everything with a side effect (the network, the clock, the listener, the browser, the keyring)
// comes in through fields, so tests drive a login with a scripted HTTP client in place of a browser.
package oauthflow

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/suggest"
	"github.com/klrbac/klrbac/internal/yamlcheck"
)

// DefaultRedirectURI is the redirect URI of the built-in default app: register it with the app in
// Klaviyo. Klaviyo matches redirect URIs exactly, port included, so the port is fixed.
const DefaultRedirectURI = "http://127.0.0.1:8765/callback"

// ClientIDEnv supplies the client id of an app whose configuration names none, and of the built-in
// default app.
const ClientIDEnv = "KLAVIYO_OAUTH_CLIENT_ID"

// App is an OAuth app registered with Klaviyo, as klrbac logs in with it.
type App struct {
	// Name is klrbac's name for it: the key under oauth.apps, and the keyring items' suffix.
	Name string
	// ClientID is the app's client id; "" when the config names none (KLAVIYO_OAUTH_CLIENT_ID then
	// supplies it).
	ClientID string
	// RedirectURI is a loopback http URI with a fixed port, registered with the app.
	RedirectURI string
	// Scopes are the scopes a login asks for.
	Scopes []string
	// File and Line say where the config defines the app; Line is 0 for the built-in default app.
	File string
	Line int
}

// BuiltIn reports whether a is the default app klrbac knows without configuration.
func (a App) BuiltIn() bool { return a.Line == 0 }

// DefaultApp is the app "default" when the config defines none: the client id comes from
// KLAVIYO_OAUTH_CLIENT_ID, the redirect URI is DefaultRedirectURI, and the scopes come from the
// command line.
func DefaultApp() App {
	return App{Name: secrets.DefaultApp, RedirectURI: DefaultRedirectURI}
}

// Endpoints are Klaviyo's OAuth URLs.
type Endpoints struct {
	AuthURL   string // the consent page: <auth base>/oauth/authorize
	TokenURL  string // <API base>/oauth/token
	RevokeURL string // <API base>/oauth/revoke
}

// EndpointsFor derives the endpoints from klaviyo.auth_url and klaviyo.api_url.
func EndpointsFor(authBase, apiBase string) Endpoints {
	auth, api := klaviyo.NormalizeBaseURL(authBase), klaviyo.NormalizeBaseURL(apiBase)
	return Endpoints{AuthURL: auth + "/oauth/authorize", TokenURL: api + "/oauth/token", RevokeURL: api + "/oauth/revoke"}
}

// appKeys are the keys an app may have under oauth.apps.<name>.
var appKeys = []string{"client_id", "redirect_uri", "scopes"}

// ParseApps reads oauth.apps from the config's oauth section (nil or without apps: none). Every
// problem is reported, each as file:line with a hint, as a configuration error (exit 2).
func ParseApps(file string, section *yaml.Node) ([]App, error) {
	apps := yamlcheck.Lookup(section, "apps")
	if apps == nil {
		return nil, nil
	}
	ps := &yamlcheck.Problems{File: file}
	var out []App
	ps.Entries(apps, "oauth.apps", func(k, v *yaml.Node) {
		if err := secrets.CheckAppName(k.Value); err != nil {
			ps.Add(k, "use 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", "oauth.apps: invalid app name %q", k.Value)
			return
		}
		if a, ok := app(ps, file, k, v); ok {
			out = append(out, a)
		}
	})
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// app reads one app; ok is false when it has problems.
func app(ps *yamlcheck.Problems, file string, k, v *yaml.Node) (App, bool) {
	a := App{Name: k.Value, RedirectURI: DefaultRedirectURI, File: file, Line: k.Line}
	where := "oauth.apps." + a.Name
	before := ps.Len()
	ps.Fields(withoutSecrets(ps, v, where, a.Name), where, appKeys, func(field string, _, fv *yaml.Node) {
		what := where + "." + field
		if field == "scopes" {
			a.Scopes = scopes(ps, fv, what)
			return
		}
		if fv.Kind != yaml.ScalarNode || yamlcheck.IsNull(fv) {
			ps.String(fv, what) // says what is there instead
			return
		}
		switch field {
		case "client_id":
			a.ClientID = strings.TrimSpace(fv.Value)
			if a.ClientID == "" || strings.ContainsAny(a.ClientID, " \t\r\n") {
				ps.Add(fv, "copy the client id from the app's page in Klaviyo, or leave client_id out to use "+ClientIDEnv, "%s: %q is not a client id", what, fv.Value)
			}
		case "redirect_uri":
			if _, err := CheckRedirectURI(fv.Value); err != nil {
				msg, hint := causeOf(err)
				ps.Add(fv, hint, "%s: %s", what, msg)
				return
			}
			a.RedirectURI = fv.Value
		}
	})
	return a, ps.Len() == before
}

// withoutSecrets refuses the fields of app n that would hold its client secret, by name alone (the
// value may not look like one, and is never repeated), and returns n without them, so that they are
// not reported a second time as unknown fields.
func withoutSecrets(ps *yamlcheck.Problems, n *yaml.Node, where, name string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return n
	}
	kept := *n
	kept.Content = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if isSecretField(k.Value) {
			ps.Add(k, "client secrets never go in the config file: klrbac oauth set-secret "+name+", or "+secrets.ClientSecretEnv,
				"%s.%s: refusing a client secret in the config file", where, k.Value)
			continue
		}
		kept.Content = append(kept.Content, k, n.Content[i+1])
	}
	return &kept
}

// isSecretField reports whether a field's name says it holds a client secret: client_secret, and
// the spellings people reach for (clientSecret, client-secret, secret).
func isSecretField(name string) bool {
	n := strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(name))
	return n == "clientsecret" || n == "secret"
}

// scopes reads the scopes a login asks for: a scope listed twice is asked for once, as on the
// command line.
func scopes(ps *yamlcheck.Problems, n *yaml.Node, what string) []string {
	var out []string
	for _, s := range ps.Sequence(n, what) {
		if s.Kind != yaml.ScalarNode || yamlcheck.IsNull(s) {
			ps.String(s, what) // says what is there instead
			continue
		}
		if err := CheckScope(s.Value); err != nil {
			msg, hint := causeOf(err)
			ps.Add(s, hint, "%s: %s", what, msg)
			continue
		}
		if !slices.Contains(out, s.Value) {
			out = append(out, s.Value)
		}
	}
	return out
}

// CheckScope checks a scope against the scopes Klaviyo assigns, with a suggestion when it is close
// to one of them.
func CheckScope(s string) error {
	if catalog.IsAssignable(s) {
		return nil
	}
	// A client secret pasted here must not be printed back, to a terminal or a CI log.
	if mask.LooksSecret(s) {
		return fault.Usagef("a scope looks like a credential, so it is not repeated here").Hint(
			"scopes are names such as profiles:read (`klrbac scopes list --all` lists them)",
			"client secrets never go in --scopes or the config file: klrbac oauth set-secret APP, or "+secrets.ClientSecretEnv)
	}
	hint := suggest.Hint(suggest.Closest(s, catalog.AssignableScopes(), 1))
	if hint == "" {
		hint = "`klrbac scopes list --all` lists Klaviyo's scopes"
	}
	return fault.Usagef("unknown Klaviyo scope %q", s).Hint(hint)
}

// ParseScopes splits a --scopes value (commas or spaces) and checks each scope.
func ParseScopes(s string) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if err := CheckScope(f); err != nil {
			return nil, err
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// CheckRedirectURI checks that a redirect URI is one a terminal can listen on: http, a loopback host
// (127.0.0.1 or another 127.x address, [::1], or localhost), an explicit port, no query or fragment.
// Anything else would mean listening where another machine could reach the callback, or a port
// Klaviyo cannot match exactly.
func CheckRedirectURI(s string) (*url.URL, error) {
	example := "use a loopback URI registered with the app, such as " + DefaultRedirectURI
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fault.Configf("%q is not a URL", s).Hint(example)
	}
	if u.Scheme != "http" {
		return nil, fault.Configf("refusing redirect URI %q: klrbac receives the callback on a loopback http address, not %s", s, u.Scheme).Hint(example)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, fault.Configf("redirect URI %q has user info, a query or a fragment", s).Hint(example)
	}
	host, port := u.Hostname(), u.Port()
	if !IsLoopbackHost(host) {
		return nil, fault.Configf("refusing redirect URI %q: %s is not a loopback address, so the callback could be received by another machine", s, host).Hint(example)
	}
	fixed := "Klaviyo matches redirect URIs exactly, port included: give a fixed port, such as " + DefaultRedirectURI
	if port == "" {
		return nil, fault.Configf("redirect URI %q has no port", s).Hint(fixed)
	}
	// url.Parse lets through any run of digits as a port.
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fault.Configf("redirect URI %q has port %s, out of range (1-65535)", s, port).Hint(fixed)
	}
	return u, nil
}

// IsLoopbackHost reports whether host (without port or brackets) names this machine only.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// causeOf splits a fault into its message and its first hint, to restate it at a config line.
func causeOf(err error) (msg, hint string) {
	if h := fault.Hints(err); len(h) > 0 {
		hint = h[0]
	}
	return err.Error(), hint
}
