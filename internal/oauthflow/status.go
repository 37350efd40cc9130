package oauthflow

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/secrets"
)

// Status is an app's token set as `oauth status` shows it, and its JSON and YAML shape (documented
// in docs/json-output.md). Tokens appear only as masks and fingerprints.
type Status struct {
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

// Status reads the app's token set and says what it is good for; nothing is sent to Klaviyo. An app
// that is not logged in has a status too ("not logged in"), unless its name is Unknown.
func (k *Keeper) Status(ctx context.Context) (Status, error) {
	// Lists stay [] rather than null in JSON, so consumers need no null checks.
	v := Status{App: k.App, Stored: secrets.OAuthTokenItem(k.App).String(), Scopes: []string{}, RequestedScopes: []string{}, MissingScopes: []string{}}
	t, err := k.Load(ctx)
	switch {
	case errors.Is(err, ErrNotLoggedIn):
		v.Status, v.Stored = "not logged in", ""
		return v, nil
	case err != nil:
		return Status{}, err
	}
	v.LoggedIn = true
	v.ClientID, v.AccountID, v.AccountName = t.ClientID, t.AccountID, t.AccountName
	v.AccessToken, v.AccessTokenFingerprint = t.AccessToken.Masked(), t.AccessToken.Fingerprint()
	v.RefreshToken, v.RefreshTokenFingerprint = t.RefreshToken.Masked(), t.RefreshToken.Fingerprint()
	v.Refreshable = t.Refreshable()
	v.Scopes = append(v.Scopes, t.Scopes()...)
	v.RequestedScopes = append(v.RequestedScopes, strings.Fields(t.Requested)...)
	v.MissingScopes = append(v.MissingScopes, MissingScopes(t)...)
	v.AuthorizedAt, v.ObtainedAt = stamp(t.Authorized), stamp(t.Obtained)
	left := t.Remaining(k.now())
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
	return v, nil
}

// stamp is a moment as the status shows it: RFC 3339 in UTC, "" when unknown.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
