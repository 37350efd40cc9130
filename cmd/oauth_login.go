package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/oauthflow"
)

func newOAuthLoginCommand(a *app) *cobra.Command {
	var o oauthflow.AuthorizeOptions
	var noBrowser, manual bool
	c := &cobra.Command{
		Use:   "login [APP]",
		Short: "Authorize an OAuth app in the browser and keep its tokens in the keyring",
		Long: `Authorize OAuth app APP (default "default") with Klaviyo's authorization-code flow and
PKCE, and keep the tokens in the OS keyring (item "oauth-token:APP").

klrbac listens on the app's redirect URI, a loopback address with a fixed port registered
with the app in Klaviyo (the default app's is http://127.0.0.1:8765/callback), prints the
consent page's URL on stderr and opens it in the browser ($BROWSER when set, else the
desktop's default). Once you choose Allow, the browser is sent back to klrbac, which
exchanges the code (HTTP Basic client authentication with the app's client secret, and the
PKCE verifier) and stores the tokens. Klaviyo may grant fewer scopes than requested: klrbac
says which are missing.

--no-browser only prints the URL, to open wherever you like on this machine. --manual, for
SSH sessions and machines without a browser, starts no listener: open the URL on any
machine, and paste back the address the browser is sent to (its page will not load).

The scopes come from --scopes, else from the app's scopes in the config. The client secret
comes from KLAVIYO_OAUTH_CLIENT_SECRET, else the keyring (klrbac oauth set-secret APP). The
login is audited as oauth.login with the granted scopes and the account; a denial or a
refused code too, as failed.

The keyring, the client secret and the audit log are checked before anything listens or
opens: an audit log that cannot take the record (unwritable, or damaged) stops the login
there, exit 3. Should the record or the keyring fail anyway once the code is exchanged, the
grant Klaviyo has just issued is revoked there, so that none is left behind.

A denial in the browser exits 1. No answer within --timeout, a port in use, a refused code
or client secret, or a keyring that cannot store the tokens exit 3; Ctrl-C exits 130.` + exitStatus(
			exitOK, exitFindings, exitUsage, exitUnavailable, exitInterrupted),
		Example: `  klrbac oauth login --scopes accounts:read,profiles:read
  klrbac oauth login crm-sync
  klrbac oauth login crm-sync --manual          # over SSH`,
		Args: rangeArgs(0, 1, "at most one APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := appArg(args)
			if err != nil {
				return err
			}
			if manual && noBrowser {
				return fault.Usagef("--manual and --no-browser do not go together").
					Hint("--manual already opens no browser, and starts no listener")
			}
			if o.Timeout <= 0 {
				return fault.Usagef("--timeout %s is not a positive duration", o.Timeout).Hint("use e.g. --timeout 10m")
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			s, err := a.oauthSetup()
			if err != nil {
				return err
			}
			o.Klaviyo, o.Stderr = klaviyoOptionsFor(s.Config), a.io.Err
			o.Say = func(msg string) { fmt.Fprintln(a.io.Err, msg) }
			switch {
			case manual:
				o.Manual = a.io.In
			case !noBrowser:
				o.Open = oauthflow.OpenBrowser
			}
			res, err := s.Login(ctx, name, o)
			if err != nil {
				return err
			}
			a.io.OAuthLogin(name, res)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&o.Scopes, "scopes", "", "scopes to request, comma separated (default: the app's scopes in the config)")
	f.BoolVar(&noBrowser, "no-browser", false, "print the URL without opening a browser")
	f.BoolVar(&manual, "manual", false, "start no listener: paste the URL the browser is sent to (for SSH sessions)")
	f.DurationVar(&o.Timeout, "timeout", oauthflow.DefaultTimeout, "how long to wait for the browser")
	return c
}
