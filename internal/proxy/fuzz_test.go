package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/config"
)

// memoryStore keeps entries in memory, for tests where fsync is not the point.
type memoryStore struct {
	mu    sync.Mutex
	chain *audit.Chain
}

func (m *memoryStore) AppendAll(_ context.Context, entries []audit.Entry) ([]audit.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.chain == nil {
		m.chain = audit.NewChain()
	}
	out := make([]audit.Entry, len(entries))
	for i, e := range entries {
		_, out[i] = m.chain.Next(nil, e)
	}
	return out, nil
}

func (m *memoryStore) Ready(context.Context) error              { return nil }
func (m *memoryStore) Head(context.Context) (audit.Head, error) { return audit.Head{}, nil }
func (m *memoryStore) Where() string                            { return "memory" }

// recordingUpstream stands in for Klaviyo: it keeps what it was sent and answers 200.
type recordingUpstream struct {
	mu   sync.Mutex
	sent []*http.Request
}

func (u *recordingUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	u.mu.Lock()
	u.sent = append(u.sent, r)
	u.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/vnd.api+json"}},
		Body: io.NopCloser(strings.NewReader(`{"data":[]}`)), Request: r}, nil
}

// FuzzRequest sends arbitrary methods, paths, queries and headers through the pipeline: nothing
// panics, no answer carries a key or token, and whatever reaches Klaviyo is a catalog operation the
// viewer's scopes cover, carrying the viewer's key and none of the caller's credentials.
func FuzzRequest(f *testing.F) {
	f.Add("GET", "/api/profiles", "page[size]=5", "X-Test", "1", true)
	f.Add("POST", "/api/profiles", "", "Cookie", "a=b", true)
	f.Add("GET", "/api/profiles/x/../../accounts", "", "Authorization", "Bearer x", true)
	f.Add("GET", "/api/profiles", "include=push-tokens", "X-Forwarded-For", "1.2.3.4", true)
	f.Add("get", "/api/profiles//", "include=a&include=b", "Connection", "Authorization", false)
	f.Add("DELETE", "/api/lists/1/relationships/profiles", "%zz", "Upgrade", "websocket", true)
	dir := f.TempDir()
	file, _ := OpenTokenFile(filepath.Join(dir, "tokens"), nil)
	tok, _, err := file.Create(context.Background(), "alice", "", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	tokens, _ := NewTokens(context.Background(), file)
	cfgFile := filepath.Join(dir, "klrbac.yaml")
	writeFile(f, cfgFile, baseConfig)
	settings, _, err := Loader{Config: config.Options{File: cfgFile}, Getenv: getRoleKey}.Load(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	viewer, _ := settings.Policy.Role("viewer")
	have := settings.Policy.RequiredScopes(viewer)
	f.Fuzz(func(t *testing.T, method, path, query, hname, hvalue string, withToken bool) {
		up := &recordingUpstream{}
		srv := New(Options{Upstream: &url.URL{Scheme: "http", Host: "klaviyo.invalid"}, Tokens: tokens, Trail: NewTrail(&memoryStore{}, "fuzz", nil, nil), Transport: up}, settings)
		req := &http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: query}, Header: http.Header{},
			RemoteAddr: "127.0.0.1:40000", Body: http.NoBody, Host: "proxy.test"}
		req = req.WithContext(context.Background())
		if hname != "" {
			req.Header[http.CanonicalHeaderKey(hname)] = []string{hvalue}
		}
		if withToken {
			req.Header.Set("Authorization", "Klaviyo-API-Key "+tok)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		body := rec.Body.String()
		for _, secret := range append([]string{tok}, mapValues(roleKeys)...) {
			if strings.Contains(body, secret) || strings.Contains(strings.Join(flatten(rec.Header()), "\n"), secret) {
				t.Fatal("an answer carries a key or token")
			}
		}
		for _, out := range up.sent {
			if got := out.Header.Get("Authorization"); got != "Klaviyo-API-Key "+viewerKey {
				t.Fatalf("forwarded with Authorization of %d bytes, not the viewer's key", len(got))
			}
			for _, h := range []string{"Cookie", "Proxy-Authorization", "X-Forwarded-For", "Upgrade"} {
				if out.Header.Get(h) != "" {
					t.Fatalf("forwarded the caller's %s", h)
				}
			}
			if strings.Contains(strings.Join(flatten(out.Header), "\n"), tok) {
				t.Fatal("the caller's token reached Klaviyo")
			}
			op, ok := catalog.Find(out.Method, out.URL.Path)
			if !ok || op.PublicKey || out.Method != op.Method {
				t.Fatalf("forwarded %s %s, which is no private-key operation", out.Method, out.URL.Path)
			}
			for _, s := range op.Scopes {
				if !slices.Contains(have, s) {
					t.Fatalf("forwarded %s %s, which needs %s the viewer lacks", out.Method, out.URL.Path, s)
				}
			}
			if out.URL.Path != path {
				t.Fatalf("decided on %q but forwarded %q", path, out.URL.Path)
			}
		}
	})
}

func mapValues(m map[string]string) []string {
	roleKeysMu.Lock()
	defer roleKeysMu.Unlock()
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func flatten(h http.Header) []string {
	var out []string
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, k+": "+v)
		}
	}
	return out
}

func writeFile(tb testing.TB, path, s string) {
	tb.Helper()
	if err := writeFileAtomic(path, []byte(s)); err != nil {
		tb.Fatal(err)
	}
}
