package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/oauthflow"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/ui"
)

func newOAuthStatusCommand(a *app) *cobra.Command {
	var output string
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
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := outputFormat(output, listFormats...)
			if err != nil {
				return err
			}
			name, err := appArg(args)
			if err != nil {
				return err
			}
			k, err := a.oauthKeeper(name)
			if err != nil {
				return err
			}
			return runOAuthStatus(cmd.Context(), a.io, k, f)
		},
	}
	addOutputFlag(c, &output, listFormats...)
	return c
}

func runOAuthStatus(ctx context.Context, io *ui.IO, k *oauthflow.Keeper, f ui.Format) error {
	v, err := k.Status(ctx)
	if err != nil {
		return err
	}
	if f == ui.Table {
		printOAuthStatus(io, v)
	} else if err := io.Encode(f, v); err != nil {
		return err
	}
	if !v.Valid && !v.Refreshable {
		return fault.Silent(fault.Findings)
	}
	return nil
}

func printOAuthStatus(io *ui.IO, v oauthflow.Status) {
	w := io.Out
	line := func(k, val string) { fmt.Fprintf(w, "%-16s%s\n", k+":", val) }
	line("app", v.App)
	status := v.Status
	switch {
	case !v.LoggedIn:
		status = io.Red("not logged in")
	case v.Valid && v.ExpiresAt == "":
		status = io.Green("valid")
	case v.Valid:
		status = io.Green("valid for " + roughDuration(time.Duration(v.ExpiresIn)*time.Second))
	case v.Refreshable:
		status = io.Yellow("expired") + "; the refresh token renews it on next use (klrbac oauth token)"
	default:
		status = io.Red("expired, and there is no refresh token")
	}
	line("status", status)
	if !v.LoggedIn {
		fmt.Fprintf(io.Err, "hint: log in with klrbac oauth login %s\n", v.App) // hints go to stderr, always
		return
	}
	line("stored in", "keyring item "+v.Stored+" (service "+secrets.Service+")")
	line("client id", ui.OrDash(v.ClientID))
	line("account", accountLabel(v.AccountID, v.AccountName))
	line("access token", v.AccessToken+" (fingerprint "+v.AccessTokenFingerprint+"), expires "+ui.OrDash(v.ExpiresAt))
	refresh := "none"
	if v.Refreshable {
		refresh = v.RefreshToken + " (fingerprint " + v.RefreshTokenFingerprint + ")"
	}
	line("refresh token", refresh)
	line("scopes", dash(v.Scopes))
	if len(v.MissingScopes) > 0 {
		line("not granted", dash(v.MissingScopes))
	}
	line("authorized", ui.OrDash(v.AuthorizedAt))
	if !v.Valid && !v.Refreshable {
		fmt.Fprintf(io.Err, "hint: re-authorize with klrbac oauth login %s\n", v.App)
	}
}

// roughDuration shows a remaining time the way a person reads it: 59m, 1h0m, 42s.
func roughDuration(d time.Duration) string {
	if d < time.Minute {
		return d.Truncate(time.Second).String()
	}
	return strings.TrimSuffix(d.Truncate(time.Minute).String(), "0s")
}
