package cmd

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/oauthflow"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/suggest"
)

func newOAuthCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "oauth",
		Short: "Authorize Klaviyo OAuth apps from a terminal and hand their tokens to scripts",
		Long: `Work with Klaviyo OAuth apps: log in with the authorization-code flow and PKCE, keep the
tokens fresh, hand scripts an access token, revoke.

Apps are defined under oauth.apps in the config (client_id, redirect_uri, scopes). With no
config, the app "default" takes its client id from KLAVIYO_OAUTH_CLIENT_ID, receives the
callback on http://127.0.0.1:8765/callback and requests the scopes given with --scopes.

An app's client secret and token set live in the OS keyring (items "oauth-client:<app>" and
"oauth-token:<app>" of service "klrbac"), never in a file. KLAVIYO_OAUTH_CLIENT_SECRET beats
the keyring for the client secret.` + exitStatus(exitOK, exitFindings, exitUsage, exitUnavailable, exitInterrupted),
		Args: cobra.NoArgs,
	}
	c.AddCommand(newOAuthSetSecretCommand(a), newOAuthRmSecretCommand(a),
		newOAuthLoginCommand(a), newOAuthStatusCommand(a), newOAuthTokenCommand(a),
		newOAuthRefreshCommand(a), newOAuthRevokeCommand(a), newOAuthLogoutCommand(a))
	for _, sub := range c.Commands() {
		if sub.ValidArgsFunction == nil {
			sub.ValidArgsFunction = firstArgs(1, a.complete(oauthAppNames))
		}
	}
	return c
}

// defaultRedirectURI is the redirect URI of apps that give none: oauthflow.DefaultRedirectURI,
// whose port is fixed by design. The command-line tests put a free port in its place, so that runs
// side by side never contend for that one port.
var defaultRedirectURI = oauthflow.DefaultRedirectURI

// withDefaultRedirect gives an app that took the default redirect URI the one in force.
func withDefaultRedirect(ap oauthflow.App) oauthflow.App {
	if ap.RedirectURI == oauthflow.DefaultRedirectURI {
		ap.RedirectURI = defaultRedirectURI
	}
	return ap
}

// configuredOAuthApps are the apps the config defines under oauth.apps.
func configuredOAuthApps(cfg *config.Config) ([]oauthflow.App, error) {
	sec, _ := cfg.Raw("oauth")
	return oauthflow.ParseApps(cfg.File, sec.Value)
}

// oauthApp finds an app by name: one the config defines, else the built-in default app. An app
// whose config names no client id takes KLAVIYO_OAUTH_CLIENT_ID's. An unknown name is a usage error
// with a suggestion.
func (a *app) oauthApp(name string) (oauthflow.App, error) {
	if err := secrets.CheckAppName(name); err != nil {
		return oauthflow.App{}, err
	}
	cfg, err := a.config()
	if err != nil {
		return oauthflow.App{}, err
	}
	apps, err := configuredOAuthApps(cfg)
	if err != nil {
		return oauthflow.App{}, err
	}
	var names []string
	for _, ap := range apps {
		if ap.Name == name {
			if ap.ClientID == "" {
				ap.ClientID = os.Getenv(oauthflow.ClientIDEnv)
			}
			return withDefaultRedirect(ap), nil
		}
		names = append(names, ap.Name)
	}
	if name == secrets.DefaultApp {
		ap := withDefaultRedirect(oauthflow.DefaultApp())
		ap.ClientID = os.Getenv(oauthflow.ClientIDEnv)
		return ap, nil
	}
	hint := suggest.Hint(suggest.Closest(name, append(names, secrets.DefaultApp), 1))
	if hint == "" {
		hint = "define it under oauth.apps in the config (see `klrbac oauth login --help`)"
	}
	return oauthflow.App{Name: name}, fault.Usagef("unknown OAuth app %q", name).Hint(hint)
}

// oauthHTTPClient calls Klaviyo's token and revocation endpoints. It never follows a redirect: the
// client secret goes to the configured API host and nowhere else.
func oauthHTTPClient() *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// oauthLockFile serialises the refreshes of one app's tokens across klrbac processes.
func oauthLockFile(name string) (string, error) {
	dir, err := config.StateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "oauth", name+".lock"), nil
}

// oauthKeeper returns the keeper of an app's tokens. The app need not be in the config any more: a
// token set names the client it was issued to. When it is neither configured nor the default app,
// unknown is the error to report should the keyring hold no token set for it either.
func (a *app) oauthKeeper(name string) (k *oauthflow.Keeper, unknown error, err error) {
	ap, appErr := a.oauthApp(name)
	if appErr != nil {
		var fe *fault.Error
		if !errors.As(appErr, &fe) || fe.Kind != fault.Usage || secrets.CheckAppName(name) != nil {
			return nil, nil, appErr
		}
		unknown = appErr
	}
	store, err := a.secrets()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	// Klaviyo's OAuth URLs as configured (klaviyo.auth_url, klaviyo.api_url).
	ep := oauthflow.EndpointsFor(cfg.AuthURL(), cfg.APIURL())
	lock, err := oauthLockFile(name)
	if err != nil {
		return nil, nil, err
	}
	return &oauthflow.Keeper{
		App: name, ClientID: ap.ClientID, Endpoints: ep, Store: store, LockFile: lock,
		HTTPClient: oauthHTTPClient(),
		ClientSecret: func(ctx context.Context) (secrets.Secret, error) {
			r, err := secrets.ResolveOAuthClientSecret(ctx, store, name, secrets.ResolveOptions{})
			return r.Value, err
		},
		Trail: a.trail(),
	}, unknown, nil
}

// unknownOr reports an unknown app's name rather than "not logged in" when nothing is stored for it
// either: the name is more likely a typo than an app logged out.
func unknownOr(err, unknown error) error {
	if unknown != nil && errors.Is(err, oauthflow.ErrNotLoggedIn) {
		return unknown
	}
	return err
}

// oauthAccessToken returns an access token of OAuth app name that stays valid for at least a
// minute, refreshing it first as `klrbac oauth token` does (refreshes serialised across processes,
// the rotated refresh token stored, the refresh audited). Commands that call Klaviyo on behalf of
// an app use it, with klaviyo.Request.Account set to oauthflow.Quota(name): the app has its own
// rate-limit quota. A refused refresh or a missing token set matches oauthflow.ErrReauthorize.
func (a *app) oauthAccessToken(ctx context.Context, name string) (klaviyo.Credential, error) {
	k, unknown, err := a.oauthKeeper(name)
	if err != nil {
		return klaviyo.Credential{}, err
	}
	t, _, err := k.Fresh(ctx, oauthflow.MinValid)
	if err != nil {
		return klaviyo.Credential{}, unknownOr(err, unknown)
	}
	return klaviyo.BearerToken(t.AccessToken.Reveal()), nil
}
