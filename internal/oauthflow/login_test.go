package oauthflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/sandbox"
	"github.com/klrbac/klrbac/internal/secrets"
)

// checkNoSecrets fails when any secret the sandbox handed out or received appears in s.
func (r *rig) checkNoSecrets(what, s string) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for kind, vs := range r.issued {
		for _, v := range vs {
			if strings.Contains(s, v) {
				r.t.Errorf("%s shows a %s", what, kind)
			}
		}
	}
}

func TestLoginAllow(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	l := r.login()
	var failed []error
	l.Failed = func(_ context.Context, err error) { failed = append(failed, err) }
	done := run(context.Background(), l)
	authURL := r.nextURL()

	au, _ := url.Parse(authURL)
	q := au.Query()
	for k, want := range map[string]string{"response_type": "code", "client_id": demoClientID, "redirect_uri": r.redirect,
		"scope": "accounts:read profiles:read", "code_challenge_method": "S256"} {
		if q.Get(k) != want {
			t.Errorf("authorize URL %s=%q, want %q", k, q.Get(k), want)
		}
	}
	if state := q.Get("state"); len(state) != 43 {
		t.Errorf("state %q is not 32 random bytes in base64url", state)
	}
	if au.Path != "/oauth/authorize" || len(q.Get("code_challenge")) != 43 {
		t.Errorf("authorize URL %s", authURL)
	}
	if !strings.Contains(r.saidAll(), authURL) {
		t.Errorf("the URL was not printed, only opened:\n%s", r.saidAll())
	}

	redirect := r.consent(authURL, true)
	page := deliver(t, http.MethodGet, redirect, "")
	o := r.wait(done)
	if o.err != nil {
		t.Fatal(o.err)
	}
	if page.status != 200 || !strings.Contains(page.body, `data-ok="true"`) || !strings.Contains(page.body, "Authorized") {
		t.Errorf("success page: %d %s", page.status, page.body)
	}
	for h, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if page.header.Get(h) != want {
			t.Errorf("success page %s: %q, want %q", h, page.header.Get(h), want)
		}
	}
	r.checkNoSecrets("the success page", page.body)
	r.checkNoSecrets("what the login said", r.saidAll())

	res := o.res
	tok := res.Token
	if tok.AccessToken.IsZero() || tok.RefreshToken.IsZero() || tok.TokenType != "Bearer" || tok.App != "demo" || tok.ClientID != demoClientID {
		t.Errorf("token set %+v", tok)
	}
	if got := tok.Expiry.Sub(tok.Obtained); got != time.Hour {
		t.Errorf("expiry %s after issue, want an hour (expires_in 3600)", got)
	}
	if !slices.Equal(res.Granted, []string{"accounts:read", "profiles:read"}) || len(res.Missing) != 0 || tok.Requested != "accounts:read profiles:read" {
		t.Errorf("granted %v, missing %v, requested %q", res.Granted, res.Missing, tok.Requested)
	}
	if res.CallbackAt.IsZero() || res.SavedAt.Before(res.CallbackAt) {
		t.Errorf("callback at %s, saved at %s", res.CallbackAt, res.SavedAt)
	}
	if len(r.saved) != 1 || !r.saved[0].AccessToken.Equal(tok.AccessToken) {
		t.Errorf("saved %d token sets", len(r.saved))
	}
	if len(failed) != 0 {
		t.Errorf("a successful login was reported failed: %v", failed)
	}
	// The token works on the API, with the granted scopes.
	req, _ := http.NewRequest("GET", r.base+"/api/accounts", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken.Reveal())
	req.Header.Set("revision", "2026-07-15")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /api/accounts with the new token: %d", resp.StatusCode)
	}
	// The listener is gone once the login ends.
	if c, err := net.DialTimeout("tcp", r.ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the callback listener still accepts connections after the login")
	}
}

func TestLoginDeny(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	l := r.login()
	var failed []error
	l.Failed = func(_ context.Context, err error) { failed = append(failed, err) }
	done := run(context.Background(), l)
	page := deliver(t, http.MethodGet, r.consent(r.nextURL(), false), "")
	o := r.wait(done)
	if !errors.Is(o.err, ErrDenied) || fault.KindOf(o.err) != fault.Findings || o.err.Error() != "authorization was denied in the browser" {
		t.Errorf("denied login: %v (kind %v)", o.err, fault.KindOf(o.err))
	}
	if !strings.Contains(page.body, "Authorization denied") || page.header.Get("Cache-Control") != "no-store" {
		t.Errorf("denial page: %s", page.body)
	}
	if len(r.saved) != 0 || len(failed) != 1 || !errors.Is(failed[0], ErrDenied) {
		t.Errorf("saved %d, failed %v", len(r.saved), failed)
	}
}

