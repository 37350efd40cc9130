package sandbox

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/mask"
)

// OAuth lifetimes, as Klaviyo documents them.
const (
	CodeLifetime        = 10 * time.Minute
	AccessTokenLifetime = time.Hour
	// consentLifetime bounds how long a consent page stays answerable.
	consentLifetime = 30 * time.Minute
)

// pendingAuth is an authorization request waiting on the consent page's answer.
type pendingAuth struct {
	client      *clientState
	redirectURI string
	state       string
	challenge   string
	scopes      []string
	expires     time.Time
}

// authCode is an authorization code: single use, short lived, bound to its client, redirect URI and
// PKCE challenge.
type authCode struct {
	client      *clientState
	redirectURI string
	challenge   string
	scopes      []string
	expires     time.Time
	used        bool
}

// grant is what a user allowed an app: it lives as long as its refresh token, which rotates.
type grant struct {
	client  *clientState
	scopes  []string
	refresh string
	revoked bool
}

type accessToken struct {
	grant   *grant
	expires time.Time
}

func (s *Server) serveOAuth(w http.ResponseWriter, r *http.Request) {
	rec := s.record(w, r.Method+" "+r.URL.Path, "")
	rec.r = r
	defer rec.done()
	switch r.URL.Path {
	case "/oauth/authorize":
		switch r.Method {
		case http.MethodGet:
			s.authorize(rec, r)
		case http.MethodPost:
			s.consent(rec, r)
		default:
			methodNotAllowed(rec, "GET, POST")
		}
	case "/oauth/token":
		if r.Method != http.MethodPost {
			methodNotAllowed(rec, "POST")
			return
		}
		s.delay()
		s.token(rec, r)
	case "/oauth/revoke":
		if r.Method != http.MethodPost {
			methodNotAllowed(rec, "POST")
			return
		}
		s.delay()
		s.revoke(rec, r)
	default:
		rec.op = ""
		errorPage(rec, http.StatusNotFound, "Not found", "There is no such OAuth endpoint.")
	}
}

// tell reports an OAuth secret to Options.Issued.
func (s *Server) tell(kind, value string) {
	if s.issued != nil && value != "" {
		s.issued(kind, value)
	}
}

