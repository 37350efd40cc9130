package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/sandbox"
)

// Keys of the built-in demo fixture.
const (
	adminKey    = "pk_aca7bfb2d9ad79ac7d242973a9ed4d4343"
	marketerKey = "pk_1f27a0dd7963c673f8e616855a10b0dde9"
	viewerKey   = "pk_2cfe4e666cee9366c8d0c7eaf2911a6936"
	serviceKey  = "pk_DEMO01_132f828851b0025ba948e24a7f4a5b173a"
	disabledKey = "pk_5cbd0a6e3e6e6ce4bf1beca6c1d18baf50"
	clientID    = "klrbac-demo-client"
	secret      = "f84aae6dcfcdac58a15ec4b3e420232276"
	redirectURI = "http://127.0.0.1:8765/callback"
	revision    = "2026-07-15"
)

// clock is a sandbox clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	// Half a second into a minute, so windows are easy to reason about.
	return &clock{now: time.Date(2026, 7, 20, 12, 0, 0, 500_000_000, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// start serves f (nil: the demo) over a real loopback connection.
func start(t *testing.T, f *sandbox.Fixture, opts sandbox.Options) (*sandbox.Server, string) {
	t.Helper()
	srv := sandbox.New(f, opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, ts.URL
}

// answer is a response with its body read.
type answer struct {
	status int
	header http.Header
	body   string
}

// errorCode returns the code of the first JSON:API error, or "".
func (a answer) errorCode() string {
	var doc struct {
		Errors []struct {
			Code   string `json:"code"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	if json.Unmarshal([]byte(a.body), &doc) != nil || len(doc.Errors) == 0 {
		return ""
	}
	return doc.Errors[0].Code
}

func (a answer) errorObject(t *testing.T) map[string]any {
	t.Helper()
	var doc struct {
		Errors []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal([]byte(a.body), &doc); err != nil || len(doc.Errors) != 1 {
		t.Fatalf("not a JSON:API error document with one error: %s", a.body)
	}
	return doc.Errors[0]
}

// request is one call to the sandbox's API.
type request struct {
	method, path, key, revision, body string
	header                            map[string]string
}

func call(t *testing.T, base string, r request) answer {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, base+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.key != "" {
		if strings.HasPrefix(r.key, "pk_") {
			req.Header.Set("Authorization", "Klaviyo-API-Key "+r.key)
		} else {
			req.Header.Set("Authorization", "Bearer "+r.key)
		}
	}
	if r.revision == "" {
		r.revision = revision
	}
	if r.revision != "-" {
		req.Header.Set("revision", r.revision)
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/vnd.api+json")
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

var noRedirects = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
