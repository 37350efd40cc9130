package oauthflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/oauth2"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/secrets"
)

// MinValid is how long an access token handed out must stay valid: one with less left is refreshed
// first, so a script does not start a call with a token that expires on the way.
const MinValid = 60 * time.Second

// MaxMinValid bounds what a caller may ask of an access token's remaining life: Klaviyo's last an
// hour, so asking for more would refresh on every call.
const MaxMinValid = 55 * time.Minute

// DefaultLockWait bounds the wait for another process's refresh of the same app.
const DefaultLockWait = 30 * time.Second

// Audit actions of the token lifecycle.
const (
	ActionLogin   = "oauth.login"
	ActionRefresh = "oauth.refresh"
	ActionRevoke  = "oauth.revoke"
	ActionLogout  = "oauth.logout"
)

// Change is a change to an app's grant or token set, as the audit trail records it: never a token,
// only its fingerprint.
type Change struct {
	Action      string
	Fingerprint string
	// Endpoint is the Klaviyo call the change makes, "POST /oauth/token", or "".
	Endpoint string
	Reason   string
}

// Keeper keeps one app's token set: hands out fresh access tokens, refreshes, revokes, forgets.
type Keeper struct {
	App string
	// ClientID is the client to authenticate as when the token set names none.
	ClientID  string
	Endpoints Endpoints
	Store     secrets.Store
	// ClientSecret returns the app's client secret; it is asked only when a call to Klaviyo needs it.
	ClientSecret func(ctx context.Context) (secrets.Secret, error)
	// LockFile serialises the app's refreshes, revocations and logouts across processes.
	LockFile string
	// LockWait bounds the wait for another process holding the lock (0: DefaultLockWait).
	LockWait   time.Duration
	HTTPClient *http.Client
	Now        func() time.Time
	// Trail records each change and makes it only once recorded (nil: makes it unrecorded).
	Trail Auditor
	// Unknown, when set, is reported in place of "not logged in": the app is neither configured
	// nor the default app, so its name is more likely mistyped than the app logged out.
	Unknown error
}

// Auditor makes a change only once its audit entry is kept: the part of *audit.Trail a Keeper uses.
type Auditor interface {
	Audited(ctx context.Context, e audit.Entry, change func() error) error
}

func (k *Keeper) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

