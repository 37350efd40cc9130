package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/oauthflow"
	"github.com/klrbac/klrbac/internal/ui"
)

func newOAuthStatusCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "status [APP]",
		Short: "Show an OAuth app's token set: expiry, granted scopes, account, where it is kept",
		Long: `Show the token set of OAuth app APP (default "default") as the keyring holds it: whether
the access token is valid and until when, whether a refresh token can renew it, the granted
scopes (and those requested but not granted), the account and the client. Tokens are shown
as masks and fingerprints only. Nothing is sent to Klaviyo.

Exit 0 when the access token is valid or can be refreshed; 1 when it has expired with no
refresh token, or the app is not logged in.` + exitStatus(exitOK, exitFindings, exitUsage, exitUnavailable),
		Example: "  klrbac oauth status\n  klrbac oauth status crm-sync -o json",
		Args:    rangeArgs(0, 1, "at most one APP"),
		RunE: out.run(func(cmd *cobra.Command, f ui.Format, args []string) error {
			name, err := appArg(args)
			if err != nil {
				return err
			}
			k, err := a.oauthKeeper(name)
			if err != nil {
				return err
			}
			return runOAuthStatus(cmd.Context(), a.io, k, f)
		}),
	}
	out.register(c, listFormats...)
	return c
}

func runOAuthStatus(ctx context.Context, io *ui.IO, k *oauthflow.Keeper, f ui.Format) error {
	v, err := k.Status(ctx)
	if err != nil {
		return err
	}
	if f == ui.Table {
		io.OAuthStatus(v)
	} else if err := io.Encode(f, v); err != nil {
		return err
	}
	if !v.Valid && !v.Refreshable {
		return fault.Silent(fault.Findings)
	}
	return nil
}
