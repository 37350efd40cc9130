package oauthflow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/secrets"
)

// recorded is what a keeper asked the audit trail to record.
type recorded struct {
	mu      sync.Mutex
	changes []Change
}

func (r *recorded) Audited(_ context.Context, e audit.Entry, do func() error) error {
	r.mu.Lock()
	r.changes = append(r.changes, Change{Action: e.Action, Fingerprint: e.Fingerprint, Endpoint: e.KlaviyoEndpoint, Reason: e.Reason})
	r.mu.Unlock()
	return do()
}

func (r *recorded) actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.changes {
		out = append(out, c.Action)
	}
	return out
}

// loggedIn logs in through the rig and returns a keeper of the stored token set.
func (r *rig) loggedIn(store secrets.Store, lockDir string, rec *recorded) *Keeper {
	r.t.Helper()
	l := r.login()
	l.Save = func(ctx context.Context, t *secrets.TokenSet) error {
		return secrets.SetTokenSet(ctx, store, "demo", *t)
	}
	done := run(context.Background(), l)
	deliver(r.t, http.MethodGet, r.consent(r.nextURL(), true), "")
	if o := r.wait(done); o.err != nil {
		r.t.Fatal(o.err)
	}
	return r.keeper(store, lockDir, rec)
}

func (r *rig) keeper(store secrets.Store, lockDir string, rec *recorded) *Keeper {
	return &Keeper{
		App: "demo", Endpoints: EndpointsFor(r.base, r.base), Store: store,
		ClientSecret: func(context.Context) (secrets.Secret, error) { return secrets.NewSecret(demoSecret), nil },
		LockFile:     filepath.Join(lockDir, "oauth", "demo.lock"),
		Now:          r.clock.Now,
		Trail:        rec,
	}
}

// tokenCalls counts the token endpoint's successful answers so far.
func (r *rig) tokenCalls() int { return r.srv.Stats().Count("POST /oauth/token", 200) }