func (k *Keeper) httpClient() *http.Client {
	if k.HTTPClient != nil {
		return k.HTTPClient
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func (k *Keeper) audit(ctx context.Context, c Change, do func() error) error {
	if k.Trail == nil {
		return do()
	}
	return k.Trail.Audited(ctx, audit.Entry{Action: c.Action, Resource: secrets.OAuthTokenItem(k.App).String(),
		Fingerprint: c.Fingerprint, KlaviyoEndpoint: c.Endpoint, Reason: c.Reason}, do)
}

// ErrNotLoggedIn matches (errors.Is) the error of an app with no token set.
var ErrNotLoggedIn = errors.New("not logged in")

// notLoggedIn is ErrNotLoggedIn for one app, said once: "OAuth app crm is not logged in: ...".
type notLoggedIn string

func (app notLoggedIn) Error() string {
	return "OAuth app " + string(app) + " is not logged in: the keyring holds no token set for it"
}

func (notLoggedIn) Is(target error) bool { return target == ErrNotLoggedIn }

// Load reads the app's token set. An app without one gives an error matching ErrNotLoggedIn and
// ErrReauthorize, or Unknown; keyring failures keep their class and advice.
func (k *Keeper) Load(ctx context.Context) (secrets.TokenSet, error) {
	t, err := secrets.GetTokenSet(ctx, k.Store, k.App)
	switch {
	case err == nil:
		return t, nil
	case secrets.ClassOf(err) == secrets.NotFound && k.Unknown != nil:
		return t, k.Unknown
	case secrets.ClassOf(err) == secrets.NotFound:
		return t, fault.Wrap(fault.Unavailable, reauthorize{notLoggedIn(k.App)}).
			Hint("log in with klrbac oauth login " + k.App)
	case secrets.ClassOf(err) == secrets.Disabled:
		return t, fault.Unavailablef("cannot read the token set of OAuth app %s: the keyring is off (keyring.backend: off)", k.App).
			Hint("OAuth tokens live only in the OS keyring: turn it on by unsetting KLRBAC_KEYRING")
	}
	return t, secrets.Explain(err, "")
}

// Fresh returns the token set with an access token valid for at least minValid more, refreshing it
// first when needed, and whether it did. Refreshes are serialised: the first process to need one
// refreshes, and the others, once they hold the lock, find the new set and use it.
func (k *Keeper) Fresh(ctx context.Context, minValid time.Duration) (secrets.TokenSet, bool, error) {
	minValid = max(minValid, 0)
	t, err := k.Load(ctx)
	if err != nil {
		return t, false, err
	}
	if t.Remaining(k.now()) >= minValid {
		return t, false, nil
	}
	unlock, err := k.lock(ctx)
	if err != nil {
		return t, false, err
	}
	defer unlock()
	cur, err := k.Load(ctx)
	if err != nil {
		return cur, false, err
	}
	left := cur.Remaining(k.now())
	// Another process refreshed while this one waited: its token will do, as long as it is not
	// about to expire too, even if this caller asked for more time than a fresh token has.
	if !cur.AccessToken.Equal(t.AccessToken) && left >= min(minValid, MinValid) {
		return cur, false, nil
	}
	if left >= minValid {
		return cur, false, nil
	}
	if !cur.Refreshable() {
		if left > 0 {
			return cur, false, nil
		}
		return cur, false, expiredError(k.App)
	}
	next, err := k.refreshLocked(ctx, cur, expiryReason(left))
	return next, err == nil, err
}

// AccessToken is an access token that stays valid for at least MinValid, refreshed first as `klrbac
// oauth token` does, for commands that call Klaviyo on behalf of the app: their requests count
// against Quota(app). A refused refresh or a missing token set matches ErrReauthorize (a missing one
// of an Unknown app is Unknown).
func (k *Keeper) AccessToken(ctx context.Context) (klaviyo.Credential, error) {
	t, _, err := k.Fresh(ctx, MinValid)
	if err != nil {
		return klaviyo.Credential{}, err
	}
	return klaviyo.BearerToken(t.AccessToken.Reveal()), nil
}

func expiryReason(left time.Duration) string {
	if left < 0 {
		return "the access token expired " + (-left).Round(time.Second).String() + " ago"
	}
	return "the access token expires in " + left.Round(time.Second).String()
}

// loadLocked takes the app's lock and reads its token set; the caller runs unlock when done,
// also after an error reading the set.
func (k *Keeper) loadLocked(ctx context.Context) (t secrets.TokenSet, unlock func(), err error) {
	unlock, err = k.lock(ctx)
	if err != nil {
		return t, func() {}, err
	}
	t, err = k.Load(ctx)
	return t, unlock, err
}

// Refresh refreshes the access token now, whatever its expiry.
func (k *Keeper) Refresh(ctx context.Context, reason string) (secrets.TokenSet, error) {
	cur, unlock, err := k.loadLocked(ctx)
	defer unlock()
	if err != nil {
		return cur, err
	}
	if !cur.Refreshable() {
		if cur.Remaining(k.now()) <= 0 {
			return cur, expiredError(k.App)
		}
		return cur, fault.Unavailablef("the token set of OAuth app %s holds no refresh token", k.App).
			Hint("its access token stays valid until " + cur.Expiry.UTC().Format(time.RFC3339) + "; then re-authorize with klrbac oauth login " + k.App)
	}
	return k.refreshLocked(ctx, cur, reason)
}

func (k *Keeper) clientID(t secrets.TokenSet) string {
	if t.ClientID != "" {
		return t.ClientID
	}
	return k.ClientID
}

func (k *Keeper) secret(ctx context.Context) (secrets.Secret, error) {
	if k.ClientSecret == nil {
		return secrets.Secret{}, errors.New("oauthflow: Keeper.ClientSecret is required")
	}
	return k.ClientSecret(ctx)
}

// refreshLocked refreshes t, holding the lock, and stores the new set. Klaviyo rotates refresh
// tokens, so the one returned replaces the one sent; a response without one keeps the old.
func (k *Keeper) refreshLocked(ctx context.Context, t secrets.TokenSet, reason string) (secrets.TokenSet, error) {
	clientID := k.clientID(t)
	if clientID == "" {
		return t, fault.Configf("the token set of OAuth app %s names no client id, and neither does the config", k.App).
			Hint("set oauth.apps." + k.App + ".client_id or " + ClientIDEnv + ", or log in again")
	}
	secret, err := k.secret(ctx)
	if err != nil {
		return t, err
	}
	cfg := oauth2Config(clientID, secret, k.Endpoints, "", nil)
	var next secrets.TokenSet
	change := Change{Action: ActionRefresh, Fingerprint: t.RefreshToken.Fingerprint(), Endpoint: "POST /oauth/token", Reason: reason}
	err = k.audit(ctx, change, func() error {
		src := cfg.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, k.httpClient()), &oauth2.Token{RefreshToken: t.RefreshToken.Reveal()})
		tok, err := src.Token()
		if err != nil {
			return tokenError(ctx, err, k.App, "the refresh token")
		}
		n := tokenSet(tok, k.now())
		n.App, n.ClientID, n.Requested = k.App, clientID, t.Requested
		n.AccountID, n.AccountName, n.Authorized = t.AccountID, t.AccountName, t.Authorized
		if n.Scope == "" {
			n.Scope = t.Scope
		}
		if n.RefreshToken.IsZero() {
			n.RefreshToken = t.RefreshToken
		}
		if err := secrets.SetTokenSet(ctx, k.Store, k.App, n); err != nil {
			return fault.Wrap(fault.Unavailable, fmt.Errorf("refreshed the access token of OAuth app %s but could not store it, and Klaviyo has retired the old refresh token: %w", k.App, err)).
				Hint(append(fault.Hints(secrets.Explain(err, "")), "then re-authorize with klrbac oauth login "+k.App)...)
		}
		next = n
		return nil
	})
	if err != nil {
		return t, err
	}
	return next, nil
}

