package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/sandbox"
)

const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-klrbac"

// flow drives the OAuth endpoints as a browser and a terminal app would.
type flow struct {
	t    *testing.T
	base string
}

func (f flow) authorizeURL(mod func(url.Values)) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {redirectURI},
		"scope":                 {"profiles:read lists:read"},
		"state":                 {"xyz-state"},
		"code_challenge_method": {"S256"},
		"code_challenge":        {sandbox.S256(verifier)},
	}
	if mod != nil {
		mod(q)
	}
	return f.base + "/oauth/authorize?" + q.Encode()
}

// consent loads the consent page and presses a button; it returns the redirect.
func (f flow) consent(authorize string, decision string) *url.URL {
	f.t.Helper()
	resp, err := noRedirects.Get(authorize)
	if err != nil {
		f.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		f.t.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	wants := []string{`id="allow"`, `id="deny"`, "klrbac demo app", "Demo Company", `method="post"`}
	u, _ := url.Parse(authorize)
	for _, sc := range strings.Fields(u.Query().Get("scope")) {
		wants = append(wants, "<code>"+sc+"</code>")
	}
	for _, want := range wants {
		if !strings.Contains(string(page), want) {
			f.t.Errorf("consent page lacks %s:\n%s", want, page)
		}
	}
	m := regexp.MustCompile(`name="request" value="([0-9a-f]+)"`).FindSubmatch(page)
	if m == nil {
		f.t.Fatalf("consent page has no request id:\n%s", page)
	}
	resp, err = noRedirects.PostForm(f.base+"/oauth/authorize", url.Values{"request": {string(m[1])}, "decision": {decision}})
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		f.t.Fatalf("consent answer: %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		f.t.Fatal(err)
	}
	return loc
}

func (f flow) code() string {
	f.t.Helper()
	loc := f.consent(f.authorizeURL(nil), "allow")
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		f.t.Fatalf("redirected to %s", got)
	}
	if loc.Query().Get("state") != "xyz-state" || loc.Query().Get("code") == "" {
		f.t.Fatalf("redirect query: %s", loc.RawQuery)
	}
	return loc.Query().Get("code")
}

type tokenAnswer struct {
	status                                  int
	AccessToken                             string `json:"access_token"`
	TokenType                               string `json:"token_type"`
	ExpiresIn                               int    `json:"expires_in"`
	RefreshToken                            string `json:"refresh_token"`
	Scope                                   string `json:"scope"`
	Error                                   string `json:"error"`
	ErrorDescription                        string `json:"error_description"`
	contentType, cacheControl, authenticate string
}

func (f flow) post(path, id, secret string, form url.Values) tokenAnswer {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var a tokenAnswer
	body, _ := io.ReadAll(resp.Body)
	if len(body) > 0 {
		if err := json.Unmarshal(body, &a); err != nil {
			f.t.Fatalf("%s: not JSON: %s", path, body)
		}
	}
	a.status, a.contentType, a.cacheControl = resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control")
	a.authenticate = resp.Header.Get("WWW-Authenticate")
	return a
}

func (f flow) exchange(code, v string) tokenAnswer {
	return f.post("/oauth/token", clientID, secret, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v}, "redirect_uri": {redirectURI},
	})
}

func (f flow) refresh(token string) tokenAnswer {
	return f.post("/oauth/token", clientID, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}})
}

func TestOAuthHappyPath(t *testing.T) {
	clk := newClock()
	_, base := start(t, nil, sandbox.Options{Now: clk.Now})
	f := flow{t, base}
	tok := f.exchange(f.code(), verifier)
	if tok.status != 200 || tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 || tok.AccessToken == "" ||
		tok.RefreshToken == "" || tok.Scope != "profiles:read lists:read" || tok.cacheControl != "no-store" {
		t.Fatalf("token: %+v", tok)
	}
	// The access token works on /api with exactly the granted scopes.
	if a := call(t, base, request{path: "/api/profiles", key: tok.AccessToken}); a.status != 200 {
		t.Errorf("bearer with profiles:read: %d %s", a.status, a.body)
	}
	if a := call(t, base, request{path: "/api/segments", key: tok.AccessToken}); a.status != 403 || a.errorCode() != "permission_denied" {
		t.Errorf("bearer without segments:read: %d %s", a.status, a.body)
	}
	// Under the app's own quota: an account key spending the XS second does not throttle the app.
	call(t, base, request{path: "/api/accounts", key: adminKey})
	tokAccounts := f.exchange(flowCode(t, f, "accounts:read"), verifier)
	if a := call(t, base, request{path: "/api/accounts", key: tokAccounts.AccessToken}); a.status != 200 {
		t.Errorf("app's own quota: %d %s", a.status, a.body)
	}
	// Access tokens expire after an hour.
	clk.Advance(time.Hour + time.Second)
	if a := call(t, base, request{path: "/api/profiles", key: tok.AccessToken}); a.status != 401 {
		t.Errorf("expired access token: %d, want 401", a.status)
	}
}

