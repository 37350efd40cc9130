package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/secrets"
)

// Klaviyo is what doctor --online asks of Klaviyo's API.
type Klaviyo interface {
	// Reachable reports whether the API answers HTTP at all.
	Reachable(ctx context.Context) error
	// CheckKey reports whether Klaviyo accepts key: nil when it authenticates the key, a
	// *RejectedError when it refuses it, another error when it could not tell.
	CheckKey(ctx context.Context, key secrets.Secret) error
}

// RejectedError is Klaviyo refusing a key.
type RejectedError struct {
	Status int
	Code   string
}

func (e *RejectedError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("rejected by Klaviyo (HTTP %d, %s)", e.Status, e.Code)
	}
	return fmt.Sprintf("rejected by Klaviyo (HTTP %d)", e.Status)
}

// ClientKlaviyo asks Klaviyo through klrbac's client with GET /api/accounts, the call Klaviyo's own
// CLI checks keys with. The client paces the calls to that operation's rate tier (1 per second per
// account), so checking every role's key never trips Klaviyo's limit.
type ClientKlaviyo struct{ Client *klaviyo.Client }

// The time doctor --online may take. A host that takes connections and never answers costs the
// online checks OnlineTimeout at most, each call (each retry anew) RequestTimeout, the bound keys
// validate puts on the same calls.
const (
	OnlineTimeout  = 2 * time.Minute
	RequestTimeout = klaviyo.CallTimeout
)

// NewClientKlaviyo makes the client doctor asks Klaviyo with: opts, with each call bounded by
// RequestTimeout unless opts brings an HTTP client of its own.
func NewClientKlaviyo(opts klaviyo.Options) ClientKlaviyo {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: RequestTimeout}
	}
	return ClientKlaviyo{Client: klaviyo.New(opts)}
}

// Reachable sends an unauthenticated request: an answer in Klaviyo's shape (a JSON:API document)
// means Klaviyo is there; an HTML page, other JSON or a redirect means something else answers.
func (k ClientKlaviyo) Reachable(ctx context.Context) error {
	resp, err := k.Client.Do(ctx, klaviyo.Request{Method: http.MethodGet, Path: "/api/accounts"})
	if err != nil && (klaviyo.ClassOf(err) == klaviyo.Transport || errors.Is(err, context.Canceled) || resp == nil) {
		return err
	}
	if what := klaviyo.NotKlaviyo(resp, hostOf(k.Client.APIURL())); what != "" {
		return &NotKlaviyoError{What: what}
	}
	return nil
}

// NotKlaviyoError is an answer that is not in Klaviyo's shape.
type NotKlaviyoError struct{ What string }

func (e *NotKlaviyoError) Error() string { return "it answers, but not as Klaviyo does: " + e.What }

func hostOf(apiURL string) string {
	if u, err := url.Parse(apiURL); err == nil && u.Host != "" {
		return u.Host
	}
	return apiURL
}

// CheckKey treats 401 as rejected. A 403 permission_denied means the key authenticated but lacks
// accounts:read, so it is accepted; any other answer (a Cloudflare challenge, a 5xx, a 429 that
// outlasted the retries) says nothing about the key.
func (k ClientKlaviyo) CheckKey(ctx context.Context, key secrets.Secret) error {
	resp, err := k.Client.Do(ctx, klaviyo.Request{Method: http.MethodGet, Path: "/api/accounts", Credential: klaviyo.PrivateKey(key.Reveal())})
	if what := klaviyo.NotKlaviyo(resp, hostOf(k.Client.APIURL())); what != "" {
		// An answer that is not Klaviyo's accepts nothing, whatever its status.
		return &NotKlaviyoError{What: what}
	}
	var ke *klaviyo.Error
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &ke):
		return err
	case ke.Class == klaviyo.PermissionDenied:
		return nil
	case ke.Class == klaviyo.NotAuthenticated || ke.Class == klaviyo.AuthenticationFailed:
		return &RejectedError{Status: ke.Status, Code: ke.Code}
	}
	return err
}

func onlineChecks(ctx context.Context, env Env, keys []secrets.RoleKey) []Check {
	limit := env.OnlineTimeout
	if limit <= 0 {
		limit = OnlineTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	// outOfTime tells a check the bound ended from one interrupted (or failed otherwise).
	outOfTime := func() bool { return errors.Is(ctx.Err(), context.DeadlineExceeded) }
	c := Check{Name: "klaviyo"}
	if err := env.Klaviyo.Reachable(ctx); err != nil {
		c.Detail = mask.InText(env.APIURL + " does not answer: " + err.Error())
		c.Fix = "check the network and KLRBAC_API_URL (klaviyo.api_url)"
		var nk *NotKlaviyoError
		switch {
		case errors.As(err, &nk):
			c.Detail = mask.InText(env.APIURL + " is not Klaviyo: " + err.Error())
		case outOfTime():
			c.Detail = mask.InText(fmt.Sprintf("%s did not answer within %s", env.APIURL, limit))
			c.Fix += ": a host that takes connections and never answers looks like this"
		}
		return []Check{c}
	}
	c.OK, c.Detail = true, mask.InText(env.APIURL)+" answers"
	out := []Check{c}
	for _, k := range usableKeys(keys) {
		kc := Check{Name: "klaviyo accepts " + k.Role}
		err := env.Klaviyo.CheckKey(ctx, k.Key)
		var rej *RejectedError
		switch {
		case err == nil:
			kc.OK, kc.Detail = true, k.Key.Masked()+" from "+k.Source.String()+" is accepted"
		case errors.As(err, &rej):
			kc.Detail = k.Key.Masked() + " from " + k.Source.String() + " is " + rej.Error()
			kc.Fix = "the key was revoked or mistyped: create a new key for the role in Klaviyo and store it with `klrbac keys set " + k.Role + " --force`"
			if k.Source.Kind == secrets.FromEnv {
				kc.Fix = "the key was revoked or mistyped: create a new key for the role in Klaviyo and put it in " + k.Env
			}
		case outOfTime():
			kc.Detail = fmt.Sprintf("could not tell: the online checks did not finish within %s", limit)
			kc.Fix = "retry later; check the network and KLRBAC_API_URL"
		default:
			kc.Detail = "could not tell: " + err.Error()
			kc.Fix = "retry later; check the network and KLRBAC_API_URL"
		}
		out = append(out, kc)
	}
	return out
}