// refreshWith asks the sandbox directly to refresh with token, and returns the status.
func (r *rig) refreshWith(token secrets.Secret) int {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.base+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token.Reveal()}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(demoClientID, demoSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRefreshRotatesAndStores(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	store := secrets.New(secrets.Options{Backend: &memKeyring{}})
	rec := &recorded{}
	k := r.loggedIn(store, t.TempDir(), rec)
	before, err := k.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	after, err := k.Refresh(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if after.AccessToken.Equal(before.AccessToken) || after.RefreshToken.Equal(before.RefreshToken) {
		t.Fatal("the refresh returned the same tokens")
	}
	stored, _ := k.Load(context.Background())
	if !stored.RefreshToken.Equal(after.RefreshToken) || !stored.AccessToken.Equal(after.AccessToken) {
		t.Error("the rotated tokens were not stored")
	}
	if stored.Scope != before.Scope || stored.ClientID != demoClientID || !stored.Authorized.Equal(before.Authorized) || stored.Requested != before.Requested {
		t.Errorf("the refresh lost what the login knew: %+v", stored)
	}
	if r.refreshWith(before.RefreshToken) != http.StatusBadRequest {
		t.Error("the sandbox still takes the retired refresh token: rotation was not exercised")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.changes) != 1 || rec.changes[0].Action != ActionRefresh || rec.changes[0].Fingerprint != before.RefreshToken.Fingerprint() ||
		rec.changes[0].Endpoint != "POST /oauth/token" {
		t.Errorf("audited %+v", rec.changes)
	}
	for _, c := range rec.changes {
		for _, s := range []secrets.Secret{before.AccessToken, before.RefreshToken, after.AccessToken, after.RefreshToken} {
			if strings.Contains(fmt.Sprint(c), s.Reveal()) {
				t.Error("the audit record holds a token")
			}
		}
	}
}

func TestFreshRefreshesOnlyNearExpiry(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	store := secrets.New(secrets.Options{Backend: &memKeyring{}})
	k := r.loggedIn(store, t.TempDir(), &recorded{})
	ctx := context.Background()
	first, refreshed, err := k.Fresh(ctx, MinValid)
	if err != nil || refreshed {
		t.Fatalf("a new token was refreshed (%v, %v)", refreshed, err)
	}
	r.clock.Advance(time.Hour - 30*time.Second)
	second, refreshed, err := k.Fresh(ctx, MinValid)
	if err != nil || !refreshed || second.AccessToken.Equal(first.AccessToken) {
		t.Fatalf("30s before expiry: refreshed %v, %v", refreshed, err)
	}
	if left := second.Remaining(r.clock.Now()); left < 59*time.Minute {
		t.Errorf("the new token has %s left", left)
	}
	if _, refreshed, _ := k.Fresh(ctx, MinValid); refreshed {
		t.Error("a fresh token was refreshed again")
	}
	if _, refreshed, _ := k.Fresh(ctx, 61*time.Minute); !refreshed {
		t.Error("asking for more time than is left did not refresh")
	}
}

// TestConcurrentRefreshesUseTheRefreshTokenOnce is the parallel-scripts case: many processes want
// a token at once when it is about to expire. Each keeper here stands for a process (its own lock
// handle on the same file, the same keyring): exactly one refreshes, the others use its token.
func TestConcurrentRefreshesUseTheRefreshTokenOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	store := secrets.New(secrets.Options{Backend: &memKeyring{}})
	lockDir := t.TempDir()
	rec := &recorded{}
	r.loggedIn(store, lockDir, rec)
	r.clock.Advance(time.Hour - 10*time.Second)
	calls := r.tokenCalls()
	const n = 8
	tokens := make([]secrets.Secret, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			t, _, err := r.keeper(store, lockDir, rec).Fresh(context.Background(), MinValid)
			tokens[i], errs[i] = t.AccessToken, err
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !tokens[i].Equal(tokens[0]) {
			t.Errorf("caller %d got another token than caller 0", i)
		}
	}
	if got := r.tokenCalls() - calls; got != 1 {
		t.Errorf("%d refreshes for %d callers, want 1", got, n)
	}
	if bad := r.srv.Stats().Count("POST /oauth/token", 400); bad != 0 {
		t.Errorf("%d refreshes were refused: a refresh token was used twice", bad)
	}
	if a := rec.actions(); len(a) != 1 {
		t.Errorf("audited %v", a)
	}
}

func TestRefusedRefreshAsksForALogin(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	store := secrets.New(secrets.Options{Backend: &memKeyring{}})
	rec := &recorded{}
	k := r.loggedIn(store, t.TempDir(), rec)
	t0, _ := k.Load(context.Background())
	// Someone else used the refresh token: Klaviyo rotated it away from us.
	if r.refreshWith(t0.RefreshToken) != 200 {
		t.Fatal("setup: the sandbox refused the refresh")
	}
	_, err := k.Refresh(context.Background(), "test")
	var re *RefusedError
	if !errors.Is(err, ErrReauthorize) || !errors.As(err, &re) || !re.Grant() || fault.KindOf(err) != fault.Unavailable {
		t.Fatalf("refused refresh: %v", err)
	}
	if h := fault.Hints(err); len(h) != 1 || h[0] != "re-authorize with klrbac oauth login demo" {
		t.Errorf("hints %q", h)
	}
	if still, _ := k.Load(context.Background()); !still.RefreshToken.Equal(t0.RefreshToken) {
		t.Error("a refused refresh changed the stored token set")
	}
	if a := rec.actions(); len(a) != 1 || a[0] != ActionRefresh {
		t.Errorf("audited %v", a)
	}
}

// TestKlaviyosInvalidGrantType accepts Klaviyo's own word for a refused grant.
func TestKlaviyosInvalidGrantType(t *testing.T) {
	t.Parallel()
	token := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant_type","error_description":"Refresh token is invalid"}`))
	}))
	defer token.Close()
	store := secrets.New(secrets.Options{Backend: &memKeyring{}})
	_ = secrets.SetTokenSet(context.Background(), store, "demo", secrets.TokenSet{AccessToken: secretOf("access-0123456789abcdef"),
		RefreshToken: secretOf("refresh-0123456789abcdef"), ClientID: "c", Expiry: time.Now().Add(-time.Minute)})
	k := &Keeper{App: "demo", Store: store, Endpoints: EndpointsFor(token.URL, token.URL), LockFile: filepath.Join(t.TempDir(), "demo.lock"),
		ClientSecret: func(context.Context) (secrets.Secret, error) { return secretOf("s"), nil }}
	_, _, err := k.Fresh(context.Background(), MinValid)
	if !errors.Is(err, ErrReauthorize) || !strings.Contains(err.Error(), "invalid_grant_type") {
		t.Errorf("invalid_grant_type: %v", err)
	}
}