// Install stores the token set of a new login in place of any earlier one, once the change is
// recorded. It holds the app's lock, so that a refresh in flight cannot overwrite it.
func (k *Keeper) Install(ctx context.Context, t secrets.TokenSet, c Change) error {
	unlock, err := k.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return k.audit(ctx, c, func() error {
		if err := secrets.SetTokenSet(ctx, k.Store, k.App, t); err != nil {
			if secrets.ClassOf(err) == secrets.Disabled {
				return fault.Unavailablef("cannot store the token set of OAuth app %s: the keyring is off (keyring.backend: off)", k.App).
					Hint("OAuth tokens live only in the OS keyring: turn it on by unsetting KLRBAC_KEYRING")
			}
			return secrets.Explain(err, "")
		}
		return nil
	})
}

// Revoke ends the grant at Klaviyo (revoking the refresh token, which ends its access tokens too),
// then deletes the token set. When Klaviyo cannot be told, the set is kept, so revoking can be
// tried again.
func (k *Keeper) Revoke(ctx context.Context) (secrets.TokenSet, error) {
	t, unlock, err := k.loadLocked(ctx)
	defer unlock()
	if err != nil {
		return t, err
	}
	token, hint := t.GrantToken(), "refresh_token"
	if !t.Refreshable() {
		hint = "access_token"
	}
	secret, err := k.secret(ctx)
	if err != nil {
		return t, err
	}
	clientID := k.clientID(t)
	change := Change{Action: ActionRevoke, Fingerprint: token.Fingerprint(), Endpoint: "POST /oauth/revoke"}
	err = k.audit(ctx, change, func() error {
		if err := k.revoke(ctx, clientID, secret, token, hint); err != nil {
			return err
		}
		return k.delete(ctx)
	})
	return t, err
}

func (k *Keeper) revoke(ctx context.Context, clientID string, secret, token secrets.Secret, hint string) error {
	form := url.Values{"token": {token.Reveal()}, "token_type_hint": {hint}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.Endpoints.RevokeURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fault.Configf("Klaviyo's revocation URL %q is not a URL", k.Endpoints.RevokeURL)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret.Reveal()))
	resp, err := k.httpClient().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fault.Unavailablef("cannot reach Klaviyo's revocation endpoint: %v", err).
			Hint("nothing was deleted: check the network and klaviyo.api_url (KLRBAC_API_URL), then retry")
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var oe struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &oe)
	refused := &RefusedError{What: "the revocation of OAuth app " + k.App + "'s grant", Code: printable(oe.Error, 64), Description: printable(oe.Description, 200)}
	if refused.Code == "" {
		return fault.Unavailablef("Klaviyo's revocation endpoint answered HTTP %d", resp.StatusCode).
			Hint("nothing was deleted; retry later, or forget the tokens locally with klrbac oauth logout " + k.App)
	}
	e := fault.Wrap(fault.Unavailable, refused)
	if refused.Client() {
		return e.Hint("check the client secret (klrbac oauth set-secret "+k.App+" --force, or KLAVIYO_OAUTH_CLIENT_SECRET)", "nothing was deleted")
	}
	return e.Hint("nothing was deleted; retry later, or forget the tokens locally with klrbac oauth logout " + k.App)
}

