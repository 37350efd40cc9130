package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAllowedCallIsForwardedWithTheRoleKeyAndAudited(t *testing.T) {
	r := newRig(t, "")
	tok, rec := r.token("alice", time.Hour)
	a := r.call("GET", "/api/profiles?page%5Bsize%5D=5", tok, "",
		"Cookie", "session=caller-cookie", "X-Forwarded-For", "203.0.113.9", "Connection", "X-Drop-Me", "X-Drop-Me", "1", "X-Kept", "yes")
	if a.status != 200 {
		t.Fatalf("allowed call: %d %s", a.status, a.body)
	}
	fw := r.forwarded()
	if len(fw) != 1 {
		t.Fatalf("%d requests reached Klaviyo, want 1", len(fw))
	}
	up := fw[0]
	if got := up.Header.Get("Authorization"); got != "Klaviyo-API-Key "+viewerKey {
		t.Errorf("upstream Authorization is not the viewer's key (%d bytes)", len(got))
	}
	for _, h := range []string{"Cookie", "X-Forwarded-For", "X-Drop-Me"} {
		if up.Header.Get(h) != "" {
			t.Errorf("header %s reached Klaviyo", h)
		}
	}
	if up.Header.Get("Revision") != revision || up.Header.Get("X-Kept") != "yes" {
		t.Errorf("revision or an end-to-end header was not passed through: %v", up.Header)
	}
	if up.URL.RawQuery != "page%5Bsize%5D=5" {
		t.Errorf("query forwarded as %q", up.URL.RawQuery)
	}
	if a.header.Get("RateLimit-Limit") == "" {
		t.Errorf("Klaviyo's headers were not passed back: %v", a.header)
	}
	e := r.lastEntry()
	if e.UserID != "alice" || e.Role != "viewer" || e.Action != "GET" || e.Resource != "/api/profiles" || !e.Success ||
		e.KlaviyoEndpoint != "GET /api/profiles" || e.IPAddress != "127.0.0.1" || !strings.Contains(e.Reason, "status 200") ||
		!strings.Contains(e.Reason, rec.ID) || e.Fingerprint == "" {
		t.Errorf("audit entry %+v", e)
	}
}

func TestPipelineRefusals(t *testing.T) {
	r := newRig(t, "")
	alice, _ := r.token("alice", time.Hour)
	dev, _ := r.token("dev", time.Hour)
	mallory, _ := r.token("mallory", time.Hour)
	revoked, revokedRec := r.token("alice", time.Hour)
	expired, _ := r.token("alice", time.Minute)
	if _, err := r.file.Revoke(context.Background(), revokedRec.ID); err != nil {
		t.Fatal(err)
	}
	_ = r.tokens.refresh(context.Background(), false)
	r.clock.t = r.clock.t.Add(2 * time.Minute)

	cases := []struct {
		name, method, path, token, body string
		status                          int
		code, detail                    string
		decision                        string
	}{
		{"no token", "GET", "/api/profiles", "", "", 401, "not_authenticated", "Missing or invalid authorization scheme", "unauthenticated"},
		{"a Klaviyo key", "GET", "/api/profiles", viewerKey, "", 401, "not_authenticated", "Klaviyo private key was sent", "unauthenticated"},
		{"unknown token", "GET", "/api/profiles", TokenPrefix + strings.Repeat("a", 52), "", 401, "not_authenticated", "not known", "unauthenticated"},
		{"revoked", "GET", "/api/profiles", revoked, "", 401, "not_authenticated", "is revoked", "unauthenticated"},
		{"expired", "GET", "/api/profiles", expired, "", 401, "not_authenticated", "is expired", "unauthenticated"},
		{"no role", "GET", "/api/profiles", mallory, "", 401, "not_authenticated", "No Klaviyo role assigned to mallory", "no_role"},
		{"unknown operation", "GET", "/api/nonsense", alice, "", 404, "not_found", "not a Klaviyo API operation", "unknown_operation"},
		{"wrong method", "PUT", "/api/profiles", alice, "", 405, "method_not_allowed", "not allowed", "unknown_operation"},
		{"dot segments", "GET", "/api/profiles/x/../../accounts", alice, "", 404, "not_found", "", "unknown_operation"},
		{"client operation", "POST", "/client/events", alice, `{}`, 404, "not_found", "public key", "unknown_operation"},
		{"denied", "POST", "/api/profiles", alice, `{"data":{"type":"profile","attributes":{}}}`, 403, "permission_denied",
			"Role 'viewer' does not have permission: profiles:write (granted by canWriteProfiles)", "denied"},
		{"denied by include", "GET", "/api/profiles?include=push-tokens", alice, "", 403, "permission_denied",
			"Role 'viewer' does not have permission: push-tokens:read", "denied"},
		{"include not allowed", "GET", "/api/profiles?include=lists", alice, "", 400, "invalid", "cannot include", "invalid"},
		{"include twice", "GET", "/api/profiles?include=a&include=b", alice, "", 400, "invalid", "more than once", "invalid"},
		{"missing key", "GET", "/api/profiles", dev, "", 503, "service_unavailable", "no Klaviyo key for role 'developer'", "unavailable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(r.entries())
			a := r.call(c.method, c.path, c.token, c.body)
			if a.status != c.status || len(a.errors) != 1 || a.errors[0].Code != c.code || !strings.Contains(a.errors[0].Detail, c.detail) {
				t.Fatalf("answer %d %s, want %d %s with %q", a.status, a.body, c.status, c.code, c.detail)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/vnd.api+json" {
				t.Errorf("content type %q", ct)
			}
			if n := len(r.forwarded()); n != 0 {
				t.Fatalf("a refused call reached Klaviyo (%d requests)", n)
			}
			es := r.entries()
			if len(es) != before+1 {
				t.Fatalf("%d audit entries written, want 1", len(es)-before)
			}
			e := es[len(es)-1]
			if e.Success || e.Action != c.method || !strings.Contains(e.Reason, "status "+strconv.Itoa(c.status)) {
				t.Errorf("audit entry %+v", e)
			}
		})
	}
	if !strings.Contains(r.logBuf.String(), "klrbac keys set developer") {
		t.Error("the operator is not told how to give the developer role a key")
	}
}

