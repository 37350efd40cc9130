package oauthflow

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/klrbac/klrbac/internal/fault"
)

// RefusedError is Klaviyo's refusal of a grant: an authorization request, a code, a refresh token,
// or the client's credentials. Its message holds Klaviyo's error code and description, never what
// was sent.
type RefusedError struct {
	// What was refused, e.g. "the refresh token of OAuth app crm".
	What string
	// Code is the OAuth error code (invalid_grant, invalid_client, ...) and Description its text.
	Code, Description string
}

func (e *RefusedError) Error() string {
	msg := "Klaviyo refused " + e.What
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// Grant reports whether Klaviyo refused the grant itself (the code or refresh token is unknown,
// used, expired or revoked): only a new login helps. Klaviyo says invalid_grant_type where the
// standard says invalid_grant; both count.
func (e *RefusedError) Grant() bool {
	return e.Code == "invalid_grant" || e.Code == "invalid_grant_type"
}

// Client reports whether Klaviyo refused the client's credentials.
func (e *RefusedError) Client() bool {
	return e.Code == "invalid_client" || e.Code == "unauthorized_client"
}

// ErrReauthorize matches (errors.Is) every failure that only a new login can mend: a refused refresh
// token, or an expired access token with no refresh token.
var ErrReauthorize = errors.New("re-authorization needed")

type reauthorize struct{ err error }

func (r reauthorize) Error() string        { return r.err.Error() }
func (r reauthorize) Unwrap() error        { return r.err }
func (r reauthorize) Is(target error) bool { return target == ErrReauthorize }

// tokenError explains a failed call to the token endpoint. what names the grant sent ("the
// authorization code", "the refresh token").
func tokenError(ctx context.Context, err error, app, what string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		refused := &RefusedError{What: what + " of OAuth app " + app, Code: printable(re.ErrorCode, 64), Description: printable(re.ErrorDescription, 200)}
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		switch {
		case refused.Client():
			return fault.Wrap(fault.Unavailable, refused).Hint(
				"check the client secret (klrbac oauth set-secret "+app+" --force, or KLAVIYO_OAUTH_CLIENT_SECRET) and the client id it goes with",
				"the login's client id is oauth.apps."+app+".client_id, else "+ClientIDEnv)
		case refused.Grant() && what == "the refresh token":
			return fault.Wrap(fault.Unavailable, reauthorize{refused}).Hint("re-authorize with klrbac oauth login " + app)
		case refused.Grant():
			return fault.Wrap(fault.Unavailable, refused).Hint("start again: klrbac oauth login " + app)
		case refused.Code == "":
			return fault.Unavailablef("Klaviyo's token endpoint answered HTTP %d without an OAuth error", status).
				Hint("check klaviyo.api_url (KLRBAC_API_URL): it must be Klaviyo's API host, which serves /oauth/token")
		}
		return fault.Wrap(fault.Unavailable, refused).Hint("retry later; if it persists, re-authorize with klrbac oauth login " + app)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fault.Unavailablef("cannot reach Klaviyo's token endpoint: %v", err).
		Hint("check the network and klaviyo.api_url (KLRBAC_API_URL), then retry")
}

// expiredError is the access token's expiry with nothing to refresh it with.
func expiredError(app string) error {
	return fault.Wrap(fault.Unavailable, reauthorize{fmt.Errorf("the access token of OAuth app %s has expired and there is no refresh token", app)}).
		Hint("re-authorize with klrbac oauth login " + app)
}
