package klaviyo_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/sandbox"
)

// clock is a clock shared by a sandbox and a client: the client's sleeps move it, so retries and
// pacing run in no real time and the sandbox's windows see exactly the waits.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 7, 20, 12, 0, 0, 500_000_000, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.slept = append(c.slept, d)
	return nil
}

func (c *clock) sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for _, d := range c.slept {
		if d > 0 {
			out = append(out, d)
		}
	}
	return out
}

// env is a sandbox and a client on the same fake clock.
type env struct {
	t      *testing.T
	srv    *sandbox.Server
	url    string
	clk    *clock
	client *klaviyo.Client
}

func newEnv(t *testing.T, f *sandbox.Fixture, opts klaviyo.Options) *env {
	t.Helper()
	clk := newClock()
	srv := sandbox.New(f, sandbox.Options{Now: clk.Now})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	opts.APIURL = ts.URL
	if opts.Sleep == nil {
		opts.Sleep = clk.Sleep
	}
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	if opts.Jitter == nil {
		opts.Jitter = func() float64 { return 0.5 }
	}
	return &env{t: t, srv: srv, url: ts.URL, clk: clk, client: klaviyo.New(opts)}
}

func (e *env) do(req klaviyo.Request) (*klaviyo.Response, error) {
	return e.client.Do(context.Background(), req)
}

func get(path, key string) klaviyo.Request {
	return klaviyo.Request{Method: "GET", Path: path, Credential: klaviyo.PrivateKey(key)}
}

// stub is a server that answers from a script of responses, recording the requests.
type stub struct {
	mu       sync.Mutex
	answers  []func(http.ResponseWriter)
	requests []*http.Request
	bodies   []string
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, r)
	s.bodies = append(s.bodies, string(body))
	i := len(s.requests) - 1
	answer := s.answers[min(i, len(s.answers)-1)]
	s.mu.Unlock()
	answer(w)
}