func TestExpiredWithoutRefreshToken(t *testing.T) {
	t.Parallel()
	store := secrets.New(secrets.Options{Backend: &memKeyring{}})
	k := &Keeper{App: "demo", Store: store, LockFile: filepath.Join(t.TempDir(), "demo.lock")}
	ctx := context.Background()
	_ = secrets.SetTokenSet(ctx, store, "demo", secrets.TokenSet{AccessToken: secretOf("access-0123456789abcdef"), Expiry: time.Now().Add(30 * time.Second)})
	if _, _, err := k.Fresh(ctx, MinValid); err != nil {
		t.Errorf("a token with 30s left and nothing to refresh it with is still the best there is: %v", err)
	}
	_ = secrets.SetTokenSet(ctx, store, "demo", secrets.TokenSet{AccessToken: secretOf("access-0123456789abcdef"), Expiry: time.Now().Add(-time.Second)})
	if _, _, err := k.Fresh(ctx, MinValid); !errors.Is(err, ErrReauthorize) || !strings.Contains(err.Error(), "has expired and there is no refresh token") {
		t.Errorf("expired without refresh token: %v", err)
	}
	if _, err := k.Refresh(ctx, "test"); !errors.Is(err, ErrReauthorize) {
		t.Errorf("refresh without refresh token: %v", err)
	}
}

func TestNotLoggedIn(t *testing.T) {
	t.Parallel()
	k := &Keeper{App: "demo", Store: secrets.New(secrets.Options{Backend: &memKeyring{}}), LockFile: filepath.Join(t.TempDir(), "demo.lock")}
	_, _, err := k.Fresh(context.Background(), MinValid)
	if !errors.Is(err, ErrNotLoggedIn) || !errors.Is(err, ErrReauthorize) || fault.KindOf(err) != fault.Unavailable {
		t.Errorf("not logged in: %v", err)
	}
	if _, err := k.Logout(context.Background()); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("logout: %v", err)
	}
	k.Store = secrets.New(secrets.Options{Off: true})
	if _, err := k.Load(context.Background()); err == nil || !strings.Contains(err.Error(), "the keyring is off") {
		t.Errorf("keyring off: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	store := secrets.New(secrets.Options{Backend: &memKeyring{}})
	rec := &recorded{}
	k := r.loggedIn(store, t.TempDir(), rec)
	t0, _ := k.Load(context.Background())
	revoked, err := k.Revoke(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !revoked.RefreshToken.Equal(t0.RefreshToken) {
		t.Error("Revoke returned another token set")
	}
	if _, err := k.Load(context.Background()); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("the token set is still stored: %v", err)
	}
	if r.refreshWith(t0.RefreshToken) != http.StatusBadRequest {
		t.Error("Klaviyo still honours the revoked refresh token")
	}
	req, _ := http.NewRequest("GET", r.base+"/api/accounts", nil)
	req.Header.Set("Authorization", "Bearer "+t0.AccessToken.Reveal())
	req.Header.Set("revision", "2026-07-15")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the revoked grant's access token still works: %v", resp.StatusCode)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.changes) != 1 || rec.changes[0].Action != ActionRevoke || rec.changes[0].Fingerprint != t0.RefreshToken.Fingerprint() {
		t.Errorf("audited %+v", rec.changes)
	}
}