// Encodings are the caller's business: the proxy asks Klaviyo for none of its own, so it never has
// to decompress what it passes on, and a caller gets the body as Klaviyo sent it.
func TestNoEncodingIsAskedForOnTheCallersBehalf(t *testing.T) {
	r := newRig(t, "")
	tok, _ := r.token("alice", time.Hour)
	req, _ := http.NewRequest("GET", r.front.URL+"/api/profiles", nil)
	req.Header.Set("Authorization", "Klaviyo-API-Key "+tok)
	req.Header.Set("revision", revision)
	// A client that asks for no encoding, unlike Go's default one.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	fw := r.forwarded()
	if resp.StatusCode != 200 || len(fw) != 1 {
		t.Fatalf("%d, %d forwarded", resp.StatusCode, len(fw))
	}
	if got := fw[0].Header.Get("Accept-Encoding"); got != "" {
		t.Errorf("Klaviyo was asked for encoding %q the caller did not ask for", got)
	}
}

func TestBearerTokensWorkAsSDKsSendThem(t *testing.T) {
	r := newRig(t, "")
	tok, _ := r.token("alice", time.Hour)
	a := r.call("GET", "/api/profiles", "", "", "Authorization", "Bearer "+tok)
	if a.status != 200 {
		t.Fatalf("bearer token: %d %s", a.status, a.body)
	}
}

func TestKlaviyoAnswersComeBackUnchanged(t *testing.T) {
	r := newRig(t, "")
	tok, _ := r.token("dana", time.Hour)
	// Klaviyo's own refusal of a bad body passes through as Klaviyo gave it.
	a := r.call("POST", "/api/profiles", tok, `{"data":{"type":"not-a-profile"}}`)
	if a.status != 400 || len(a.errors) != 1 || a.errors[0].Code == "" {
		t.Fatalf("Klaviyo's 400: %d %s", a.status, a.body)
	}
	if e := r.lastEntry(); e.Success || e.Role != "admin" || !strings.Contains(e.Reason, "status 400") {
		t.Errorf("audit entry of a call Klaviyo refused: %+v", e)
	}
	// 429 with Retry-After, from an upstream that throttles.
	throttle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.Header().Set("Content-Type", "application/vnd.api+json")
		w.WriteHeader(429)
		_, _ = io.WriteString(w, `{"errors":[{"status":429,"code":"throttled","detail":"Request was throttled. Expected available in 7 seconds."}]}`)
	}))
	defer throttle.Close()
	r.srv.opts.Upstream.Host = strings.TrimPrefix(throttle.URL, "http://")
	a = r.call("GET", "/api/profiles", tok, "")
	if a.status != 429 || a.header.Get("Retry-After") != "7" || !strings.Contains(a.body, "throttled") {
		t.Fatalf("429: %d %v %s", a.status, a.header, a.body)
	}
}

