package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/sandbox"
)

// Keys of the sandbox's built-in demo account.
const (
	adminKey   = "pk_aca7bfb2d9ad79ac7d242973a9ed4d4343"
	viewerKey  = "pk_2cfe4e666cee9366c8d0c7eaf2911a6936"
	serviceKey = "pk_DEMO01_132f828851b0025ba948e24a7f4a5b173a"
	revision   = "2026-07-15"
)

// roleKeys are the role key variables the proxies under test see: developer has none.
var roleKeys = map[string]string{
	"KLAVIYO_KEY_ADMIN":    adminKey,
	"KLAVIYO_KEY_VIEWER":   viewerKey,
	"KLAVIYO_KEY_SERVICE":  serviceKey,
	"KLAVIYO_KEY_MARKETER": "pk_1f27a0dd7963c673f8e616855a10b0dde9",
}

var roleKeysMu sync.Mutex

func getRoleKey(name string) string {
	roleKeysMu.Lock()
	defer roleKeysMu.Unlock()
	return roleKeys[name]
}

func setRoleKey(name, value string) {
	roleKeysMu.Lock()
	defer roleKeysMu.Unlock()
	if value == "" {
		delete(roleKeys, name)
	} else {
		roleKeys[name] = value
	}
}

const baseConfig = `keyring:
  backend: "off"
users:
  alice: viewer
  dana: admin
  sam: service
  dev: developer
`

// rig is a proxy in front of the sandbox, with everything it writes kept for inspection.
type rig struct {
	t        *testing.T
	dir      string
	cfgFile  string
	loader   Loader
	sandbox  *sandbox.Server
	upstream *httptest.Server
	seen     chan *http.Request // requests that reached the sandbox
	srv      *Server
	commit   *audit.GroupCommit
	trail    *audit.Trail
	tokens   *Tokens
	file     *TokenFile
	metrics  *Metrics
	front    *httptest.Server
	logBuf   *syncBuffer
	logger   *slog.Logger
	auditLog string
	clock    *fakeClock
	secrets  []string // every token issued, for canary scans
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newRig(t *testing.T, extraConfig string) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), seen: make(chan *http.Request, 100), logBuf: &syncBuffer{}}
	r.clock = &fakeClock{t: time.Now().UTC()}
	r.cfgFile = filepath.Join(r.dir, "klrbac.yaml")
	r.writeConfig(baseConfig + extraConfig)
	r.loader = Loader{Config: config.Options{File: r.cfgFile}, Getenv: getRoleKey}
	settings, _, err := r.loader.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.sandbox = sandbox.New(nil, sandbox.Options{})
	r.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case r.seen <- req.Clone(context.Background()):
		default:
		}
		r.sandbox.ServeHTTP(w, req)
	}))
	t.Cleanup(r.upstream.Close)
	up, _ := url.Parse(r.upstream.URL)
	r.file, _ = OpenTokenFile(filepath.Join(r.dir, "state", "proxy-tokens"), r.clock.Now)
	if r.tokens, err = NewTokens(context.Background(), r.file); err != nil {
		t.Fatal(err)
	}
	r.auditLog = filepath.Join(r.dir, "state", "audit.log")
	log, err := audit.Open(r.auditLog, audit.Options{Actor: "proxy-test"})
	if err != nil {
		t.Fatal(err)
	}
	r.logger = slog.New(slog.NewJSONHandler(r.logBuf, nil))
	r.commit = audit.NewGroupCommit(log, 0)
	r.trail = NewTrail(r.commit, "proxy-test", settings.Rules, r.logger)
	r.metrics = NewMetrics(func() float64 { return float64(r.commit.Depth()) })
	r.srv = New(Options{Upstream: up, Tokens: r.tokens, Trail: r.trail, Log: r.logger, Metrics: r.metrics, Now: r.clock.Now}, settings)
	r.front = httptest.NewServer(Routes(r.srv, r.metrics, r.trail, r.tokens))
	t.Cleanup(func() {
		r.front.Close()
		r.trail.Wait()
		_ = r.commit.Close()
	})
	return r
}

func (r *rig) writeConfig(s string) {
	r.t.Helper()
	// Replace, as editors and config management do, so a watcher sees one complete file.
	tmp := r.cfgFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, r.cfgFile); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) token(user string, ttl time.Duration) (string, Token) {
	r.t.Helper()
	secret, tok, err := r.file.Create(context.Background(), user, "", ttl)
	if err != nil {
		r.t.Fatal(err)
	}
	r.secrets = append(r.secrets, secret)
	if err := r.tokens.refresh(context.Background(), false); err != nil {
		r.t.Fatal(err)
	}
	return secret, tok
}

// answer is a response as a caller sees it.
type answer struct {
	status int
	header http.Header
	body   string
	errors []apiError
}

func (r *rig) call(method, path, token string, body string, header ...string) answer {
	r.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.front.URL+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("revision", revision)
	req.Header.Set("Accept", "application/vnd.api+json")
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.api+json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Klaviyo-API-Key "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	var doc struct {
		Errors []apiError `json:"errors"`
	}
	if json.Unmarshal(b, &doc) == nil {
		a.errors = doc.Errors
	}
	return a
}

// forwarded returns the requests that reached Klaviyo since the last call, without waiting.
func (r *rig) forwarded() []*http.Request {
	var out []*http.Request
	for {
		select {
		case req := <-r.seen:
			out = append(out, req)
		default:
			return out
		}
	}
}

// entries reads the audit log.
func (r *rig) entries() []audit.Entry {
	r.t.Helper()
	data, err := os.ReadFile(r.auditLog)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		r.t.Fatal(err)
	}
	var out []audit.Entry
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		e, err := audit.ParseLine(line)
		if err != nil {
			r.t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

func (r *rig) lastEntry() audit.Entry {
	r.t.Helper()
	es := r.entries()
	if len(es) == 0 {
		r.t.Fatal("no audit entries")
	}
	return es[len(es)-1]
}
