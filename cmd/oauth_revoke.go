package cmd

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/oauthflow"
)

func newOAuthRevokeCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "revoke [APP]",
		Short: "End an OAuth app's grant at Klaviyo, then forget its tokens",
		Long: `Revoke the grant of OAuth app APP (default "default") at Klaviyo (POST /oauth/revoke
with the refresh token, which ends its access tokens too), then delete the token set from the
keyring. Audited as oauth.revoke. When Klaviyo cannot be told, nothing is deleted (exit 3),
so the revocation can be tried again. An app that is not logged in has nothing to revoke
(exit 0).` + exitStatus(exitOK, exitUsage, exitUnavailable, exitInterrupted),
		Example: "  klrbac oauth revoke crm-sync",
		Args:    rangeArgs(0, 1, "at most one APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := appArg(args)
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			k, err := a.oauthKeeper(name)
			if err != nil {
				return err
			}
			t, err := k.Revoke(ctx)
			if errors.Is(err, oauthflow.ErrNotLoggedIn) {
				fmt.Fprintf(a.io.Err, "OAuth app %s is not logged in; nothing to revoke\n", name)
				return nil
			}
			if err != nil {
				return err
			}
			if !t.Refreshable() {
				// Revoking an access token need not end the grant it came from (RFC 7009): say
				// only what was done.
				fmt.Fprintf(a.io.Err, "revoked the access token of OAuth app %s at Klaviyo (%s) and deleted its token set from the keyring\n", name, t.AccessToken.Noted())
				fmt.Fprintln(a.io.Err, "note: the token set held no refresh token, so the app's grant may remain; remove the app in Klaviyo's Integrations settings to end it")
				return nil
			}
			fmt.Fprintf(a.io.Err, "revoked the grant of OAuth app %s at Klaviyo (refresh token %s) and deleted its token set from the keyring\n", name, t.RefreshToken.Noted())
			return nil
		},
	}
	return c
}
