package cmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/oauthflow"
)

func newOAuthTokenCommand(a *app) *cobra.Command {
	var minValid time.Duration
	c := &cobra.Command{
		Use:   "token [APP]",
		Short: "Print a valid access token of an OAuth app, for scripts",
		Long: `Print an access token of OAuth app APP (default "default") on stdout, followed by a
newline, for scripts:

  curl -H "Authorization: Bearer $(klrbac oauth token crm-sync)" -H "revision: 2026-07-15" \
    https://a.klaviyo.com/api/accounts

It is the one klrbac command that prints a secret, and only on stdout: nothing else goes
there, and stderr never shows it. Like 'gh auth token', it prints on a terminal too: mind
screen sharing and scrollback.

An access token with less than --min-valid left (default 60s) is refreshed first, and the
new token set, with the rotated refresh token, replaces the old in the keyring; the refresh
is audited as oauth.refresh. Scripts running in parallel may all ask at once: one of them
refreshes, the others wait for it (at most 30s) and print its token, so no refresh token is
used twice.

When Klaviyo refuses the refresh token (invalid_grant; Klaviyo says invalid_grant_type), or
the token has expired with no refresh token, or the app is not logged in, nothing is printed
and klrbac exits 3: re-authorize with klrbac oauth login.` + exitStatus(exitOK, exitUsage, exitUnavailable, exitInterrupted),
		Example: `  klrbac oauth token
  TOKEN=$(klrbac oauth token crm-sync --min-valid 10m)`,
		Args: rangeArgs(0, 1, "at most one APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := appArg(args)
			if err != nil {
				return err
			}
			if minValid < 0 || minValid > oauthflow.MaxMinValid {
				return fault.Usagef("--min-valid %s is out of range", minValid).
					Hint("use a duration between 0s and " + oauthflow.MaxMinValid.String() + ": Klaviyo's access tokens last an hour")
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			k, err := a.oauthKeeper(name)
			if err != nil {
				return err
			}
			t, _, err := k.Fresh(ctx, minValid)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(unmasked(a.io.Out), t.AccessToken.Reveal())
			return err
		},
	}
	c.Flags().DurationVar(&minValid, "min-valid", oauthflow.MinValid, "refresh first when the access token has less than this left")
	return c
}