func TestLoginIgnoresWrongOrMissingState(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	done := run(context.Background(), r.login())
	redirect := r.consent(r.nextURL(), true)
	for _, u := range []*url.URL{withQuery(redirect, "state", "not-this-login"), withQuery(redirect, "state", "")} {
		page := deliver(t, http.MethodGet, u, "")
		if page.status != http.StatusBadRequest || !strings.Contains(page.body, "does not belong to the login") {
			t.Errorf("state %q: %d %s", u.Query().Get("state"), page.status, page.body)
		}
	}
	// The wait goes on, and the right answer still completes the login.
	if page := deliver(t, http.MethodGet, redirect, ""); page.status != 200 {
		t.Errorf("the right callback after wrong ones: %d %s", page.status, page.body)
	}
	if o := r.wait(done); o.err != nil {
		t.Fatal(o.err)
	}
	if !strings.Contains(r.saidAll(), "ignored a callback whose state does not belong to this login") {
		t.Errorf("the wrong state was not reported:\n%s", r.saidAll())
	}
}

func TestLoginReplayedCode(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	done := run(context.Background(), r.login())
	first := r.consent(r.nextURL(), true)
	deliver(t, http.MethodGet, first, "")
	if o := r.wait(done); o.err != nil {
		t.Fatal(o.err)
	}
	// A second login is handed the first one's code under its own state.
	r.ln, _ = net.Listen("tcp", r.ln.Addr().String())
	l := r.login()
	l.Timeout = time.Second // the refused code does not end the login: it waits for another
	done = run(context.Background(), l)
	second := r.consent(r.nextURL(), true)
	replay := withQuery(second, "code", first.Query().Get("code"))
	page := deliver(t, http.MethodGet, replay, "")
	o := r.wait(done)
	var re *RefusedError
	if !errors.As(o.err, &re) || !re.Grant() || !strings.Contains(o.err.Error(), "already been used") || fault.KindOf(o.err) != fault.Unavailable {
		t.Errorf("replayed code: %v", o.err)
	}
	if page.status != http.StatusBadRequest || !strings.Contains(page.body, "still waiting") {
		t.Errorf("refused code's page: %d %s", page.status, page.body)
	}
	r.checkNoSecrets("the error", o.err.Error())
}

func TestLoginExpiredCode(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	l := r.login()
	l.Timeout = time.Second
	done := run(context.Background(), l)
	redirect := r.consent(r.nextURL(), true)
	r.clock.Advance(sandbox.CodeLifetime + time.Second)
	deliver(t, http.MethodGet, redirect, "")
	o := r.wait(done)
	if o.err == nil || !strings.Contains(o.err.Error(), "Authorization code has expired") {
		t.Errorf("expired code: %v", o.err)
	}
	if h := fault.Hints(o.err); len(h) == 0 || !strings.Contains(h[0], "klrbac oauth login demo") {
		t.Errorf("hints %q", h)
	}
}

func TestLoginWrongVerifier(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	l := r.login()
	l.Timeout = time.Second
	done := run(context.Background(), l)
	// Someone swaps the challenge on the way to the consent page: the code is then bound to a
	// verifier this login does not hold.
	au, _ := url.Parse(r.nextURL())
	q := au.Query()
	q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()))
	au.RawQuery = q.Encode()
	deliver(t, http.MethodGet, r.consent(au.String(), true), "")
	o := r.wait(done)
	if o.err == nil || !strings.Contains(o.err.Error(), "Code challenge failed") {
		t.Errorf("wrong verifier: %v", o.err)
	}
}

func TestLoginWrongClientSecret(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	l := r.login()
	l.ClientSecret = secretOf("not-the-client-secret-0123456789")
	done := run(context.Background(), l)
	deliver(t, http.MethodGet, r.consent(r.nextURL(), true), "")
	o := r.wait(done)
	var re *RefusedError
	if !errors.As(o.err, &re) || !re.Client() || fault.KindOf(o.err) != fault.Unavailable {
		t.Fatalf("wrong client secret: %v", o.err)
	}
	if h := strings.Join(fault.Hints(o.err), "\n"); !strings.Contains(h, "klrbac oauth set-secret demo") {
		t.Errorf("hints: %s", h)
	}
	if strings.Contains(o.err.Error(), "not-the-client-secret") {
		t.Error("the error shows the client secret")
	}
}