// Logout forgets the token set without telling Klaviyo: the grant stays valid there until it is
// revoked or expires.
func (k *Keeper) Logout(ctx context.Context) (secrets.TokenSet, error) {
	t, unlock, err := k.loadLocked(ctx)
	defer unlock()
	if err != nil {
		return t, err
	}
	return t, k.audit(ctx, Change{Action: ActionLogout, Fingerprint: t.GrantToken().Fingerprint(), Reason: "deleted locally; not revoked at Klaviyo"}, func() error { return k.delete(ctx) })
}

func (k *Keeper) delete(ctx context.Context) error {
	err := secrets.DeleteTokenSet(ctx, k.Store, k.App)
	if err != nil && secrets.ClassOf(err) != secrets.NotFound {
		return secrets.Explain(err, "")
	}
	return nil
}

// lock takes the app's lock file, waiting at most LockWait for another klrbac to let go of it.
func (k *Keeper) lock(ctx context.Context) (func(), error) {
	if k.LockFile == "" {
		return nil, errors.New("oauthflow: Keeper.LockFile is required")
	}
	if err := os.MkdirAll(filepath.Dir(k.LockFile), 0o700); err != nil {
		return nil, fault.Unavailablef("cannot create the lock file of OAuth app %s: %v", k.App, fault.PathCause(err)).
			Hint("make " + filepath.Dir(k.LockFile) + " writable (XDG_STATE_HOME)")
	}
	lf := flock.New(k.LockFile, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	wait := k.LockWait
	if wait <= 0 {
		wait = DefaultLockWait
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ok, err := lf.TryLockContext(wctx, 20*time.Millisecond)
	if ok {
		return func() { _ = lf.Unlock() }, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, fault.Unavailablef("cannot lock %s: %v", k.LockFile, fault.PathCause(err)).
			Hint("make " + filepath.Dir(k.LockFile) + " writable (XDG_STATE_HOME)")
	}
	return nil, fault.Unavailablef("another klrbac has been changing the tokens of OAuth app %s for %s (it holds %s)", k.App, wait, k.LockFile).
		Hint("wait for it to finish and retry; `fuser " + k.LockFile + "` names it")
}

// Account is the Klaviyo account an access token acts for.
type Account struct{ ID, Name string }

// Identify asks Klaviyo which account token acts for, with GET /api/accounts, which needs the
// accounts:read scope. The call counts against the app's own rate-limit quota (quota).
func Identify(ctx context.Context, client *klaviyo.Client, quota string, token secrets.Secret) (Account, error) {
	resp, err := client.Do(ctx, klaviyo.Request{
		Method: http.MethodGet, Path: "/api/accounts",
		Query:      url.Values{"fields[account]": {"contact_information.organization_name"}},
		Credential: klaviyo.BearerToken(token.Reveal()), Account: quota,
	})
	if err != nil {
		return Account{}, err
	}
	var doc struct {
		Data []struct {
			ID         string `json:"id"`
			Attributes struct {
				ContactInformation struct {
					OrganizationName string `json:"organization_name"`
				} `json:"contact_information"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(resp.Body, &doc); err != nil || len(doc.Data) == 0 {
		return Account{}, errors.New("GET /api/accounts answered without an account")
	}
	d := doc.Data[0]
	return Account{ID: printable(d.ID, 64), Name: printable(d.Attributes.ContactInformation.OrganizationName, 200)}, nil
}

// Quota is the rate-limit quota an app's calls count against: Klaviyo gives each installed OAuth
// app its own, apart from the account's private keys.
func Quota(app string) string { return "oauth:" + app }
