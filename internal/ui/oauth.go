package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/oauthflow"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/warn"
)

// OAuthLogin tells, on stderr, what a login of app name obtained and where it is kept, and warns
// when Klaviyo granted fewer scopes than requested.
func (s *IO) OAuthLogin(name string, res *oauthflow.Result) {
	t := res.Token
	w := s.Err
	fmt.Fprintf(w, "logged in: OAuth app %s (client %s), account %s\n", name, t.ClientID, accountLabel(t.AccountID, t.AccountName))
	fmt.Fprintf(w, "  access token:   %s, valid until %s\n", t.AccessToken.Described(), Moment(t.Expiry))
	fmt.Fprintf(w, "  refresh token:  %s\n", t.RefreshToken.Described())
	fmt.Fprintf(w, "  granted scopes: %s\n", JoinOrDash(res.Granted))
	fmt.Fprintf(w, "  stored in the keyring as %s\n", secrets.OAuthTokenItem(name))
	if len(res.Missing) > 0 {
		warn.Printf(w, "Klaviyo granted fewer scopes than requested; not granted: %s", strings.Join(res.Missing, ", "))
		fmt.Fprintln(w, "hint: calls that need them will be refused (403); check the scopes the app is registered for in Klaviyo")
	}
}

// OAuthStatus prints an app's token set as `oauth status` shows it to people: one setting a line on
// stdout, the status coloured, and what to do about a missing or dead token set on stderr.
func (s *IO) OAuthStatus(v oauthflow.Status) {
	w := s.Out
	line := func(k, val string) { fmt.Fprintf(w, "%-16s%s\n", k+":", val) }
	line("app", v.App)
	status := v.Status
	switch {
	case !v.LoggedIn:
		status = s.Red("not logged in")
	case v.Valid && v.ExpiresAt == "":
		status = s.Green("valid")
	case v.Valid:
		status = s.Green("valid for " + roughDuration(time.Duration(v.ExpiresIn)*time.Second))
	case v.Refreshable:
		status = s.Yellow("expired") + "; the refresh token renews it on next use (klrbac oauth token)"
	default:
		status = s.Red("expired, and there is no refresh token")
	}
	line("status", status)
	if !v.LoggedIn {
		fmt.Fprintf(s.Err, "hint: log in with klrbac oauth login %s\n", v.App) // hints go to stderr, always
		return
	}
	line("stored in", "keyring item "+v.Stored+" (service "+secrets.Service+")")
	line("client id", OrDash(v.ClientID))
	line("account", accountLabel(v.AccountID, v.AccountName))
	line("access token", v.AccessToken+" (fingerprint "+v.AccessTokenFingerprint+"), expires "+OrDash(v.ExpiresAt))
	refresh := "none"
	if v.Refreshable {
		refresh = v.RefreshToken + " (fingerprint " + v.RefreshTokenFingerprint + ")"
	}
	line("refresh token", refresh)
	line("scopes", JoinOrDash(v.Scopes))
	if len(v.MissingScopes) > 0 {
		line("not granted", JoinOrDash(v.MissingScopes))
	}
	line("authorized", OrDash(v.AuthorizedAt))
	if !v.Valid && !v.Refreshable {
		fmt.Fprintf(s.Err, "hint: re-authorize with klrbac oauth login %s\n", v.App)
	}
}

// accountLabel shows the account a token set belongs to: "AbC123 (Demo Company)".
func accountLabel(id, name string) string {
	switch {
	case id != "" && name != "":
		return id + " (" + name + ")"
	case id != "":
		return id
	}
	return "unknown (grant accounts:read to record it)"
}

// Moment shows a time in a message: RFC 3339 in UTC, "unknown" when not known.
func Moment(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}

// roughDuration shows a remaining time the way a person reads it: 59m, 1h0m, 42s.
func roughDuration(d time.Duration) string {
	if d < time.Minute {
		return d.Truncate(time.Second).String()
	}
	return strings.TrimSuffix(d.Truncate(time.Minute).String(), "0s")
}