func TestLoginTimeout(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	l := r.login()
	l.Timeout = 150 * time.Millisecond
	o := r.wait(run(context.Background(), l))
	if o.err == nil || o.err.Error() != "no answer from the browser within 150ms" || fault.KindOf(o.err) != fault.Unavailable {
		t.Errorf("timeout: %v", o.err)
	}
	if c, err := net.DialTimeout("tcp", r.ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the callback listener outlived the timeout")
	}
}

func TestLoginInterrupted(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := run(ctx, r.login())
	r.nextURL()
	cancel()
	if o := r.wait(done); !errors.Is(o.err, context.Canceled) {
		t.Errorf("interrupted login: %v", o.err)
	}
}

func TestLoginPortInUse(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	l := r.login()
	l.Listen = nil // the real one: the rig's listener holds the port
	port := strconv.Itoa(r.ln.Addr().(*net.TCPAddr).Port)
	o := r.wait(run(context.Background(), l))
	if o.err == nil || !strings.Contains(o.err.Error(), "port "+port+" is already in use") || fault.KindOf(o.err) != fault.Unavailable {
		t.Fatalf("port in use: %v", o.err)
	}
	hints := strings.Join(fault.Hints(o.err), "\n")
	for _, want := range []string{"sport = :" + port, "--manual", "another `klrbac oauth login`"} {
		if !strings.Contains(hints, want) {
			t.Errorf("hints lack %q:\n%s", want, hints)
		}
	}
	select {
	case <-r.urls:
		t.Error("the browser was opened although nothing could receive its answer")
	default:
	}
}

func TestLoginRefusesOtherHosts(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	done := run(context.Background(), r.login())
	redirect := r.consent(r.nextURL(), true)
	port := redirect.Port()
	for _, host := range []string{"attacker.example:" + port, "attacker.example", "127.0.0.1:1", "10.0.0.1:" + port} {
		page := deliver(t, http.MethodGet, redirect, host)
		if page.status != http.StatusBadRequest || !strings.Contains(page.body, "Wrong host") {
			t.Errorf("Host %s: %d %s", host, page.status, page.body)
		}
	}
	// The login is still waiting: a loopback name for the same port completes it.
	if page := deliver(t, http.MethodGet, redirect, "localhost:"+port); page.status != 200 {
		t.Errorf("Host localhost: %d %s", page.status, page.body)
	}
	if o := r.wait(done); o.err != nil {
		t.Fatal(o.err)
	}
	if !strings.Contains(r.saidAll(), "possible DNS rebinding") {
		t.Errorf("the refused host was not reported:\n%s", r.saidAll())
	}
}

func TestLoginAnswersOnlyTheCallback(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	done := run(context.Background(), r.login())
	redirect := r.consent(r.nextURL(), true)
	for _, path := range []string{"/favicon.ico", "/", "/callback/x", "/CALLBACK"} {
		u := *redirect
		u.Path, u.RawQuery = path, ""
		if page := deliver(t, http.MethodGet, &u, ""); page.status != http.StatusNotFound || page.header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %d", path, page.status)
		}
	}
	if page := deliver(t, http.MethodPost, redirect, ""); page.status != http.StatusMethodNotAllowed {
		t.Errorf("POST to the callback: %d", page.status)
	}
	if page := deliver(t, http.MethodGet, withQuery(redirect, "code", ""), ""); page.status != http.StatusBadRequest {
		t.Errorf("no code: %d", page.status)
	}
	dup := *redirect
	dup.RawQuery += "&code=second"
	if page := deliver(t, http.MethodGet, &dup, ""); page.status != http.StatusBadRequest || !strings.Contains(page.body, "Malformed") {
		t.Errorf("two codes: %d %s", page.status, page.body)
	}
	deliver(t, http.MethodGet, redirect, "")
	if o := r.wait(done); o.err != nil {
		t.Fatal(o.err)
	}
}

// gatedTransport holds token requests until released, and records the codes they exchange.
type gatedTransport struct {
	release chan struct{}
	mu      sync.Mutex
	codes   []string
}

