package cmd

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/oauthflow"
)

func newOAuthLogoutCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "logout [APP]",
		Short: "Forget an OAuth app's tokens here, without telling Klaviyo",
		Long: `Delete the token set of OAuth app APP (default "default") from the keyring. Klaviyo is
not told: the grant stays valid there until it is revoked or removed in Klaviyo; use
klrbac oauth revoke to end it as well. Audited as oauth.logout. An app that is not logged in
has nothing to forget (exit 0).` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Example: "  klrbac oauth logout crm-sync",
		Args:    rangeArgs(0, 1, "at most one APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := appArg(args)
			if err != nil {
				return err
			}
			k, err := a.oauthKeeper(name)
			if err != nil {
				return err
			}
			t, err := k.Logout(cmd.Context())
			if errors.Is(err, oauthflow.ErrNotLoggedIn) {
				fmt.Fprintf(a.io.Err, "OAuth app %s is not logged in; nothing to forget\n", name)
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.io.Err, "deleted the token set of OAuth app %s from the keyring (access token %s)\n", name, t.AccessToken.Noted())
			if t.Refreshable() {
				fmt.Fprintln(a.io.Err, "note: Klaviyo still honours its refresh token until the grant is removed there; klrbac oauth revoke ends a grant before forgetting it")
			}
			return nil
		},
	}
	return c
}
