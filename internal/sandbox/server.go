// Package sandbox is a local stand-in for Klaviyo's API, built from klrbac's catalog of Klaviyo's
// published OpenAPI spec. It answers every stable operation and the beta ones the catalog knows as
// Klaviyo does on the points klrbac relies on: authentication, scopes, rate limits per account and
// tier, JSON:API documents and errors with Klaviyo's codes and texts, the beta api-keys listing, and
// the OAuth authorization-code flow with PKCE. It can inject faults (latency, 503s, edge blocks,
// connection resets, 429s without Retry-After, writes that succeed). It holds no real data: lists
// are empty and unknown ids are 404s.
package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klrbac/klrbac/internal/mask"
)

// Options tune a Server; the zero value serves real time, silently.
type Options struct {
	// Now is the sandbox's clock: rate-limit windows, code and token expiry. Tests move it.
	Now func() time.Time
	// Logf, when set, receives one line per request (method, path, masked credential, status).
	Logf func(format string, args ...any)
	// Issued, when set, is told every OAuth secret the sandbox hands out or receives: authorization
	// codes, access and refresh tokens, and PKCE code verifiers. Tests use it to look for them in
	// what klrbac prints and writes.
	Issued func(kind, value string)
}

// Server is a running (or ready to run) sandbox. It is an http.Handler, so it can also be mounted
// in an httptest.Server.
type Server struct {
	now    func() time.Time
	logf   func(format string, args ...any)
	issued func(kind, value string)

	fixture  *Fixture
	started  time.Time            // when New made the server, by its clock: a key's created unless the fixture says
	keys     map[string]*keyState // by secret
	accounts map[string]*Account
	clients  map[string]*clientState // by client id
	enforce  bool                    // answer 429 when a limit is exceeded

	faults atomic.Pointer[faultState]

	limitsMu sync.Mutex
	limits   map[quotaKey]*window

	oauthMu sync.Mutex
	pending map[string]*pendingAuth
	codes   map[string]*authCode
	access  map[string]*accessToken
	refresh map[string]*grant

	stats *statsCollector

	httpServer *http.Server
	listener   net.Listener
	url        string
}

type keyState struct {
	account *Account
	key     Key
	scopes  map[string]bool
}

type clientState struct {
	account *Account
	client  OAuthClient
}

// New returns a sandbox serving fixture f (nil: the built-in demo).
func New(f *Fixture, opts Options) *Server {
	if f == nil {
		f = DemoFixture()
	}
	s := &Server{
		now: opts.Now, logf: opts.Logf, issued: opts.Issued, fixture: f, enforce: f.RateLimits,
		keys: map[string]*keyState{}, accounts: map[string]*Account{}, clients: map[string]*clientState{},
		limits:  map[quotaKey]*window{},
		pending: map[string]*pendingAuth{}, codes: map[string]*authCode{},
		access: map[string]*accessToken{}, refresh: map[string]*grant{},
		stats: newStatsCollector(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.started = s.now()
	for i := range f.Accounts {
		a := &f.Accounts[i]
		s.accounts[a.ID] = a
		for _, k := range a.Keys {
			s.keys[k.Secret] = &keyState{account: a, key: k, scopes: scopeSet(k.Granted())}
		}
		for _, c := range a.OAuthClients {
			s.clients[c.ClientID] = &clientState{account: a, client: c}
		}
	}
	s.SetFaults(f.Latency, f.Faults)
	return s
}

// Fixture returns what the sandbox serves. Callers must not modify it.
func (s *Server) Fixture() *Fixture { return s.fixture }

// Start listens on addr (host:port; port 0 picks a free one) and serves in the background until
// Shutdown or Close. The error of a failed listen is returned as is, so callers can tell
// syscall.EADDRINUSE.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.listener = ln
	s.url = "http://" + ln.Addr().String()
	s.httpServer = &http.Server{
		Handler: s,
		// Clients that hang up mid-request are part of the tests; they are not worth a log line.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	configure(s.httpServer)
	go func() { _ = s.httpServer.Serve(newLimitListener(ln, maxConns)) }()
	return nil
}

// URL is the base URL the sandbox serves, once started: both the API URL and the auth URL.
func (s *Server) URL() string { return s.url }

// Shutdown stops accepting connections and waits for requests in flight, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.httpServer == nil {
		return nil
	}
	return s.httpServer.Shutdown(ctx)
}

// Close stops the sandbox at once.
func (s *Server) Close() error {
	if s.httpServer == nil {
		return nil
	}
	return s.httpServer.Close()
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/client/"):
		s.serveAPI(w, r)
	case strings.HasPrefix(r.URL.Path, "/oauth/"):
		s.serveOAuth(w, r)
	case r.URL.Path == "/_sandbox/stats":
		s.serveStats(w, r)
	case r.URL.Path == "/_sandbox/health":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	case r.URL.Path == "/":
		s.serveIndex(w, r)
	default:
		rec := s.record(w, "", "")
		writeError(rec, http.StatusNotFound, "not_found", "Not found.", "Not found.", "")
		rec.done()
	}
}

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var b strings.Builder
	b.WriteString("klrbac sandbox: a local stand-in for Klaviyo's API\n\n")
	b.WriteString("  /api/...            Klaviyo's API operations (private keys and OAuth access tokens)\n")
	b.WriteString("  /oauth/authorize    OAuth consent page\n")
	b.WriteString("  /oauth/token        OAuth token endpoint\n")
	b.WriteString("  /oauth/revoke       OAuth revocation endpoint\n")
	b.WriteString("  /_sandbox/stats     request counts per operation and status\n")
	_, _ = io.WriteString(w, b.String())
}

func scopeSet(scopes []string) map[string]bool {
	m := make(map[string]bool, len(scopes))
	for _, s := range scopes {
		m[s] = true
	}
	return m
}

// randomToken returns n random bytes, hex encoded: codes, tokens and ids.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// uuid4 is a random UUID, for JSON:API error ids.
func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Mask shows a fixture secret the way listings print it: pk_****a1b2.
func Mask(secret string) string { return mask.Secret(secret) }
