package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

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

// HTTPKlaviyo asks Klaviyo with plain GET /api/accounts/ requests, the call Klaviyo's own CLI
// checks keys with. It is deliberately minimal: one request per key, no retries or pacing.
type HTTPKlaviyo struct {
	BaseURL  string
	Revision string
	Client   *http.Client
}

// NewHTTPKlaviyo returns an HTTPKlaviyo with a 15-second request timeout.
func NewHTTPKlaviyo(baseURL, revision string) *HTTPKlaviyo {
	return &HTTPKlaviyo{BaseURL: strings.TrimRight(baseURL, "/"), Revision: revision, Client: &http.Client{Timeout: 15 * time.Second}}
}

func (k *HTTPKlaviyo) get(ctx context.Context, key secrets.Secret) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.BaseURL+"/api/accounts/", nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/vnd.api+json")
	req.Header.Set("revision", k.Revision)
	if !key.IsZero() {
		req.Header.Set("Authorization", "Klaviyo-API-Key "+key.Reveal())
	}
	resp, err := k.Client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp, body, err
}

// Reachable sends an unauthenticated request: any HTTP answer means Klaviyo is there.
func (k *HTTPKlaviyo) Reachable(ctx context.Context) error {
	_, _, err := k.get(ctx, secrets.Secret{})
	return err
}

// CheckKey treats 401 as rejected. A 403 with Klaviyo's JSON:API permission_denied means the key
// authenticated but lacks accounts:read, so it is accepted; any other 403 (Cloudflare answers in
// HTML) says nothing about the key.
func (k *HTTPKlaviyo) CheckKey(ctx context.Context, key secrets.Secret) error {
	resp, body, err := k.get(ctx, key)
	if err != nil {
		return err
	}
	code := errorCode(body)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusUnauthorized:
		return &RejectedError{Status: resp.StatusCode, Code: code}
	case resp.StatusCode == http.StatusForbidden && code == "permission_denied":
		return nil
	case resp.StatusCode == http.StatusTooManyRequests:
		return errors.New("Klaviyo is throttling requests (HTTP 429); try again in a minute")
	}
	if code != "" {
		return fmt.Errorf("unexpected answer from Klaviyo: HTTP %d, %s", resp.StatusCode, code)
	}
	return fmt.Errorf("unexpected answer from Klaviyo: HTTP %d", resp.StatusCode)
}

// errorCode returns the code of the first JSON:API error in body, or "".
func errorCode(body []byte) string {
	var doc struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &doc) != nil || len(doc.Errors) == 0 {
		return ""
	}
	// The code is printed: keep it to the identifier characters Klaviyo's codes use.
	var b strings.Builder
	for _, r := range doc.Errors[0].Code {
		if b.Len() == 64 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func onlineChecks(ctx context.Context, env Env, keys []secrets.RoleKey) []Check {
	c := Check{Name: "klaviyo"}
	if err := env.Klaviyo.Reachable(ctx); err != nil {
		c.Detail = env.APIURL + " does not answer: " + err.Error()
		c.Fix = "check the network and KLRBAC_API_URL (klaviyo.api_url)"
		return []Check{c}
	}
	c.OK, c.Detail = true, env.APIURL+" answers"
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
		default:
			kc.Detail = "could not tell: " + err.Error()
			kc.Fix = "retry later; check the network and KLRBAC_API_URL"
		}
		out = append(out, kc)
	}
	return out
}
