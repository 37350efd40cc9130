package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/oauthflow"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/ui"
)

// oauthStatusView is the JSON and YAML shape of `oauth status` (documented in docs/json-output.md). Tokens
// appear only as masks and fingerprints.
type oauthStatusView struct {
	App      string `json:"app" yaml:"app"`
	LoggedIn bool   `json:"logged_in" yaml:"logged_in"`
	// Status is "valid", "expired" (a refresh token will renew it), "expired, not refreshable" or
	// "not logged in".
	Status      string `json:"status" yaml:"status"`
	Valid       bool   `json:"valid" yaml:"valid"`
	Refreshable bool   `json:"refreshable" yaml:"refreshable"`
	// Stored is where the token set lives: the keyring item, of service klrbac.
	Stored                  string   `json:"stored" yaml:"stored"`
	ClientID                string   `json:"client_id" yaml:"client_id"`
	AccountID               string   `json:"account_id" yaml:"account_id"`
	AccountName             string   `json:"account_name" yaml:"account_name"`
	AccessToken             string   `json:"access_token" yaml:"access_token"`
	AccessTokenFingerprint  string   `json:"access_token_fingerprint" yaml:"access_token_fingerprint"`
	RefreshToken            string   `json:"refresh_token" yaml:"refresh_token"`
	RefreshTokenFingerprint string   `json:"refresh_token_fingerprint" yaml:"refresh_token_fingerprint"`
	ExpiresAt               string   `json:"expires_at" yaml:"expires_at"`
	ExpiresIn               int64    `json:"expires_in_seconds" yaml:"expires_in_seconds"`
	Scopes                  []string `json:"scopes" yaml:"scopes"`
	RequestedScopes         []string `json:"requested_scopes" yaml:"requested_scopes"`
	MissingScopes           []string `json:"missing_scopes" yaml:"missing_scopes"`
	AuthorizedAt            string   `json:"authorized_at" yaml:"authorized_at"`
	ObtainedAt              string   `json:"obtained_at" yaml:"obtained_at"`
}

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
			return a.runOAuthStatus(cmd.Context(), name, f)
		},
	}
	addOutputFlag(c, &output, listFormats...)
	return c
}

func (a *app) runOAuthStatus(ctx context.Context, name string, f ui.Format) error {
	k, unknown, err := a.oauthKeeper(name)
	if err != nil {
		return err
	}
	v := oauthStatusView{App: name, Stored: secrets.OAuthTokenItem(name).String(), Scopes: []string{}, RequestedScopes: []string{}, MissingScopes: []string{}}
	t, err := k.Load(ctx)
	switch {
	case errors.Is(err, oauthflow.ErrNotLoggedIn):
		if unknown != nil {
			return unknown
		}
		v.Status, v.Stored = "not logged in", ""
	case err != nil:
		return err
	default:
		v.fill(t, time.Now())
	}
	if f == ui.Table {
		printOAuthStatus(a.io, v)
	} else if err := a.io.Encode(f, v); err != nil {
		return err
	}
	if !v.Valid && !v.Refreshable {
		return fault.Silent(fault.Findings)
	}
	return nil
}

func (v *oauthStatusView) fill(t secrets.TokenSet, now time.Time) {
	v.LoggedIn = true
	v.ClientID, v.AccountID, v.AccountName = t.ClientID, t.AccountID, t.AccountName
	v.AccessToken, v.AccessTokenFingerprint = t.AccessToken.Masked(), t.AccessToken.Fingerprint()
	v.RefreshToken, v.RefreshTokenFingerprint = t.RefreshToken.Masked(), t.RefreshToken.Fingerprint()
	v.Refreshable = t.Refreshable()
	v.Scopes = nonNil(t.Scopes())
	v.RequestedScopes = nonNil(strings.Fields(t.Requested))
	v.MissingScopes = nonNil(oauthflow.MissingScopes(t))
	v.AuthorizedAt, v.ObtainedAt = stamp(t.Authorized), stamp(t.Obtained)
	left := t.Remaining(now)
	v.Valid = left > 0
	if !t.Expiry.IsZero() {
		v.ExpiresAt = stamp(t.Expiry)
		v.ExpiresIn = int64(left / time.Second)
	}
	switch {
	case v.Valid:
		v.Status = "valid"
	case v.Refreshable:
		v.Status = "expired"
	default:
		v.Status = "expired, not refreshable"
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func printOAuthStatus(io *ui.IO, v oauthStatusView) {
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
		fmt.Fprintf(w, "hint: log in with klrbac oauth login %s\n", v.App)
		return
	}
	line("stored in", "keyring item "+v.Stored+" (service "+secrets.Service+")")
	line("client id", orDash(v.ClientID))
	line("account", accountLabel(v.AccountID, v.AccountName))
	line("access token", v.AccessToken+" (fingerprint "+v.AccessTokenFingerprint+"), expires "+orDash(v.ExpiresAt))
	refresh := "none"
	if v.Refreshable {
		refresh = v.RefreshToken + " (fingerprint " + v.RefreshTokenFingerprint + ")"
	}
	line("refresh token", refresh)
	line("scopes", dash(v.Scopes))
	if len(v.MissingScopes) > 0 {
		line("not granted", dash(v.MissingScopes))
	}
	line("authorized", orDash(v.AuthorizedAt))
	if !v.Valid && !v.Refreshable {
		fmt.Fprintf(w, "hint: re-authorize with klrbac oauth login %s\n", v.App)
	}
}

// roughDuration shows a remaining time the way a person reads it: 59m, 1h0m, 42s.
func roughDuration(d time.Duration) string {
	if d < time.Minute {
		return d.Truncate(time.Second).String()
	}
	return strings.TrimSuffix(d.Truncate(time.Minute).String(), "0s")
}