func (g *gatedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	form, _ := url.ParseQuery(string(body))
	g.mu.Lock()
	g.codes = append(g.codes, form.Get("code"))
	g.mu.Unlock()
	<-g.release
	req.Body = io.NopCloser(bytes.NewReader(body))
	return http.DefaultTransport.RoundTrip(req)
}

func TestLoginTakesTheFirstCallbackOnly(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	l := r.login()
	gate := &gatedTransport{release: make(chan struct{})}
	l.HTTPClient = &http.Client{Transport: gate}
	done := run(context.Background(), l)
	authURL := r.nextURL()
	first, second := r.consent(authURL, true), r.consent(authURL, true)
	pages := make(chan callbackPage, 1)
	go func() { pages <- deliver(t, http.MethodGet, first, "") }()
	// Once the first is being exchanged, a second answer with the same state is turned away.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		gate.mu.Lock()
		n := len(gate.codes)
		gate.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first callback never reached the token endpoint")
		}
	}
	if page := deliver(t, http.MethodGet, second, ""); page.status != http.StatusConflict || !strings.Contains(page.body, "already received") {
		t.Errorf("second callback: %d %s", page.status, page.body)
	}
	close(gate.release)
	if page := <-pages; page.status != 200 {
		t.Errorf("first callback's page: %d", page.status)
	}
	if o := r.wait(done); o.err != nil {
		t.Fatal(o.err)
	}
	if !slices.Equal(gate.codes, []string{first.Query().Get("code")}) {
		t.Errorf("exchanged %d codes; want the first callback's only", len(gate.codes))
	}
}

// TestLoginWaitsPastARefusedCode: a callback with the login's state but a code Klaviyo refuses (a
// local process that read the state from the printed URL) does not end the login; the browser's
// genuine answer, arriving later, completes it.
func TestLoginWaitsPastARefusedCode(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	var failed []error
	l := r.login()
	l.Failed = func(_ context.Context, err error) { failed = append(failed, err) }
	done := run(context.Background(), l)
	genuine := r.consent(r.nextURL(), true)
	for _, bogus := range []string{"bogus", strings.Repeat("a", 40), genuine.Query().Get("code") + "x"} {
		page := deliver(t, http.MethodGet, withQuery(genuine, "code", bogus), "")
		if page.status != http.StatusBadRequest || !strings.Contains(page.body, "still waiting") {
			t.Fatalf("bogus code %q: %d %s", bogus, page.status, page.body)
		}
	}
	if page := deliver(t, http.MethodGet, genuine, ""); page.status != http.StatusOK || !strings.Contains(page.body, `data-ok="true"`) {
		t.Fatalf("genuine callback after bogus ones: %d %s", page.status, page.body)
	}
	o := r.wait(done)
	if o.err != nil || o.res == nil {
		t.Fatalf("login: %v", o.err)
	}
	if len(r.saved) != 1 || len(failed) != 0 {
		t.Fatalf("saved %d token sets, told of %d failures", len(r.saved), len(failed))
	}
	if said := r.saidAll(); strings.Count(said, "Klaviyo refused the code of a callback") != 3 {
		t.Errorf("the refused codes were not each reported:\n%s", said)
	}
	r.checkNoSecrets("what the login said", r.saidAll())
}

// narrowingTransport drops a scope from the token endpoint's answer, as Klaviyo may grant less
// than asked.
type narrowingTransport struct{ drop string }