func TestRevokeFailureKeepsTheTokens(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	store := secrets.New(secrets.Options{Backend: &memKeyring{}})
	k := r.loggedIn(store, t.TempDir(), &recorded{})
	k.Endpoints.RevokeURL = "http://127.0.0.1:1/oauth/revoke"
	if _, err := k.Revoke(context.Background()); err == nil || !strings.Contains(err.Error(), "cannot reach Klaviyo's revocation endpoint") {
		t.Errorf("unreachable revocation endpoint: %v", err)
	}
	if _, err := k.Load(context.Background()); err != nil {
		t.Errorf("the token set was deleted although Klaviyo was not told: %v", err)
	}
	k.Endpoints = EndpointsFor(r.base, r.base)
	k.ClientSecret = func(context.Context) (secrets.Secret, error) { return secretOf("wrong-secret-0123456789"), nil }
	_, err := k.Revoke(context.Background())
	var re *RefusedError
	if !errors.As(err, &re) || !re.Client() {
		t.Errorf("revocation with a wrong client secret: %v", err)
	}
	if _, err := k.Load(context.Background()); err != nil {
		t.Errorf("the token set was deleted although Klaviyo refused: %v", err)
	}
}

func TestLogoutForgetsLocallyOnly(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	store := secrets.New(secrets.Options{Backend: &memKeyring{}})
	rec := &recorded{}
	k := r.loggedIn(store, t.TempDir(), rec)
	t0, _ := k.Load(context.Background())
	if _, err := k.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Load(context.Background()); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("still stored: %v", err)
	}
	if r.refreshWith(t0.RefreshToken) != 200 {
		t.Error("logout told Klaviyo: the refresh token no longer works")
	}
	if a := rec.actions(); len(a) != 1 || a[0] != ActionLogout {
		t.Errorf("audited %v", a)
	}
}

func TestAuditRefusalStopsTheRefresh(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	store := secrets.New(secrets.Options{Backend: &memKeyring{}})
	k := r.loggedIn(store, t.TempDir(), &recorded{})
	calls := r.tokenCalls()
	k.Trail = refusing{}
	if _, err := k.Refresh(context.Background(), "test"); err == nil {
		t.Fatal("a refresh went ahead without its audit record")
	}
	if r.tokenCalls() != calls {
		t.Error("Klaviyo was asked although the audit record could not be written")
	}
}

// refusing is an audit trail that can keep no record.
type refusing struct{}

func (refusing) Audited(context.Context, audit.Entry, func() error) error {
	return fault.Unavailablef("audit log not writable")
}

func TestLockWaitIsBounded(t *testing.T) {
	t.Parallel()
	store := secrets.New(secrets.Options{Backend: &memKeyring{}})
	dir := t.TempDir()
	k := &Keeper{App: "demo", Store: store, LockFile: filepath.Join(dir, "demo.lock"), LockWait: 100 * time.Millisecond}
	_ = secrets.SetTokenSet(context.Background(), store, "demo", secrets.TokenSet{AccessToken: secretOf("access-0123456789abcdef"),
		RefreshToken: secretOf("refresh-0123456789abcdef"), Expiry: time.Now().Add(-time.Minute)})
	held := flock.New(k.LockFile)
	if ok, err := held.TryLock(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	defer held.Unlock()
	_, _, err := k.Fresh(context.Background(), MinValid)
	if err == nil || !strings.Contains(err.Error(), "another klrbac has been changing the tokens of OAuth app demo for 100ms") {
		t.Errorf("lock held elsewhere: %v", err)
	}
	if st, err := os.Stat(k.LockFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v %v", st, err)
	}
}