func flowCode(t *testing.T, f flow, scope string) string {
	loc := f.consent(f.authorizeURL(func(q url.Values) { q.Set("scope", scope) }), "allow")
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", loc)
	}
	return code
}

func TestOAuthCodeIsCheckedAndSingleUse(t *testing.T) {
	clk := newClock()
	_, base := start(t, nil, sandbox.Options{Now: clk.Now})
	f := flow{t, base}

	if a := f.exchange(f.code(), strings.Repeat("a", 43)); a.status != 400 || a.Error != "invalid_grant" || a.ErrorDescription != "Code challenge failed." {
		t.Errorf("wrong verifier: %+v", a)
	}
	if a := f.exchange(f.code(), "short"); a.status != 400 || a.ErrorDescription != "Code challenge failed." {
		t.Errorf("malformed verifier: %+v", a)
	}

	code := f.code()
	if a := f.exchange(code, verifier); a.status != 200 {
		t.Fatalf("first use: %+v", a)
	}
	if a := f.exchange(code, verifier); a.status != 400 || a.Error != "invalid_grant" {
		t.Errorf("reused code: %+v", a)
	}

	code = f.code()
	clk.Advance(10*time.Minute + time.Second)
	if a := f.exchange(code, verifier); a.status != 400 || a.Error != "invalid_grant" || !strings.Contains(a.ErrorDescription, "expired") {
		t.Errorf("expired code: %+v", a)
	}

	code = f.code()
	clk.Advance(10*time.Minute - time.Second)
	if a := f.exchange(code, verifier); a.status != 200 {
		t.Errorf("code just before expiry: %+v", a)
	}

	code = f.code()
	a := f.post("/oauth/token", clientID, secret, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {"http://localhost:8765/callback"}})
	if a.status != 400 || a.Error != "invalid_grant" {
		t.Errorf("other redirect_uri: %+v", a)
	}
	if a := f.exchange("nosuchcode", verifier); a.status != 400 || a.Error != "invalid_grant" {
		t.Errorf("unknown code: %+v", a)
	}
	if a := f.post("/oauth/token", clientID, secret, url.Values{"grant_type": {"password"}}); a.status != 400 || a.Error != "unsupported_grant_type" {
		t.Errorf("password grant: %+v", a)
	}
}

func TestOAuthClientAuthentication(t *testing.T) {
	_, base := start(t, nil, sandbox.Options{})
	f := flow{t, base}
	code := f.code()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirectURI}}
	for name, creds := range map[string][2]string{"wrong secret": {clientID, "wrong"}, "unknown client": {"nobody", secret}, "none": {"", ""}} {
		a := f.post("/oauth/token", creds[0], creds[1], form)
		if a.status != 401 || a.Error != "invalid_client" || !strings.HasPrefix(a.contentType, "application/json") || !strings.HasPrefix(a.authenticate, "Basic") {
			t.Errorf("%s: %+v", name, a)
		}
	}
	// The code was not spent by requests that failed client authentication.
	if a := f.exchange(code, verifier); a.status != 200 {
		t.Errorf("exchange after failed client auth: %+v", a)
	}
	if a := f.post("/oauth/revoke", clientID, "wrong", url.Values{"token": {"x"}}); a.status != 401 || a.Error != "invalid_client" {
		t.Errorf("revoke with a wrong secret: %+v", a)
	}
}