func (n narrowingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || resp.StatusCode != 200 {
		return resp, err
	}
	var doc map[string]any
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_ = json.Unmarshal(body, &doc)
	doc["scope"] = strings.Join(slices.DeleteFunc(strings.Fields(doc["scope"].(string)), func(s string) bool { return s == n.drop }), " ")
	body, _ = json.Marshal(doc)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

func TestLoginReportsNarrowerGrant(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	l := r.login()
	l.HTTPClient = &http.Client{Transport: narrowingTransport{drop: "profiles:read"}}
	done := run(context.Background(), l)
	deliver(t, http.MethodGet, r.consent(r.nextURL(), true), "")
	o := r.wait(done)
	if o.err != nil {
		t.Fatal(o.err)
	}
	if !slices.Equal(o.res.Granted, []string{"accounts:read"}) || !slices.Equal(o.res.Missing, []string{"profiles:read"}) || o.res.Token.Scope != "accounts:read" {
		t.Errorf("granted %v, missing %v, scope %q", o.res.Granted, o.res.Missing, o.res.Token.Scope)
	}
}

func TestLoginManual(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	l := r.login()
	l.Listen = func(string, string) (net.Listener, error) {
		t.Error("manual mode listened")
		return nil, errors.New("no listener in manual mode")
	}
	l.Open = nil
	in, paste := io.Pipe()
	l.Manual = in
	done := run(context.Background(), l)
	var authURL string
	for deadline := time.Now().Add(10 * time.Second); authURL == ""; time.Sleep(5 * time.Millisecond) {
		for _, f := range strings.Fields(r.saidAll()) {
			if strings.HasPrefix(f, r.base+"/oauth/authorize?") {
				authURL = f
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no authorize URL printed:\n%s", r.saidAll())
		}
	}
	redirect := r.consent(authURL, true)
	other := *redirect
	other.Host = "127.0.0.1:1"
	for _, line := range []string{"", "something else", other.String(), withQuery(redirect, "state", "another-login").String(),
		"  " + redirect.String() + "  "} {
		if _, err := io.WriteString(paste, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	o := r.wait(done)
	if o.err != nil {
		t.Fatal(o.err)
	}
	said := r.saidAll()
	for _, want := range []string{"the pasted URL is not the redirect URI", "not a redirect address: it carries no code, error or state", "answers another login", "will not load"} {
		if !strings.Contains(said, want) {
			t.Errorf("manual mode did not say %q:\n%s", want, said)
		}
	}
	r.checkNoSecrets("what manual mode said", said)
	if len(r.saved) != 1 {
		t.Errorf("saved %d token sets", len(r.saved))
	}
	_ = paste.Close()

	// The query string alone will do; the end of input without an answer is a usage error.
	l = r.login()
	l.Open, l.Manual = nil, strings.NewReader("")
	l.Listen = nil
	if o := r.wait(run(context.Background(), l)); fault.KindOf(o.err) != fault.Usage || !strings.Contains(o.err.Error(), "no redirect URL was pasted") {
		t.Errorf("nothing pasted: %v", o.err)
	}
}

func TestLoginManualQueryOnlyAndDenial(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for _, allow := range []bool{true, false} {
		l := r.login()
		l.Open = nil
		in, paste := io.Pipe()
		l.Manual = in
		done := run(context.Background(), l)
		var authURL string
		for deadline := time.Now().Add(10 * time.Second); authURL == ""; time.Sleep(5 * time.Millisecond) {
			r.mu.Lock()
			for _, s := range r.said {
				for _, f := range strings.Fields(s) {
					if strings.HasPrefix(f, r.base+"/oauth/authorize?") {
						authURL = f
					}
				}
			}
			r.said = nil
			r.mu.Unlock()
			if time.Now().After(deadline) {
				t.Fatal("no authorize URL printed")
			}
		}
		redirect := r.consent(authURL, allow)
		go func() { _, _ = io.WriteString(paste, "?"+redirect.RawQuery+"\n") }()
		o := r.wait(done)
		switch {
		case allow && o.err != nil:
			t.Errorf("query pasted alone: %v", o.err)
		case !allow && !errors.Is(o.err, ErrDenied):
			t.Errorf("denial pasted: %v", o.err)
		}
		_ = paste.Close()
	}
}

func TestLoginListensOnLocalhost(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	l := r.login()
	port := r.ln.Addr().(*net.TCPAddr).Port
	l.App.RedirectURI = "http://localhost:" + strconv.Itoa(port) + "/callback"
	var asked []string
	l.Listen = func(network, addr string) (net.Listener, error) {
		asked = append(asked, addr)
		if addr == r.ln.Addr().String() {
			return r.ln, nil
		}
		return nil, listenFailure(addr, syscall.EADDRNOTAVAIL) // a machine without IPv6
	}
	l.Timeout = 50 * time.Millisecond
	r.wait(run(context.Background(), l))
	if !slices.Equal(asked, []string{"127.0.0.1:" + strconv.Itoa(port), "[::1]:" + strconv.Itoa(port)}) {
		t.Errorf("listened on %v", asked)
	}
}

func TestLoginChecksItsInputs(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for name, mod := range map[string]func(*Login){
		"no client id": func(l *Login) { l.App.ClientID = "" },
		"no scopes":    func(l *Login) { l.App.Scopes = nil },
		"remote host":  func(l *Login) { l.App.RedirectURI = "http://example.com:8765/callback" },
	} {
		l := r.login()
		mod(l)
		_, err := l.Run(context.Background())
		if k := fault.KindOf(err); k != fault.Config && k != fault.Usage {
			t.Errorf("%s: %v (kind %v)", name, err, k)
		}
	}
}

// A token set that cannot be kept (its record or its storage failed) must not leave a grant behind
// at Klaviyo that nobody holds: the login revokes it, even when interrupted, and says so.
func TestLoginRevokesTokensItCannotKeep(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		interrupt bool
	}{{"save fails", false}, {"interrupted while saving", true}} {
		r := newRig(t)
		ctx, cancel := context.WithCancel(context.Background())
		l := r.login()
		var issued secrets.TokenSet
		saveErr := errors.New("refusing to oauth.login without an audit record")
		l.Save = func(ctx context.Context, t *secrets.TokenSet) error {
			issued = *t
			if c.interrupt {
				cancel()
				return ctx.Err()
			}
			return saveErr
		}
		var abandoned []Change
		l.Abandoned = func(_ context.Context, c Change, err error) {
			if err != nil {
				t.Errorf("%s: the revocation failed: %v", c.Action, err)
			}
			abandoned = append(abandoned, c)
		}
		revokedBefore := r.srv.Stats().Count("POST /oauth/revoke", 200)
		done := run(ctx, l)
		page := deliver(t, http.MethodGet, r.consent(r.nextURL(), true), "")
		o := r.wait(done)
		cancel()
		switch {
		case c.interrupt && !errors.Is(o.err, context.Canceled):
			t.Errorf("%s: %v", c.name, o.err)
		case !c.interrupt && !errors.Is(o.err, saveErr):
			t.Errorf("%s: %v, want the Save error", c.name, o.err)
		}
		if issued.RefreshToken.IsZero() {
			t.Fatalf("%s: Save saw no refresh token", c.name)
		}
		if got := r.srv.Stats().Count("POST /oauth/revoke", 200) - revokedBefore; got != 1 {
			t.Errorf("%s: %d revocations, want 1", c.name, got)
		}
		if r.refreshWith(issued.RefreshToken) != http.StatusBadRequest {
			t.Errorf("%s: Klaviyo still honours the refresh token of the login that failed", c.name)
		}
		if len(abandoned) != 1 || abandoned[0].Action != ActionRevoke || abandoned[0].Fingerprint != issued.RefreshToken.Fingerprint() ||
			abandoned[0].Endpoint != "POST /oauth/revoke" {
			t.Errorf("%s: told of the revocation as %+v", c.name, abandoned)
		}
		said := r.saidAll()
		if !strings.Contains(said, "revoked their grant at Klaviyo (refresh token "+issued.RefreshToken.Masked()+" (fingerprint "+issued.RefreshToken.Fingerprint()+"))") {
			t.Errorf("%s: the revocation was not reported:\n%s", c.name, said)
		}
		if strings.Contains(page.body, `data-ok="true"`) {
			t.Errorf("%s: the browser was told the login worked", c.name)
		}
		r.checkNoSecrets("what the login said", said)
	}
}

// When the revocation fails too, the person is told the grant is still active, and the login's
// own error is what it returns.
func TestLoginReportsAGrantItCouldNotRevoke(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	l := r.login()
	l.Endpoints.RevokeURL = "http://127.0.0.1:1/oauth/revoke"
	saveErr := errors.New("the keyring is locked")
	l.Save = func(context.Context, *secrets.TokenSet) error { return saveErr }
	var revokeErr error
	l.Abandoned = func(_ context.Context, _ Change, err error) { revokeErr = err }
	done := run(context.Background(), l)
	deliver(t, http.MethodGet, r.consent(r.nextURL(), true), "")
	if o := r.wait(done); !errors.Is(o.err, saveErr) {
		t.Errorf("login: %v, want the Save error", o.err)
	}
	if revokeErr == nil {
		t.Error("the failed revocation was reported as done")
	}
	said := r.saidAll()
	for _, want := range []string{"klrbac: warning: could not keep the tokens Klaviyo issued, nor revoke their grant", "cannot reach Klaviyo's revocation endpoint",
		"hint: the grant stays active at Klaviyo"} {
		if !strings.Contains(said, want) {
			t.Errorf("the failed revocation: no %q in\n%s", want, said)
		}
	}
	r.checkNoSecrets("what the login said", said)
}

// listenFailure is the error net.Listen returns when bind fails with errno.
func listenFailure(addr string, errno syscall.Errno) error {
	return &net.OpError{Op: "listen", Net: "tcp", Addr: &net.TCPAddr{}, Err: os.NewSyscallError("bind", errno)}
}

// A browser may resolve localhost to [::1]: whatever holds the port there would receive the code.
// Only a machine without IPv6 lets the login go on with 127.0.0.1 alone.
func TestLoginLocalhostNeedsThePortOnIPv6Too(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		errno   syscall.Errno
		refused string // "" when the login goes on
	}{
		{syscall.EADDRINUSE, "cannot receive the OAuth callback on [::1]:PORT: port PORT is already in use"},
		{syscall.EACCES, "cannot receive the OAuth callback on [::1]:PORT: permission denied"},
		{syscall.EAFNOSUPPORT, ""},
		{syscall.EADDRNOTAVAIL, ""},
	} {
		r := newRig(t)
		port := strconv.Itoa(r.ln.Addr().(*net.TCPAddr).Port)
		l := r.login()
		l.App.RedirectURI = "http://localhost:" + port + "/callback"
		l.Listen = func(network, addr string) (net.Listener, error) {
			if addr == r.ln.Addr().String() {
				return r.ln, nil
			}
			return nil, listenFailure(addr, c.errno)
		}
		l.Timeout = 50 * time.Millisecond
		o := r.wait(run(context.Background(), l))
		if c.refused == "" {
			if o.err == nil || !strings.Contains(o.err.Error(), "no answer from the browser") {
				t.Errorf("%v on [::1]: %v, want the login to wait on 127.0.0.1", c.errno, o.err)
			}
			continue
		}
		want := strings.ReplaceAll(c.refused, "PORT", port)
		if o.err == nil || o.err.Error() != want || fault.KindOf(o.err) != fault.Unavailable {
			t.Errorf("%v on [::1]: %v, want %q", c.errno, o.err, want)
		}
		select {
		case <-r.urls:
			t.Errorf("%v on [::1]: the browser was opened", c.errno)
		default:
		}
		if conn, err := net.DialTimeout("tcp", r.ln.Addr().String(), time.Second); err == nil {
			conn.Close()
			t.Errorf("%v on [::1]: the 127.0.0.1 listener was left open", c.errno)
		}
	}
}

// The same with real sockets: another process on [::1] and the login's port.
func TestLoginLocalhostRefusesABusyIPv6Port(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	port := strconv.Itoa(r.ln.Addr().(*net.TCPAddr).Port)
	other, err := net.Listen("tcp", net.JoinHostPort("::1", port))
	if err != nil {
		t.Skipf("no IPv6 loopback to hold [::1]:%s on (%v); TestLoginLocalhostNeedsThePortOnIPv6Too covers the logic", port, err)
	}
	defer other.Close()
	l := r.login()
	l.App.RedirectURI = "http://localhost:" + port + "/callback"
	l.Listen = func(network, addr string) (net.Listener, error) {
		if addr == r.ln.Addr().String() {
			return r.ln, nil
		}
		return net.Listen(network, addr)
	}
	l.Timeout = 2 * time.Second
	o := r.wait(run(context.Background(), l))
	if o.err == nil || o.err.Error() != "cannot receive the OAuth callback on [::1]:"+port+": port "+port+" is already in use" {
		t.Fatalf("[::1]:%s in use: %v", port, o.err)
	}
	if hints := strings.Join(fault.Hints(o.err), "\n"); !strings.Contains(hints, "localhost") || !strings.Contains(hints, "sport = :"+port) {
		t.Errorf("hints:\n%s", hints)
	}
}

// A browser that cannot be opened leaves the printed URL to open by hand: the person is told the
// login is still waiting, and for how long.
func TestLoginWaitsWhenNoBrowserOpens(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	l := r.login()
	l.Open = func(string) error { return errors.New("xdg-open: not found") }
	l.Timeout = 50 * time.Millisecond
	r.wait(run(context.Background(), l))
	said := r.saidAll()
	failed := strings.Index(said, "klrbac: could not open a browser (xdg-open: not found): open the URL above yourself")
	waiting := strings.Index(said, "Waiting for the authorization (up to 50ms; Ctrl-C stops)...")
	if failed < 0 || waiting < failed {
		t.Errorf("after a browser failed to open:\n%s", said)
	}
}
