package sandbox_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/sandbox"
)

// TestFixedWindows checks the burst (1 s) and steady (60 s) windows of an XS operation, the
// RateLimit headers, and Klaviyo's 429.
func TestFixedWindows(t *testing.T) {
	clk := newClock() // 12:00:00.5
	_, base := start(t, nil, sandbox.Options{Now: clk.Now})
	get := func() answer { return call(t, base, request{path: "/api/accounts", key: adminKey}) }

	a := get()
	if a.status != 200 || a.header.Get("RateLimit-Limit") != "15" || a.header.Get("RateLimit-Remaining") != "14" || a.header.Get("RateLimit-Reset") != "60" {
		t.Fatalf("first call: %d %v", a.status, a.header)
	}
	a = get()
	if a.status != 429 || a.header.Get("Retry-After") != "1" || a.header.Get("RateLimit-Limit") != "" {
		t.Fatalf("second call in the same second: %d %v", a.status, a.header)
	}
	e := a.errorObject(t)
	if e["code"] != "throttled" || e["title"] != "Request was throttled." || e["detail"] != "Request was throttled. Expected available in 1 second." {
		t.Errorf("429 body: %s", a.body)
	}
	// The window is fixed: half a second later is the next second.
	clk.Advance(500 * time.Millisecond)
	if a := get(); a.status != 200 || a.header.Get("RateLimit-Remaining") != "13" {
		t.Fatalf("next second: %d %v", a.status, a.header)
	}
	for i := 3; i <= 15; i++ {
		clk.Advance(time.Second)
		if a := get(); a.status != 200 {
			t.Fatalf("call %d: %d", i, a.status)
		}
	}
	// 12:00:14: the minute's 15 are spent; the next window opens at 12:01:00.
	clk.Advance(time.Second)
	a = get()
	if a.status != 429 || a.header.Get("Retry-After") != "45" || !strings.Contains(a.body, "Expected available in 45 seconds.") {
		t.Fatalf("16th call in a minute: %d %v %s", a.status, a.header, a.body)
	}
	clk.Advance(45 * time.Second)
	if a := get(); a.status != 200 || a.header.Get("RateLimit-Remaining") != "14" {
		t.Fatalf("next minute: %d %v", a.status, a.header)
	}
}

// TestQuotas: keys of one account share its quota per tier; tiers, accounts and OAuth apps have
// their own.
func TestQuotas(t *testing.T) {
	clk := newClock()
	f, err := sandbox.ParseFixture("two.yaml", []byte(`
accounts:
  - id: ACME01
    keys:
      - {name: a, key: pk_000000000000000000000000000000000a, scopes: [full]}
      - {name: b, key: pk_000000000000000000000000000000000b, scopes: [full]}
  - id: ACME02
    keys:
      - {name: c, key: pk_000000000000000000000000000000000c, scopes: [full]}
`))
	if err != nil {
		t.Fatal(err)
	}
	_, base := start(t, f, sandbox.Options{Now: clk.Now})
	if a := call(t, base, request{path: "/api/accounts", key: "pk_000000000000000000000000000000000a"}); a.status != 200 {
		t.Fatalf("a: %d", a.status)
	}
	if a := call(t, base, request{path: "/api/accounts", key: "pk_000000000000000000000000000000000b"}); a.status != 429 {
		t.Errorf("b, same account, same second: %d, want 429", a.status)
	}
	if a := call(t, base, request{path: "/api/webhooks", key: "pk_000000000000000000000000000000000b"}); a.status != 429 {
		t.Errorf("b, another XS operation: %d, want 429 (the tier's quota is shared)", a.status)
	}
	if a := call(t, base, request{path: "/api/profiles", key: "pk_000000000000000000000000000000000b"}); a.status != 200 {
		t.Errorf("b, another tier: %d, want 200", a.status)
	}
	if a := call(t, base, request{path: "/api/accounts", key: "pk_000000000000000000000000000000000c"}); a.status != 200 {
		t.Errorf("c, another account: %d, want 200", a.status)
	}
}

// TestRateLimitsOff counts but never throttles, for benchmarks.
func TestRateLimitsOff(t *testing.T) {
	f := sandbox.DemoFixture()
	f.RateLimits = false
	_, base := start(t, f, sandbox.Options{Now: newClock().Now})
	for i := range 20 {
		a := call(t, base, request{path: "/api/accounts", key: adminKey})
		if a.status != 200 {
			t.Fatalf("call %d: %d", i, a.status)
		}
		if i == 19 && a.header.Get("RateLimit-Remaining") != "0" {
			t.Errorf("RateLimit-Remaining after 20 of 15: %q", a.header.Get("RateLimit-Remaining"))
		}
	}
}

func TestFaults(t *testing.T) {
	srv, base := start(t, nil, sandbox.Options{})
	get := func() answer { return call(t, base, request{path: "/api/profiles", key: viewerKey}) }

	srv.SetFaults(0, sandbox.Faults{EdgeBlock: 1})
	a := get()
	if a.status != 403 || a.header.Get("cf-mitigated") != "challenge" || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") || !strings.Contains(a.body, "<html") {
		t.Errorf("edge block: %d %v", a.status, a.header)
	}

	// Fractions are spread evenly: 0.5 hits every second call.
	srv.SetFaults(0, sandbox.Faults{Unavailable: 0.5})
	var got []int
	for range 4 {
		got = append(got, get().status)
	}
	if want := []int{200, 503, 200, 503}; !equalInts(got, want) {
		t.Errorf("unavailable 0.5: %v, want %v", got, want)
	}

	srv.SetFaults(0, sandbox.Faults{Throttle: 1, NoRetryAfter: true})
	a = get()
	if a.status != 429 || a.header.Get("Retry-After") != "" || !strings.Contains(a.body, "Expected available in 1 second.") {
		t.Errorf("throttle without Retry-After: %d %v %s", a.status, a.header, a.body)
	}
	// A forced 429 still comes after the scope check.
	if a := call(t, base, request{path: "/api/accounts", key: viewerKey}); a.status != 403 {
		t.Errorf("throttle fault on a missing scope: %d, want 403", a.status)
	}

	srv.SetFaults(0, sandbox.Faults{AcceptWrites: true})
	if a := call(t, base, request{method: "PATCH", path: "/api/profiles/nosuch", key: serviceKey, body: "{}"}); a.status != 202 {
		t.Errorf("accept writes: %d %s, want 202", a.status, a.body)
	}
	if a := call(t, base, request{method: "DELETE", path: "/api/lists/nosuch", key: serviceKey}); a.status != 403 {
		t.Errorf("accept writes still checks scopes: %d, want 403", a.status)
	}

	srv.SetFaults(150*time.Millisecond, sandbox.Faults{})
	begin := time.Now()
	if a := get(); a.status != 200 {
		t.Errorf("latency: %d", a.status)
	}
	if d := time.Since(begin); d < 150*time.Millisecond {
		t.Errorf("latency 150ms answered in %s", d)
	}

	srv.SetFaults(0, sandbox.Faults{Reset: 1})
	req, _ := http.NewRequest("GET", base+"/api/profiles", nil)
	req.Header.Set("Authorization", "Klaviyo-API-Key "+viewerKey)
	req.Header.Set("revision", revision)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Fatalf("reset: got %d, want a connection error", resp.StatusCode)
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "EOF") {
		t.Errorf("reset: %v", err)
	}
	if n := srv.Stats().Statuses["reset"]; n == 0 {
		t.Error("stats do not count the reset")
	}
}

func equalInts(a, b []int) bool {
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
