package oauthflow

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestLoopbackAttacksRefused replays, against one login, the attacks an outside review made on the
// loopback callback server: each is turned away with a page that is not a success, the login goes
// on waiting, and the browser's genuine answer, last, completes it with the one token set saved.
// An explicit error= with the right state is no attack: it ends a login by design, so it is not
// here.
func TestLoopbackAttacksRefused(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	done := run(context.Background(), r.login())
	genuine := r.consent(r.nextURL(), true)
	state, code := genuine.Query().Get("state"), genuine.Query().Get("code")
	port := genuine.Port()
	// Another login's code, issued to the same client, under this login's state.
	other := r.consent(r.otherAuthorizeURL(t), true).Query().Get("code")
	if other == "" || other == code {
		t.Fatalf("a second authorization gave code %q", other)
	}

	raw := func(query string) *url.URL { u := *genuine; u.RawQuery = query; return &u }
	path := func(p string) *url.URL { u := *genuine; u.Path, u.RawPath = p, ""; return &u }
	rawPath := func(p string) *url.URL { u := *genuine; u.RawPath = p; u.Path, _ = url.PathUnescape(p); return &u }
	type attack struct {
		name   string
		method string
		u      *url.URL
		host   string
		status int
	}
	q := func(kv ...string) *url.URL {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return raw(v.Encode())
	}
	attacks := []attack{
		{"wrong state", "GET", q("code", code, "state", "x"+state[1:]), "", 400},
		{"state missing", "GET", q("code", code), "", 400},
		{"state empty", "GET", q("code", code, "state", ""), "", 400},
		{"state truncated", "GET", q("code", code, "state", state[:len(state)-1]), "", 400},
		{"state extended", "GET", q("code", code, "state", state+"A"), "", 400},
		{"state upper-cased", "GET", q("code", code, "state", strings.ToUpper(state)), "", 400},
		{"state repeated", "GET", q("code", code, "state", state, "state", state), "", 400},
		{"state repeated, one wrong", "GET", q("code", code, "state", "x", "state", state), "", 400},
		{"code repeated", "GET", q("code", code, "code", code, "state", state), "", 400},
		{"two different codes", "GET", q("code", "bogus", "code", code, "state", state), "", 400},
		{"code and error", "GET", q("code", code, "error", "access_denied", "state", state), "", 400},
		{"neither code nor error", "GET", q("state", state), "", 400},
		{"empty code", "GET", q("code", "", "state", state), "", 400},
		{"code too long", "GET", q("code", strings.Repeat("c", maxCode+1), "state", state), "", 400},
		{"state too long", "GET", q("code", code, "state", strings.Repeat("s", maxState+1)), "", 400},
		{"error too long", "GET", q("error", strings.Repeat("e", maxErrorCode+1), "state", state), "", 400},
		{"description too long", "GET", q("error", "access_denied", "error_description", strings.Repeat("d", maxDescription+1), "state", state), "", 400},
		{"control character in code", "GET", q("code", "ab\x1b[2Jcd", "state", state), "", 400},
		{"newline in code", "GET", q("code", "ab\ncd", "state", state), "", 400},
		{"non-ASCII in code", "GET", q("code", "cödé", "state", state), "", 400},
		{"space in state", "GET", q("code", code, "state", state[:5]+" "+state[5:]), "", 400},
		{"malformed escape", "GET", raw("code=%zz&state=" + state), "", 400},
		{"error with wrong state", "GET", q("error", "access_denied", "state", "nope"), "", 400},
		{"error without state", "GET", q("error", "access_denied"), "", 400},
		{"bogus code with the state", "GET", q("code", "bogus", "state", state), "", 400},
		{"another login's code with the state", "GET", q("code", other, "state", state), "", 400},
		{"the code altered by one character", "GET", q("code", code[:len(code)-1]+"x", "state", state), "", 400},
		{"POST", "POST", genuine, "", 405},
		{"PUT", "PUT", genuine, "", 405},
		{"DELETE", "DELETE", genuine, "", 405},
		{"OPTIONS", "OPTIONS", genuine, "", 405},
		{"root path", "GET", path("/"), "", 404},
		{"path with a trailing slash", "GET", path("/callback/"), "", 404},
		{"path upper-cased", "GET", path("/CALLBACK"), "", 404},
		{"path below the callback", "GET", path("/callback/x"), "", 404},
		{"escaped path", "GET", rawPath("/%63allback"), "", 404},
		{"dot segment", "GET", rawPath("/x/%2E%2E/callback"), "", 404},
		{"favicon", "GET", path("/favicon.ico"), "", 404},
		{"other host, same port", "GET", genuine, "attacker.example:" + port, 400},
		{"other host, no port", "GET", genuine, "attacker.example", 400},
		{"loopback lookalike", "GET", genuine, "127.0.0.1.attacker.example:" + port, 400},
		{"localhost lookalike", "GET", genuine, "localhost.attacker.example:" + port, 400},
		{"loopback, other port", "GET", genuine, "127.0.0.1:1", 400},
		{"loopback, no port", "GET", genuine, "127.0.0.1", 400},
		{"private address", "GET", genuine, "10.0.0.1:" + port, 400},
		{"IPv6 loopback, other port", "GET", genuine, "[::1]:1", 400},
	}
	for _, a := range attacks {
		page := deliver(t, a.method, a.u, a.host)
		if page.status != a.status || strings.Contains(page.body, `data-ok="true"`) {
			t.Errorf("%s: %d (want %d)", a.name, page.status, a.status)
		}
		select {
		case o := <-done:
			t.Fatalf("%s ended the login: %v", a.name, o.err)
		default:
		}
	}
	// Connections that never finish their request, or send headers beyond any callback's, are cut
	// off without ending the login either.
	if resp := oversizedHeaders(t, genuine); resp != "" && strings.Contains(resp, " 200 ") {
		t.Errorf("oversized headers: %s", resp)
	}
	if page := deliver(t, http.MethodGet, genuine, ""); page.status != http.StatusOK || !strings.Contains(page.body, `data-ok="true"`) {
		t.Fatalf("the genuine callback after %d attacks: %d %s", len(attacks), page.status, page.body)
	}
	if o := r.wait(done); o.err != nil {
		t.Fatal(o.err)
	}
	r.mu.Lock()
	saved := len(r.saved)
	r.mu.Unlock()
	if saved != 1 {
		t.Fatalf("%d token sets saved", saved)
	}
	t.Logf("%d loopback attacks refused, and oversized headers", len(attacks))
	r.checkNoSecrets("what the login said", r.saidAll())
}

// otherAuthorizeURL starts a second authorization at the sandbox for the same client and redirect
// URI, with a state of its own, and returns its authorize URL.
func (r *rig) otherAuthorizeURL(t *testing.T) string {
	t.Helper()
	cfg := oauth2Config(demoClientID, secretOf(demoSecret), EndpointsFor(r.base, r.base), r.redirect, []string{"accounts:read"})
	return cfg.AuthCodeURL("another-login-state", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
}

// oversizedHeaders sends a request whose headers exceed what the callback server reads, and returns
// its status line ("" when the server just closed the connection).
func oversizedHeaders(t *testing.T, u *url.URL) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nX-Filler: %s\r\n\r\n", u.RequestURI(), u.Host, strings.Repeat("f", 1<<20))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return line
}
