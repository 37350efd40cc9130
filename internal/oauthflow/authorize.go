package oauthflow

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/warn"
)

// AuthorizeOptions tune Keeper.Authorize: `oauth login` as its flags ask.
type AuthorizeOptions struct {
	// Scopes, when set, replaces the app's scopes: comma separated.
	Scopes  string
	Timeout time.Duration
	// Manual, when set, starts no listener: the address the browser is sent to is read from it.
	Manual io.Reader
	// Open shows the consent page (nil: the URL is only printed, through Say).
	Open func(url string) error
	// Say tells the user what to do next; Stderr takes warnings.
	Say    func(string)
	Stderr io.Writer
	// Klaviyo is the client configuration used to ask which account authorized the app.
	Klaviyo klaviyo.Options
}

// LoginAuditor is the part of *audit.Trail a login uses: a login is audited in all its outcomes
// (granted, denied, refused, abandoned), and refused before anything listens when it could not be.
type LoginAuditor interface {
	Ready(ctx context.Context, action, resource string) error
	Record(ctx context.Context, entries ...audit.Entry) ([]audit.Entry, error)
}

// Authorize logs app in and keeps its tokens: the authorization-code flow with PKCE (Login), after
// checking everything that could fail once the browser is done, so that nobody authorizes an app
// only to find the tokens cannot be kept: the client id, the keyring, the client secret, the audit
// trail. Its changes are recorded through the Keeper's Trail; failed and abandoned logins through
// trail.
func (k *Keeper) Authorize(ctx context.Context, ap App, trail LoginAuditor, o AuthorizeOptions) (*Result, error) {
	name := ap.Name
	if o.Scopes != "" {
		scopes, err := ParseScopes(o.Scopes)
		if err != nil {
			return nil, err
		}
		ap.Scopes = scopes
	}
	if ap.ClientID == "" {
		e := fault.Configf("no client id for OAuth app %s", name)
		if ap.BuiltIn() {
			return nil, e.Hint("set " + ClientIDEnv + " to the app's client id, or define the app under oauth.apps in the config (see `klrbac oauth login --help`)")
		}
		return nil, e.Hint(fmt.Sprintf("set oauth.apps.%s.client_id (%s:%d), or %s", name, ap.File, ap.Line, ClientIDEnv))
	}
	if err := secrets.Probe(ctx, k.Store); err != nil {
		if secrets.ClassOf(err) == secrets.Disabled {
			return nil, fault.Unavailablef("refusing to log in: the keyring is off (keyring.backend: off), and klrbac keeps OAuth tokens only in the OS keyring").
				Hint("turn it on by unsetting KLRBAC_KEYRING")
		}
		return nil, secrets.Explain(err, "")
	}
	secret, err := secrets.ResolveOAuthClientSecret(ctx, k.Store, name, secrets.ResolveOptions{})
	if err != nil {
		return nil, err
	}
	resource := secrets.OAuthTokenItem(name).String()
	if err := trail.Ready(ctx, ActionLogin, resource); err != nil {
		return nil, err
	}
	login := &Login{
		App: ap, ClientSecret: secret.Value, Endpoints: k.Endpoints,
		HTTPClient: k.HTTPClient,
		Timeout:    o.Timeout,
		Say:        o.Say,
		Manual:     o.Manual,
		Open:       o.Open,
		Save: func(ctx context.Context, t *secrets.TokenSet) error {
			identifyAccount(ctx, o.Stderr, o.Klaviyo, name, t)
			return k.Install(ctx, *t, Change{
				Action: ActionLogin, Fingerprint: t.AccessToken.Fingerprint(),
				Endpoint: "POST /oauth/token", Reason: loginReason(*t),
			})
		},
		Failed: func(ctx context.Context, err error) {
			e := audit.Entry{Action: ActionLogin, Resource: resource, Reason: err.Error()}
			if _, rerr := trail.Record(ctx, e); rerr != nil {
				warn.Printf(o.Stderr, "the failed login was not recorded: %v", rerr)
			}
		},
		// The grant is revoked whether or not this can be recorded: the log may be what failed.
		Abandoned: func(ctx context.Context, c Change, err error) {
			e := audit.Entry{Action: c.Action, Resource: resource, Success: err == nil, Fingerprint: c.Fingerprint,
				KlaviyoEndpoint: c.Endpoint, Reason: c.Reason}
			if err != nil {
				e.Reason += ": failed: " + err.Error()
			}
			if _, rerr := trail.Record(ctx, e); rerr != nil {
				warn.Printf(o.Stderr, "the revocation was not recorded: %v", rerr)
			}
		},
	}
	return login.Run(ctx)
}

// identifyAccount records which account authorized the app, when the grant lets klrbac ask
// (accounts:read). Not knowing it is no reason to lose the login: a failure is a warning.
func identifyAccount(ctx context.Context, stderr io.Writer, opts klaviyo.Options, name string, t *secrets.TokenSet) {
	if !slices.Contains(t.Scopes(), "accounts:read") {
		return
	}
	acct, err := Identify(ctx, klaviyo.New(opts), Quota(name), t.AccessToken)
	if err == nil {
		t.AccountID, t.AccountName = acct.ID, acct.Name
		return
	}
	warn.Printf(stderr, "could not tell which Klaviyo account authorized the app: %v", err)
}

// loginReason is the audit record's account of a login: what was granted, to which client, for
// which account. Never a token.
func loginReason(t secrets.TokenSet) string {
	parts := []string{"granted " + orNone(t.Scopes())}
	if missing := MissingScopes(t); len(missing) > 0 {
		parts = append(parts, "not granted "+strings.Join(missing, " "))
	}
	account := "unknown"
	if t.AccountID != "" {
		account = t.AccountID
	}
	parts = append(parts, "account "+account, "client "+t.ClientID)
	return strings.Join(parts, "; ")
}

// MissingScopes are the scopes a token set was requested with but not granted.
func MissingScopes(t secrets.TokenSet) []string {
	granted := t.Scopes()
	var out []string
	for _, s := range strings.Fields(t.Requested) {
		if !slices.Contains(granted, s) {
			out = append(out, s)
		}
	}
	return out
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}