// delay adds the configured latency to the endpoints on Klaviyo's API host, as to /api calls: the
// consent page is a person's page and is not slowed.
func (s *Server) delay() {
	if lat, _ := s.Faults(); lat > 0 {
		time.Sleep(lat)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
}

// authorize validates an authorization request and shows the consent page. A request whose client
// or redirect URI cannot be trusted gets an error page: redirecting it would hand an attacker the
// user's browser. Other mistakes are reported to the app through its redirect URI.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c := s.clients[q.Get("client_id")]
	if c == nil {
		errorPage(w, http.StatusBadRequest, "Unknown app", "No app is registered with client_id "+strconv.Quote(q.Get("client_id"))+".")
		return
	}
	redirect := q.Get("redirect_uri")
	if !slices.Contains(c.client.RedirectURIs, redirect) {
		errorPage(w, http.StatusBadRequest, "Invalid redirect URI",
			"The redirect_uri "+strconv.Quote(redirect)+" is not registered for "+c.client.Name+". Registered: "+strings.Join(c.client.RedirectURIs, ", ")+".")
		return
	}
	state := q.Get("state")
	fail := func(code, desc string) {
		redirectTo(w, r, redirect, url.Values{"error": {code}, "error_description": {desc}}, state)
	}
	if q.Get("response_type") != "code" {
		fail("unsupported_response_type", "response_type must be code")
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	if len(scopes) == 0 {
		fail("invalid_scope", "scope is required")
		return
	}
	for _, sc := range scopes {
		if !catalog.IsAssignable(sc) {
			fail("invalid_scope", "unknown scope "+sc)
			return
		}
	}
	if state == "" {
		fail("invalid_request", "state is required")
		return
	}
	if q.Get("code_challenge_method") != "S256" {
		fail("invalid_request", "code_challenge_method must be S256")
		return
	}
	challenge := q.Get("code_challenge")
	if len(challenge) != 43 || !isBase64URL(challenge) {
		fail("invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier")
		return
	}
	id := randomToken(16)
	s.oauthMu.Lock()
	s.pending[id] = &pendingAuth{client: c, redirectURI: redirect, state: state, challenge: challenge,
		scopes: dedupe(scopes), expires: s.now().Add(consentLifetime)}
	s.oauthMu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(http.StatusOK)
	_ = consentPage().Execute(w, map[string]any{
		"App": c.client.Name, "Account": c.account.Name, "AccountID": c.account.ID,
		"Scopes": dedupe(scopes), "Request": id, "Redirect": redirect,
	})
}

// consent takes the answer of the consent page: Allow issues a code, Deny tells the app so.
func (s *Server) consent(w http.ResponseWriter, r *http.Request) {
	if tooLarge, err := parseForm(w, r); tooLarge {
		errorPage(w, http.StatusRequestEntityTooLarge, "Request too large", "The consent form is larger than any consent answer.")
		return
	} else if err != nil {
		errorPage(w, http.StatusBadRequest, "Invalid request", "The consent form could not be read.")
		return
	}
	id := r.PostForm.Get("request")
	s.oauthMu.Lock()
	p := s.pending[id]
	delete(s.pending, id)
	s.oauthMu.Unlock()
	if p == nil || s.now().After(p.expires) {
		errorPage(w, http.StatusBadRequest, "Request expired", "This authorization request is unknown or has expired. Start again from the app.")
		return
	}
	if r.PostForm.Get("decision") != "allow" {
		redirectTo(w, r, p.redirectURI, url.Values{"error": {"access_denied"}, "error_description": {"The user denied the request."}}, p.state)
		return
	}
	code := randomToken(20)
	s.tell("code", code)
	s.oauthMu.Lock()
	s.codes[code] = &authCode{client: p.client, redirectURI: p.redirectURI, challenge: p.challenge,
		scopes: p.scopes, expires: s.now().Add(CodeLifetime)}
	s.oauthMu.Unlock()
	redirectTo(w, r, p.redirectURI, url.Values{"code": {code}}, p.state)
}

func redirectTo(w http.ResponseWriter, r *http.Request, redirect string, params url.Values, state string) {
	u, err := url.Parse(redirect)
	if err != nil {
		errorPage(w, http.StatusBadRequest, "Invalid redirect URI", "The redirect URI cannot be parsed.")
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	if state != "" {
		q.Set("state", state)
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// tokenResponse is the token endpoint's success answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// token exchanges an authorization code, or a refresh token, for tokens.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	c, ok := s.clientAuth(w, r)
	if !ok {
		return
	}
	if tooLarge, err := parseForm(w, r); tooLarge {
		oauthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the body is too large")
		return
	} else if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be a form")
		return
	}
	f := r.PostForm
	switch f.Get("grant_type") {
	case "authorization_code":
		s.exchangeCode(w, c, f)
	case "refresh_token":
		s.refreshGrant(w, c, f)
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
	}
}

func (s *Server) exchangeCode(w http.ResponseWriter, c *clientState, f url.Values) {
	s.oauthMu.Lock()
	code := s.codes[f.Get("code")]
	var used bool
	if code != nil {
		used, code.used = code.used, true
	}
	s.oauthMu.Unlock()
	verifier := f.Get("code_verifier")
	s.tell("code_verifier", verifier)
	switch {
	case code == nil || code.client != c:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid authorization code.")
	case used:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Authorization code has already been used.")
	case s.now().After(code.expires):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Authorization code has expired.")
	case f.Get("redirect_uri") != code.redirectURI:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request.")
	case !validVerifier(verifier) || s256(verifier) != code.challenge:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Code challenge failed.")
	default:
		g := &grant{client: c, scopes: code.scopes}
		s.issue(w, g)
	}
}

func (s *Server) refreshGrant(w http.ResponseWriter, c *clientState, f url.Values) {
	s.oauthMu.Lock()
	g := s.refresh[f.Get("refresh_token")]
	if g == nil || g.client != c || g.revoked {
		s.oauthMu.Unlock()
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token.")
		return
	}
	// Rotation: the refresh token just used stops working.
	delete(s.refresh, g.refresh)
	s.oauthMu.Unlock()
	s.issue(w, g)
}

// issue writes a new access token and a new refresh token for g.
func (s *Server) issue(w http.ResponseWriter, g *grant) {
	access, refresh := randomToken(24), randomToken(24)
	s.tell("access_token", access)
	s.tell("refresh_token", refresh)
	s.oauthMu.Lock()
	g.refresh = refresh
	s.refresh[g.refresh] = g
	s.access[access] = &accessToken{grant: g, expires: s.now().Add(AccessTokenLifetime)}
	s.oauthMu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeOAuthJSON(w, http.StatusOK, tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(AccessTokenLifetime / time.Second),
		RefreshToken: g.refresh, Scope: strings.Join(g.scopes, " "),
	})
}

// revoke ends a grant given its refresh token (or one access token). Unknown tokens are not an
// error: RFC 7009 answers 200 so that revocation cannot probe for valid tokens.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	c, ok := s.clientAuth(w, r)
	if !ok {
		return
	}
	if tooLarge, _ := parseForm(w, r); tooLarge {
		oauthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the body is too large")
		return
	}
	if r.PostForm.Get("token") == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	tok := r.PostForm.Get("token")
	s.oauthMu.Lock()
	if g := s.refresh[tok]; g != nil && g.client == c {
		g.revoked = true
		delete(s.refresh, tok)
		for k, a := range s.access {
			if a.grant == g {
				delete(s.access, k)
			}
		}
	}
	if a := s.access[tok]; a != nil && a.grant.client == c {
		delete(s.access, tok)
	}
	s.oauthMu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// clientAuth checks HTTP Basic client authentication, the only kind Klaviyo accepts.
func (s *Server) clientAuth(w http.ResponseWriter, r *http.Request) (*clientState, bool) {
	id, secret, ok := r.BasicAuth()
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	c := s.clients[id]
	if !ok || c == nil || subtle.ConstantTimeCompare([]byte(secret), []byte(c.client.ClientSecret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="klaviyo"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed: send HTTP Basic client_id:client_secret.")
		return nil, false
	}
	return c, true
}

// bearer resolves an access token into who it acts for: the app's account, with exactly the
// scopes granted, under the app's own rate-limit quota.
func (s *Server) bearer(token string) (principal, bool) {
	s.oauthMu.Lock()
	defer s.oauthMu.Unlock()
	a := s.access[token]
	if a == nil || a.grant.revoked || s.now().After(a.expires) {
		return principal{}, false
	}
	c := a.grant.client
	return principal{
		account: c.account,
		scopes:  scopeSet(a.grant.scopes),
		quota:   "oauth:" + c.client.ClientID + "@" + c.account.ID,
		who:     "oauth:" + c.client.ClientID + " " + mask.Secret(token),
	}, true
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeOAuthJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeOAuthJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// validVerifier checks RFC 7636's verifier syntax: 43 to 128 of [A-Za-z0-9-._~].
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !isAlnum(c) && c != '-' && c != '.' && c != '_' && c != '~' {
			return false
		}
	}
	return true
}

// S256 is PKCE's S256 challenge of a verifier: base64url(SHA-256(verifier)) without padding.
func S256(verifier string) string { return s256(verifier) }

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func dedupe(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func errorPage(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = errorTemplate().Execute(w, map[string]string{"Title": title, "Message": msg})
}

// The pages are parsed on first use: most klrbac runs never serve one.
var consentPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorize {{.App}} - klrbac sandbox</title>
<style>` + pageStyle + `</style>
</head>
<body>
<main>
<p class="banner">klrbac sandbox: a local stand-in for Klaviyo</p>
<h1>Allow <span id="app">{{.App}}</span> to access <span id="account">{{.Account}}</span>?</h1>
<p>{{.App}} asks for these scopes on account {{.AccountID}}:</p>
<ul id="scopes">{{range .Scopes}}
<li><code>{{.}}</code></li>{{end}}
</ul>
<p class="small">You will be sent back to {{.Redirect}}</p>
<form method="post" action="/oauth/authorize">
<input type="hidden" name="request" value="{{.Request}}">
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny" class="secondary">Deny</button>
</form>
</main>
</body>
</html>
`))
})

var errorTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}} - klrbac sandbox</title>
<style>` + pageStyle + `</style>
</head>
<body>
<main>
<p class="banner">klrbac sandbox: a local stand-in for Klaviyo</p>
<h1 id="error">{{.Title}}</h1>
<p>{{.Message}}</p>
</main>
</body>
</html>
`))
})

const pageStyle = `body{font-family:system-ui,sans-serif;background:#f6f6f4;margin:0}` +
	`main{max-width:36rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}` +
	`.banner{font-size:.8rem;color:#666;text-transform:uppercase;letter-spacing:.05em}` +
	`.small{font-size:.85rem;color:#555}button{font-size:1rem;padding:.6rem 1.4rem;margin-right:.6rem;border-radius:6px;` +
	`border:1px solid #222;background:#222;color:#fff;cursor:pointer}button.secondary{background:#fff;color:#222}`
