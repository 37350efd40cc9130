package oauthflow

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/klrbac/klrbac/internal/sandbox"
	"github.com/klrbac/klrbac/internal/secrets"
)

// The built-in demo fixture's OAuth client.
const (
	demoClientID = "klrbac-demo-client"
	demoSecret   = "f84aae6dcfcdac58a15ec4b3e420232276"
)

// clock is the shared clock of a test's sandbox and flow: it starts at the real time and moves on
// with it, plus whatever a test skips ahead.
type clock struct {
	mu   sync.Mutex
	skip time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skip)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skip += d
}

// rig is a sandbox with an OAuth client registered for a loopback redirect URI of the test's own,
// whose port is held open from the start so that tests can run in parallel.
type rig struct {
	t        *testing.T
	srv      *sandbox.Server
	base     string
	clock    *clock
	ln       net.Listener
	redirect string
	// urls receives each authorize URL the login would open in a browser.
	urls chan string

	mu     sync.Mutex
	said   []string
	saved  []secrets.TokenSet
	issued map[string][]string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, clock: &clock{}, ln: ln, redirect: "http://" + ln.Addr().String() + "/callback",
		urls: make(chan string, 4), issued: map[string][]string{}}
	fx := sandbox.DemoFixture()
	fx.Accounts[0].OAuthClients[0].RedirectURIs = []string{r.redirect}
	r.srv = sandbox.New(fx, sandbox.Options{Now: r.clock.Now, Issued: func(kind, v string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.issued[kind] = append(r.issued[kind], v)
	}})
	ts := httptest.NewServer(r.srv)
	t.Cleanup(ts.Close)
	t.Cleanup(func() { _ = ln.Close() })
	r.base = ts.URL
	return r
}

// login returns a login of the demo client against the rig's sandbox, listening on the rig's port
// and "opening" the authorize URL by handing it to r.urls.
func (r *rig) login() *Login {
	return &Login{
		App:          App{Name: "demo", ClientID: demoClientID, RedirectURI: r.redirect, Scopes: []string{"accounts:read", "profiles:read"}},
		ClientSecret: secrets.NewSecret(demoSecret),
		Endpoints:    EndpointsFor(r.base, r.base),
		Now:          r.clock.Now,
		Listen: func(network, addr string) (net.Listener, error) {
			if addr != r.ln.Addr().String() {
				return nil, fmt.Errorf("the login listened on %s, not on the redirect URI's %s", addr, r.ln.Addr())
			}
			return r.ln, nil
		},
		Open:    func(u string) error { r.urls <- u; return nil },
		Say:     func(msg string) { r.mu.Lock(); r.said = append(r.said, msg); r.mu.Unlock() },
		Timeout: 20 * time.Second,
		Save: func(_ context.Context, t *secrets.TokenSet) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.saved = append(r.saved, *t)
			return nil
		},
	}
}

// run starts l in the background; the result arrives on the returned channel.
func run(ctx context.Context, l *Login) <-chan outcome {
	done := make(chan outcome, 1)
	go func() {
		res, err := l.Run(ctx)
		done <- outcome{res, err}
	}()
	return done
}

type outcome struct {
	res *Result
	err error
}

func (r *rig) wait(done <-chan outcome) outcome {
	r.t.Helper()
	select {
	case o := <-done:
		return o
	case <-time.After(30 * time.Second):
		r.t.Fatal("the login did not end")
		return outcome{}
	}
}

// nextURL is the authorize URL the login "opened".
func (r *rig) nextURL() string {
	r.t.Helper()
	select {
	case u := <-r.urls:
		return u
	case <-time.After(10 * time.Second):
		r.t.Fatal("the login opened no browser")
		return ""
	}
}

// consent answers the consent page of authorizeURL and returns the redirect, not yet delivered.
func (r *rig) consent(authorizeURL string, allow bool) *url.URL {
	r.t.Helper()
	loc, err := sandbox.Consent(context.Background(), nil, authorizeURL, allow)
	if err != nil {
		r.t.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		r.t.Fatal(err)
	}
	return u
}

// page is what the browser got from klrbac's callback server.
type callbackPage struct {
	status int
	header http.Header
	body   string
}

// deliver sends the browser to u, as the sandbox's redirect does; host, when set, replaces the Host
// header (a DNS-rebinding page would send its own name).
func deliver(t *testing.T, method string, u *url.URL, host string) callbackPage {
	t.Helper()
	req, err := http.NewRequest(method, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("delivering %s: %v", u.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return callbackPage{resp.StatusCode, resp.Header, string(b)}
}

// withQuery returns u with one query parameter changed.
func withQuery(u *url.URL, key, value string) *url.URL {
	c := *u
	q := c.Query()
	q.Set(key, value)
	c.RawQuery = q.Encode()
	return &c
}

func (r *rig) saidAll() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.said, "\n")
}

// memKeyring is a keyring in memory, for the keeper's tests.
type memKeyring struct {
	mu    sync.Mutex
	items map[string]string
	fail  error
}

func (m *memKeyring) Get(service, user string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return "", m.fail
	}
	v, ok := m.items[service+"/"+user]
	if !ok {
		return "", keyring.ErrNotFound
	}
	return v, nil
}

func (m *memKeyring) Set(service, user, password string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.items == nil {
		m.items = map[string]string{}
	}
	m.items[service+"/"+user] = password
	return nil
}

func (m *memKeyring) Delete(service, user string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.items[service+"/"+user]; !ok {
		return keyring.ErrNotFound
	}
	delete(m.items, service+"/"+user)
	return nil
}

func secretOf(s string) secrets.Secret { return secrets.NewSecret(s) }
