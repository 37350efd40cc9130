package cmd

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/oauthflow"
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
		Args: noArgs,
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

// oauthSetup is what the oauth commands share: the configured apps, the keyring, and the audit
// trail their changes are recorded in.
func (a *app) oauthSetup() (oauthflow.Setup, error) {
	cfg, err := a.config()
	if err != nil {
		return oauthflow.Setup{}, err
	}
	store, err := a.secrets()
	if err != nil {
		return oauthflow.Setup{}, err
	}
	return oauthflow.Setup{Config: cfg, ClientID: os.Getenv(oauthflow.ClientIDEnv), RedirectURI: defaultRedirectURI, Store: store, Trail: a.trail}, nil
}

// oauthKeeper returns the keeper of an app's tokens, which records each change in the audit trail.
func (a *app) oauthKeeper(name string) (*oauthflow.Keeper, error) {
	s, err := a.oauthSetup()
	if err != nil {
		return nil, err
	}
	return s.Keeper(name)
}
