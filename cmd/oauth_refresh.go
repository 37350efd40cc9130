package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/ui"
)

func newOAuthRefreshCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "refresh [APP]",
		Short: "Refresh an OAuth app's access token now",
		Long: `Refresh the access token of OAuth app APP (default "default") now, whatever its expiry,
and store the new token set, with the rotated refresh token, in the keyring. The refresh is
audited as oauth.refresh with the fingerprint of the refresh token used. klrbac oauth token
refreshes by itself when needed; this is for checking that the grant still holds.

When Klaviyo refuses the refresh token (invalid_grant; Klaviyo says invalid_grant_type),
klrbac exits 3: re-authorize with klrbac oauth login.` + exitStatus(exitOK, exitUsage, exitUnavailable, exitInterrupted),
		Example: "  klrbac oauth refresh crm-sync",
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
			t, err := k.Refresh(ctx, "requested with klrbac oauth refresh")
			if err != nil {
				return err
			}
			fmt.Fprintf(a.io.Err, "refreshed the access token of OAuth app %s: %s, valid until %s\n", name, t.AccessToken.Described(), ui.Moment(t.Expiry))
			return nil
		},
	}
	return c
}