func (s *stub) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func respond(status int, header map[string]string, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for k, v := range header {
			w.Header()[k] = []string{v} // as given: no canonicalisation of the name
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func newStub(t *testing.T, opts klaviyo.Options, answers ...func(http.ResponseWriter)) (*stub, *klaviyo.Client, *clock) {
	t.Helper()
	s := &stub{answers: answers}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	clk := newClock()
	opts.APIURL = ts.URL
	if opts.Sleep == nil {
		opts.Sleep = clk.Sleep
	}
	opts.Now = clk.Now
	if opts.Jitter == nil {
		opts.Jitter = func() float64 { return 0.5 }
	}
	return s, klaviyo.New(opts), clk
}

func TestRequestHeaders(t *testing.T) {
	s, c, _ := newStub(t, klaviyo.Options{Revision: "2026-07-15", UserAgent: "klrbac/1.2.3"},
		respond(200, map[string]string{"Content-Type": klaviyo.MediaType}, `{"data":[]}`))
	ctx := context.Background()
	q := url.Values{"page[size]": {"1"}, "fields[profile]": {"id"}}
	if _, err := c.Do(ctx, klaviyo.Request{Path: "/api/profiles", Query: q, Credential: klaviyo.PrivateKey(adminKey)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, klaviyo.Request{Method: "PATCH", Path: "/api/profiles/x", Body: []byte("{}"), Credential: klaviyo.BearerToken("tok-123")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, klaviyo.Request{Path: "/api/api-keys", Credential: klaviyo.PrivateKey(adminKey)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, klaviyo.Request{Path: "/api/campaigns", Beta: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, klaviyo.Request{Path: "/api/campaigns?filter=equals(messages.channel,'email')&page[size]=1", Query: url.Values{"fields[campaign]": {"id"}}}); err != nil {
		t.Fatal(err)
	}
	r := s.requests
	for name, got := range map[string]string{
		"GET auth":          r[0].Header.Get("Authorization"),
		"GET revision":      r[0].Header.Get("revision"),
		"GET accept":        r[0].Header.Get("Accept"),
		"GET user agent":    r[0].Header.Get("User-Agent"),
		"GET content type":  r[0].Header.Get("Content-Type"),
		"GET query":         r[0].URL.RawQuery,
		"PATCH auth":        r[1].Header.Get("Authorization"),
		"PATCH content":     r[1].Header.Get("Content-Type"),
		"PATCH body":        s.bodies[1],
		"beta-only op":      r[2].Header.Get("revision"),
		"beta request":      r[3].Header.Get("revision"),
		"no credential":     r[3].Header.Get("Authorization"),
		"PATCH method/path": r[1].Method + " " + r[1].URL.Path,
		"query in path":     r[4].URL.Path + " " + r[4].URL.Query().Get("filter") + " " + r[4].URL.Query().Get("page[size]") + " " + r[4].URL.Query().Get("fields[campaign]"),
	} {
		want := map[string]string{
			"GET auth":          "Klaviyo-API-Key " + adminKey,
			"GET revision":      "2026-07-15",
			"GET accept":        "application/vnd.api+json",
			"GET user agent":    "klrbac/1.2.3",
			"GET content type":  "",
			"GET query":         "fields[profile]=id&page[size]=1",
			"PATCH auth":        "Bearer tok-123",
			"PATCH content":     "application/vnd.api+json",
			"PATCH body":        "{}",
			"beta-only op":      "2026-07-15.pre",
			"beta request":      "2026-07-15.pre",
			"no credential":     "",
			"PATCH method/path": "PATCH /api/profiles/x",
			"query in path":     "/api/campaigns equals(messages.channel,'email') 1 id",
		}[name]
		if got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}

// TestErrorClasses reaches every class of error through the sandbox (or, for Klaviyo's edge's
// HTML 400, a stub), and checks what callers and users see.
func TestErrorClasses(t *testing.T) {
	e := newEnv(t, nil, klaviyo.Options{MaxAttempts: 2})
	cases := []struct {
		name   string
		setup  func()
		req    klaviyo.Request
		class  klaviyo.Class
		status int
		msg    string
	}{
		{"no credential", nil, klaviyo.Request{Path: "/api/profiles"}, klaviyo.NotAuthenticated, 401,
			"GET /api/profiles: not authenticated (HTTP 401 not_authenticated): Missing or invalid authorization scheme. Please use Klaviyo-API-Key"},
		{"unknown key", nil, get("/api/profiles", "pk_"+strings.Repeat("9", 34)), klaviyo.AuthenticationFailed, 401,
			"GET /api/profiles with pk_****9999 sha256:"},
		{"missing scope", nil, get("/api/accounts", viewerKey), klaviyo.PermissionDenied, 403,
			"GET /api/accounts with pk_****6936 sha256:618d6451: permission denied (HTTP 403 permission_denied): You do not have permission to perform this action"},
		{"invalid body", nil, klaviyo.Request{Method: "PATCH", Path: "/api/profiles/x", Body: []byte("{}"), Credential: klaviyo.PrivateKey(adminKey)}, klaviyo.Invalid, 400,
			"invalid request (HTTP 400 invalid): 'data' is a required property"},
		{"unknown id", nil, get("/api/profiles/nosuch", adminKey), klaviyo.NotFound, 404, "not found (HTTP 404 not_found)"},
		{"method", nil, klaviyo.Request{Method: "PUT", Path: "/api/profiles", Credential: klaviyo.PrivateKey(adminKey)}, klaviyo.Unexpected, 405, "unexpected response (HTTP 405 method_not_allowed)"},
		{"edge", func() { e.srv.SetFaults(0, sandbox.Faults{EdgeBlock: 1}) }, get("/api/profiles", viewerKey), klaviyo.EdgeBlocked, 403,
			"blocked by Klaviyo's edge network (HTTP 403): HTTP 403 with cf-mitigated: challenge"},
		{"unavailable", func() { e.srv.SetFaults(0, sandbox.Faults{Unavailable: 1}) }, get("/api/profiles", viewerKey), klaviyo.ServerError, 503,
			"server error (HTTP 503 service_unavailable): Service temporarily unavailable, try again later (after 2 attempts)"},
		{"throttled", func() { e.srv.SetFaults(0, sandbox.Faults{Throttle: 1}) }, get("/api/profiles", viewerKey), klaviyo.Throttled, 429,
			"throttled (HTTP 429 throttled): Request was throttled. Expected available in 1 second (after 2 attempts)"},
		{"reset", func() { e.srv.SetFaults(0, sandbox.Faults{Reset: 1}) }, get("/api/profiles", viewerKey), klaviyo.Transport, 0,
			"transport error: "},
	}
	for _, tc := range cases {
		e.srv.SetFaults(0, sandbox.Faults{})
		if tc.setup != nil {
			tc.setup()
		}
		e.clk.Sleep(context.Background(), 2*time.Second) // a fresh burst window for each case
		resp, err := e.do(tc.req)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !errors.Is(err, tc.class) || klaviyo.ClassOf(err) != tc.class {
			t.Errorf("%s: class %v, want %v (%v)", tc.name, klaviyo.ClassOf(err), tc.class, err)
		}
		for _, other := range []klaviyo.Class{klaviyo.PermissionDenied, klaviyo.EdgeBlocked, klaviyo.NotAuthenticated} {
			if other != tc.class && errors.Is(err, other) {
				t.Errorf("%s: also counts as %v", tc.name, other)
			}
		}
		var ke *klaviyo.Error
		if !errors.As(err, &ke) || ke.Status != tc.status {
			t.Errorf("%s: *klaviyo.Error %+v, want status %d", tc.name, ke, tc.status)
		}
		if fault.KindOf(err) != fault.Unavailable || len(fault.Hints(err)) == 0 {
			t.Errorf("%s: kind %v hints %v, want Unavailable with a hint", tc.name, fault.KindOf(err), fault.Hints(err))
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: message %q, want it to contain %q", tc.name, err.Error(), tc.msg)
		}
		if strings.Contains(err.Error(), viewerKey) || strings.Contains(err.Error(), adminKey) {
			t.Errorf("%s: the message shows a key: %s", tc.name, err)
		}
		if tc.status != 0 && (resp == nil || resp.Status != tc.status) {
			t.Errorf("%s: response %+v, want one with status %d", tc.name, resp, tc.status)
		}
	}

	// Cloudflare's HTML 400 for a malformed Authorization header is an edge block, not Invalid.
	_, c, _ := newStub(t, klaviyo.Options{}, respond(400, map[string]string{"Content-Type": "text/html"}, "<html><body>400 Bad Request</body><hr><center>cloudflare</center></html>"))
	_, err := c.Do(context.Background(), get("/api/profiles", adminKey))
	if !errors.Is(err, klaviyo.EdgeBlocked) || errors.Is(err, klaviyo.Invalid) {
		t.Errorf("HTML 400: %v", err)
	}
	// A JSON 403 that is not permission_denied is not a missing scope.
	_, c, _ = newStub(t, klaviyo.Options{}, respond(403, map[string]string{"Content-Type": klaviyo.MediaType}, `{"errors":[{"status":403,"code":"account_disabled","title":"Account disabled."}]}`))
	_, err = c.Do(context.Background(), get("/api/profiles", adminKey))
	if errors.Is(err, klaviyo.PermissionDenied) || !errors.Is(err, klaviyo.Unexpected) {
		t.Errorf("JSON 403 account_disabled: %v", err)
	}
	// Nor is a permission_denied 403 that comes with cf-mitigated.
	_, c, _ = newStub(t, klaviyo.Options{}, respond(403, map[string]string{"Content-Type": klaviyo.MediaType, "cf-mitigated": "challenge"}, `{"errors":[{"code":"permission_denied"}]}`))
	_, err = c.Do(context.Background(), get("/api/profiles", adminKey))
	if !errors.Is(err, klaviyo.EdgeBlocked) {
		t.Errorf("403 with cf-mitigated: %v", err)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	e := newEnv(t, nil, klaviyo.Options{})
	if _, err := e.do(get("/api/accounts", adminKey)); err != nil {
		t.Fatal(err)
	}
	// The second XS call in a second is throttled; Retry-After says 1 second.
	resp, err := e.do(get("/api/accounts", adminKey))
	if err != nil || resp.Attempts != 2 {
		t.Fatalf("after a 429: %v %+v", err, resp)
	}
	if got := e.clk.sleeps(); len(got) != 1 || got[0] != time.Second {
		t.Errorf("waited %v, want [1s] from Retry-After", got)
	}
	if st := e.srv.Stats(); st.Count("GET /api/accounts", 429) != 1 || st.Count("GET /api/accounts", 200) != 2 {
		t.Errorf("sandbox saw %+v", st.Operations["GET /api/accounts"])
	}
}

func TestRetryAfterHeaderAnyCase(t *testing.T) {
	for _, name := range []string{"Retry-After", "retry-after", "RETRY-AFTER"} {
		_, c, clk := newStub(t, klaviyo.Options{},
			respond(429, map[string]string{name: "7", "Content-Type": klaviyo.MediaType}, `{"errors":[{"status":429,"code":"throttled","detail":"Request was throttled."}]}`),
			respond(200, nil, `{"data":[]}`))
		if _, err := c.Do(context.Background(), get("/api/profiles", adminKey)); err != nil {
			t.Fatal(err)
		}
		if got := clk.sleeps(); len(got) != 1 || got[0] != 7*time.Second {
			t.Errorf("%s: waited %v, want [7s]", name, got)
		}
	}
}

// TestRetryAfterFromDetail: without the header, the wait comes from the detail text.
func TestRetryAfterFromDetail(t *testing.T) {
	f := sandbox.DemoFixture()
	f.Faults.NoRetryAfter = true
	e := newEnv(t, f, klaviyo.Options{})
	for i := range 15 { // spend the minute's 15 XS calls, one per second
		if _, err := e.do(get("/api/accounts", adminKey)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		e.clk.Sleep(context.Background(), time.Second)
	}
	// Now 12:00:15.5: the steady window reopens at 12:01:00, "in 45 seconds".
	e.clk.slept = nil
	resp, err := e.do(get("/api/accounts", adminKey))
	if err != nil || resp.Attempts != 2 {
		t.Fatalf("after a 429 without Retry-After: %v %+v", err, resp)
	}
	if got := e.clk.sleeps(); len(got) != 1 || got[0] != 45*time.Second {
		t.Errorf("waited %v, want [45s] from the detail", got)
	}
}

// TestBackoffWhenNothingSaysHowLong: no header, no usable detail: exponential backoff with jitter.
func TestBackoffWhenNothingSaysHowLong(t *testing.T) {
	throttled := respond(429, map[string]string{"Content-Type": klaviyo.MediaType}, `{"errors":[{"status":429,"code":"throttled","detail":"Request was throttled."}]}`)
	s, c, clk := newStub(t, klaviyo.Options{MaxAttempts: 4, Backoff: klaviyo.Backoff{Base: time.Second, Max: 3 * time.Second}},
		throttled, throttled, throttled, throttled)
	_, err := c.Do(context.Background(), get("/api/profiles", adminKey))
	if !errors.Is(err, klaviyo.Throttled) || s.count() != 4 {
		t.Fatalf("%d sends, %v", s.count(), err)
	}
	// Jitter 0.5: 3/4 of 1s, 2s, then 4s capped at 3s.
	want := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 2250 * time.Millisecond}
	if got := clk.sleeps(); !equalDurations(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	var ke *klaviyo.Error
	if !errors.As(err, &ke) || ke.Attempts != 4 || ke.RetryAfter != 0 {
		t.Errorf("error %+v", ke)
	}
}

func TestBackoffBounds(t *testing.T) {
	b := klaviyo.Backoff{Base: 500 * time.Millisecond, Max: 10 * time.Second}
	for attempt := 1; attempt <= 12; attempt++ {
		full := min(500*time.Millisecond<<(attempt-1), 10*time.Second)
		lo, hi := b.Delay(attempt, 0), b.Delay(attempt, 1)
		if lo != full/2 || hi != full {
			t.Errorf("attempt %d: [%s, %s], want [%s, %s]", attempt, lo, hi, full/2, full)
		}
		for _, j := range []float64{0.1, 0.5, 0.99, -3, 7} {
			if d := b.Delay(attempt, j); d < lo || d > hi {
				t.Errorf("attempt %d jitter %v: %s outside [%s, %s]", attempt, j, d, lo, hi)
			}
		}
	}
	if d := b.Delay(0, 0); d != 250*time.Millisecond {
		t.Errorf("attempt 0: %s", d)
	}
	if d := b.Delay(1000, 1); d != 10*time.Second {
		t.Errorf("attempt 1000: %s", d)
	}
}

// TestWhatIsRetried: 429 always; 503, 504 and 524 for GET only; nothing else.
func TestWhatIsRetried(t *testing.T) {
	body := `{"errors":[{"status":%d,"code":"x","detail":"x"}]}`
	for _, tc := range []struct {
		method string
		status int
		sends  int
	}{
		{"GET", 503, 3}, {"GET", 504, 3}, {"GET", 524, 3}, {"HEAD", 503, 3},
		{"POST", 503, 1}, {"PATCH", 504, 1}, {"DELETE", 524, 1},
		{"GET", 502, 1}, {"GET", 500, 1}, {"GET", 400, 1}, {"GET", 401, 1}, {"GET", 403, 1}, {"GET", 404, 1}, {"GET", 410, 1},
		{"POST", 429, 3},
	} {
		s, c, _ := newStub(t, klaviyo.Options{MaxAttempts: 3},
			respond(tc.status, map[string]string{"Content-Type": klaviyo.MediaType}, strings.Replace(body, "%d", "1", 1)))
		req := get("/api/profiles", adminKey)
		req.Method = tc.method
		_, err := c.Do(context.Background(), req)
		if err == nil || s.count() != tc.sends {
			t.Errorf("%s %d: %d sends (%v), want %d", tc.method, tc.status, s.count(), err, tc.sends)
		}
	}
	// A retried 503 that then succeeds is a success.
	f := sandbox.DemoFixture()
	f.Faults.Unavailable = 0.5
	e := newEnv(t, f, klaviyo.Options{})
	for i := range 4 {
		resp, err := e.do(get("/api/profiles", viewerKey))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		// Every second request is a 503, and its retry the next request: 1, then 2 attempts each.
		if want := min(i+1, 2); resp.Attempts != want {
			t.Errorf("call %d: %d attempts, want %d", i, resp.Attempts, want)
		}
	}
}

func TestTransportErrorsRetriedForGetOnly(t *testing.T) {
	f := sandbox.DemoFixture()
	f.Faults.Reset = 1
	e := newEnv(t, f, klaviyo.Options{MaxAttempts: 3})
	_, err := e.do(get("/api/profiles", viewerKey))
	if !errors.Is(err, klaviyo.Transport) || e.srv.Stats().Statuses["reset"] < 3 {
		t.Errorf("GET over resets: %v, %d resets seen", err, e.srv.Stats().Statuses["reset"])
	}
	e.srv.ResetStats()
	_, err = e.do(klaviyo.Request{Method: "POST", Path: "/api/events", Body: []byte("{}"), Credential: klaviyo.PrivateKey(adminKey)})
	if !errors.Is(err, klaviyo.Transport) || e.srv.Stats().Statuses["reset"] != 1 {
		t.Errorf("POST over a reset: %v, %d resets seen", err, e.srv.Stats().Statuses["reset"])
	}
	var ke *klaviyo.Error
	if errors.As(err, &ke) && ke.Attempts != 1 {
		t.Errorf("POST attempts: %d", ke.Attempts)
	}
}

// TestLongRetryAfterGivesUp: a wait beyond MaxRetryWait ends the call with the 429 at once.
func TestLongRetryAfterGivesUp(t *testing.T) {
	s, c, clk := newStub(t, klaviyo.Options{MaxRetryWait: 10 * time.Second},
		respond(429, map[string]string{"Retry-After": "3600"}, `{"errors":[{"code":"throttled","detail":"Request was throttled. Expected available in 3600 seconds."}]}`))
	_, err := c.Do(context.Background(), get("/api/profiles", adminKey))
	var ke *klaviyo.Error
	if !errors.As(err, &ke) || ke.Class != klaviyo.Throttled || ke.RetryAfter != time.Hour || s.count() != 1 || len(clk.sleeps()) != 0 {
		t.Errorf("%v %+v, %d sends", err, ke, s.count())
	}
}

// TestCancellationStopsAtOnce: a cancelled context ends a retry wait and a pacing wait at once,
// and the error says so (exit 130).
func TestCancellationStopsAtOnce(t *testing.T) {
	s, c, _ := newStub(t, klaviyo.Options{Sleep: nil},
		respond(429, map[string]string{"Retry-After": "30"}, `{"errors":[{"code":"throttled"}]}`))
	_ = s
	// A real sleep this time.
	c = klaviyo.New(klaviyo.Options{APIURL: c.APIURL()})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	begin := time.Now()
	_, err := c.Do(ctx, get("/api/profiles", adminKey))
	if !errors.Is(err, context.Canceled) || time.Since(begin) > 5*time.Second {
		t.Errorf("cancel during Retry-After: %v after %s", err, time.Since(begin))
	}

	// Cancelled while the pacer holds the call back.
	srv := httptest.NewServer(sandbox.New(nil, sandbox.Options{}))
	defer srv.Close()
	c = klaviyo.New(klaviyo.Options{APIURL: srv.URL, Pacer: klaviyo.NewPacer(klaviyo.PacerOptions{})})
	if _, err := c.Do(context.Background(), get("/api/accounts", adminKey)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	begin = time.Now()
	_, err = c.Do(ctx, get("/api/accounts", adminKey)) // the pacer wants a second between XS calls
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(begin) > 500*time.Millisecond {
		t.Errorf("deadline while paced: %v after %s", err, time.Since(begin))
	}
	if fault.KindOf(err) != fault.Unavailable {
		t.Errorf("a deadline is not an interruption: kind %v", fault.KindOf(err))
	}

	// Already cancelled: nothing is sent.
	s2, c2, _ := newStub(t, klaviyo.Options{}, respond(200, nil, "{}"))
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := c2.Do(ctx, get("/api/profiles", adminKey)); !errors.Is(err, context.Canceled) || s2.count() != 0 {
		t.Errorf("cancelled before: %v, %d sends", err, s2.count())
	}
}

func TestDebugOutputShowsNoSecret(t *testing.T) {
	var buf bytes.Buffer
	e := newEnv(t, nil, klaviyo.Options{Debug: &buf})
	e.do(get("/api/profiles", viewerKey))
	e.do(get("/api/accounts", viewerKey))
	e.do(klaviyo.Request{Path: "/api/profiles", Credential: klaviyo.BearerToken("secret-token-0123456789")})
	out := buf.String()
	if !strings.Contains(out, "klaviyo: GET /api/profiles pk_****6936 sha256:") || !strings.Contains(out, ": 403 in ") {
		t.Errorf("debug output:\n%s", out)
	}
	if strings.Contains(out, viewerKey) || strings.Contains(out, "secret-token-0123456789") {
		t.Errorf("debug output shows a secret:\n%s", out)
	}
}

func TestBadAPIURL(t *testing.T) {
	c := klaviyo.New(klaviyo.Options{APIURL: "a.klaviyo.com"})
	_, err := c.Do(context.Background(), get("/api/profiles", adminKey))
	if fault.KindOf(err) != fault.Config || !strings.Contains(err.Error(), "not an http(s) URL") {
		t.Errorf("bad URL: %v", err)
	}
}

// TestRedirectsAreNotFollowed keeps a credential from following a redirect to another host.
func TestRedirectsAreNotFollowed(t *testing.T) {
	other := &stub{answers: []func(http.ResponseWriter){respond(200, nil, "{}")}}
	ots := httptest.NewServer(other)
	defer ots.Close()
	_, c, _ := newStub(t, klaviyo.Options{}, respond(302, map[string]string{"Location": ots.URL + "/steal"}, ""))
	_, err := c.Do(context.Background(), get("/api/profiles", adminKey))
	if !errors.Is(err, klaviyo.Unexpected) || other.count() != 0 {
		t.Errorf("redirect: %v, %d requests reached the other host", err, other.count())
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A base URL's trailing slashes go, so that "https://a.klaviyo.com/" and "https://a.klaviyo.com" are
// one API; surrounding space stays, as the client has always sent to the URL as given.
func TestNormalizeBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://a.klaviyo.com":      "https://a.klaviyo.com",
		"https://a.klaviyo.com/":     "https://a.klaviyo.com",
		"https://a.klaviyo.com//":    "https://a.klaviyo.com",
		"http://127.0.0.1:8080/api/": "http://127.0.0.1:8080/api",
		"https://a.klaviyo.com/ ":    "https://a.klaviyo.com/ ",
		"":                           "",
	} {
		if got := klaviyo.NormalizeBaseURL(in); got != want {
			t.Errorf("NormalizeBaseURL(%q) = %q, want %q", in, got, want)
		}
	}
}