func TestUnreachableKlaviyoIsA502AndAudited(t *testing.T) {
	r := newRig(t, "")
	tok, _ := r.token("alice", time.Hour)
	r.upstream.Close()
	a := r.call("GET", "/api/profiles", tok, "")
	if a.status != 502 || len(a.errors) != 1 {
		t.Fatalf("unreachable upstream: %d %s", a.status, a.body)
	}
	if e := r.lastEntry(); e.Success || !strings.Contains(e.Reason, "status 502") {
		t.Errorf("audit entry %+v", e)
	}
}

func TestUnauditableCallsAreNotForwarded(t *testing.T) {
	r := newRig(t, "")
	tok, _ := r.token("alice", time.Hour)
	if a := r.call("GET", "/api/profiles", tok, ""); a.status != 200 {
		t.Fatalf("first call: %d", a.status)
	}
	r.forwarded()
	// The audit log becomes a directory: nothing can be appended.
	if err := os.Rename(r.auditLog, r.auditLog+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(r.auditLog, 0o700); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the first call finds out; the second is refused before forwarding
		a := r.call("GET", "/api/profiles", tok, "")
		if a.status != 503 || len(a.errors) != 1 || !strings.Contains(a.errors[0].Detail, "audit") {
			t.Fatalf("unauditable call: %d %s", a.status, a.body)
		}
	}
	if n := len(r.forwarded()); n > 1 {
		t.Fatalf("%d unauditable calls reached Klaviyo", n)
	}
	a := r.call("GET", "/api/nonsense", tok, "")
	if a.status != 503 {
		t.Fatalf("an unauditable refusal: %d %s", a.status, a.body)
	}
	resp, err := http.Get(r.front.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/healthz with a broken audit trail: %d", resp.StatusCode)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	r := newRig(t, "")
	tok, _ := r.token("alice", time.Hour)
	r.call("GET", "/api/profiles", tok, "")
	r.call("POST", "/api/profiles", tok, `{}`)
	resp, err := http.Get(r.front.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
	resp, err = http.Get(r.front.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`klrbac_proxy_requests_total{decision="allowed",role="viewer",status="200"} 1`,
		`klrbac_proxy_requests_total{decision="denied",role="viewer",status="403"} 1`,
		"klrbac_proxy_upstream_seconds_count 1",
		"klrbac_proxy_audit_queue_depth 0",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var lines int
	for _, l := range strings.Split(strings.TrimSpace(r.logBuf.String()), "\n") {
		if strings.Contains(l, `"msg":"call"`) {
			lines++
			if !strings.HasPrefix(l, "{") || !strings.Contains(l, `"role":"viewer"`) {
				t.Errorf("access log line %s", l)
			}
		}
	}
	if lines != 2 {
		t.Errorf("%d access log lines, want 2", lines)
	}
}

func TestForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	r := newRig(t, "")
	tok, _ := r.token("alice", time.Hour)
	r.call("GET", "/api/profiles", tok, "", "X-Forwarded-For", "198.51.100.7")
	if e := r.lastEntry(); e.IPAddress != "127.0.0.1" {
		t.Errorf("untrusted X-Forwarded-For was believed: %s", e.IPAddress)
	}
	r2 := newRig(t, "proxy:\n  trusted_proxies: [127.0.0.0/8, 10.0.0.1]\n")
	tok2, _ := r2.token("alice", time.Hour)
	r2.call("GET", "/api/profiles", tok2, "", "X-Forwarded-For", "198.51.100.7, 10.0.0.1")
	if e := r2.lastEntry(); e.IPAddress != "198.51.100.7" {
		t.Errorf("client behind trusted proxies: %s", e.IPAddress)
	}
}