func TestOAuthRefreshRotatesAndRevokeEnds(t *testing.T) {
	_, base := start(t, nil, sandbox.Options{})
	f := flow{t, base}
	first := f.exchange(f.code(), verifier)
	second := f.refresh(first.RefreshToken)
	if second.status != 200 || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken || second.Scope != first.Scope {
		t.Fatalf("refresh: %+v", second)
	}
	if a := f.refresh(first.RefreshToken); a.status != 400 || a.Error != "invalid_grant" {
		t.Errorf("old refresh token after rotation: %+v", a)
	}
	if a := call(t, base, request{path: "/api/profiles", key: second.AccessToken}); a.status != 200 {
		t.Errorf("refreshed access token: %d", a.status)
	}
	if a := f.post("/oauth/revoke", clientID, secret, url.Values{"token": {second.RefreshToken}, "token_type_hint": {"refresh_token"}}); a.status != 200 {
		t.Fatalf("revoke: %+v", a)
	}
	if a := f.refresh(second.RefreshToken); a.status != 400 || a.Error != "invalid_grant" {
		t.Errorf("refresh after revoke: %+v", a)
	}
	if a := call(t, base, request{path: "/api/profiles", key: second.AccessToken}); a.status != 401 {
		t.Errorf("access token after revoke: %d, want 401", a.status)
	}
	if a := f.post("/oauth/revoke", clientID, secret, url.Values{"token": {"unknown"}}); a.status != 200 {
		t.Errorf("revoking an unknown token: %+v", a)
	}
	if a := f.post("/oauth/revoke", clientID, secret, url.Values{}); a.status != 400 || a.Error != "invalid_request" {
		t.Errorf("revoke without a token: %+v", a)
	}
}

func TestOAuthDeny(t *testing.T) {
	_, base := start(t, nil, sandbox.Options{})
	f := flow{t, base}
	loc := f.consent(f.authorizeURL(nil), "deny")
	q := loc.Query()
	if q.Get("error") != "access_denied" || q.Get("state") != "xyz-state" || q.Get("code") != "" || loc.Host != "127.0.0.1:8765" {
		t.Errorf("deny redirect: %s", loc)
	}
}

// TestOAuthAuthorizeErrors: an untrusted client or redirect URI gets an error page, never a
// redirect; other mistakes go back to the app through its redirect URI.
func TestOAuthAuthorizeErrors(t *testing.T) {
	_, base := start(t, nil, sandbox.Options{})
	f := flow{t, base}
	for name, mod := range map[string]func(url.Values){
		"unknown client":      func(q url.Values) { q.Set("client_id", "evil") },
		"unregistered uri":    func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:9999/callback") },
		"uri with extra path": func(q url.Values) { q.Set("redirect_uri", redirectURI+"/x") },
		"no redirect uri":     func(q url.Values) { q.Del("redirect_uri") },
	} {
		resp, err := noRedirects.Get(f.authorizeURL(mod))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(string(body), `id="error"`) {
			t.Errorf("%s: %d Location=%q", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for name, tc := range map[string]struct {
		mod  func(url.Values)
		want string
	}{
		"response type": {func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		"no scope":      {func(q url.Values) { q.Del("scope") }, "invalid_scope"},
		"unknown scope": {func(q url.Values) { q.Set("scope", "profiles:read everything:write") }, "invalid_scope"},
		"plain pkce":    {func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		"no challenge":  {func(q url.Values) { q.Del("code_challenge") }, "invalid_request"},
		"no state":      {func(q url.Values) { q.Del("state") }, "invalid_request"},
	} {
		resp, err := noRedirects.Get(f.authorizeURL(tc.mod))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != 302 || loc == nil || loc.Query().Get("error") != tc.want || !strings.HasPrefix(loc.String(), redirectURI+"?") {
			t.Errorf("%s: %d %q, want a redirect with error=%s", name, resp.StatusCode, resp.Header.Get("Location"), tc.want)
		}
	}
	// An unknown or replayed consent answer is an error page too.
	resp, err := noRedirects.PostForm(base+"/oauth/authorize", url.Values{"request": {"nosuch"}, "decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Errorf("unknown consent request: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
