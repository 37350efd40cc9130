package sandbox_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/sandbox"
)

// TestConsentHelper answers the consent page without a browser, as the flow's tests do, and checks
// that every secret the sandbox hands out or receives is told to Options.Issued.
func TestConsentHelper(t *testing.T) {
	var mu sync.Mutex
	told := map[string][]string{}
	_, base := start(t, nil, sandbox.Options{Issued: func(kind, v string) {
		mu.Lock()
		defer mu.Unlock()
		told[kind] = append(told[kind], v)
	}})
	f := flow{t, base}
	ctx := context.Background()

	loc, err := sandbox.Consent(ctx, nil, f.authorizeURL(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(loc)
	if u.Query().Get("error") != "access_denied" || u.Query().Get("state") != "xyz-state" {
		t.Errorf("deny: redirected to %s", loc)
	}
	loc, err = sandbox.Consent(ctx, nil, f.authorizeURL(nil), true)
	if err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(loc)
	code := u.Query().Get("code")
	if code == "" || u.Query().Get("state") != "xyz-state" || !strings.HasPrefix(loc, redirectURI+"?") {
		t.Fatalf("allow: redirected to %s", loc)
	}
	tok := f.post("/oauth/token", clientID, secret, url.Values{"grant_type": {"authorization_code"},
		"code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirectURI}})
	if tok.status != 200 {
		t.Fatalf("exchange: %+v", tok)
	}
	mu.Lock()
	defer mu.Unlock()
	for kind, v := range map[string]string{"code": code, "code_verifier": verifier, "access_token": tok.AccessToken, "refresh_token": tok.RefreshToken} {
		if !slices.Contains(told[kind], v) {
			t.Errorf("the %s was not told to Options.Issued (told: %v)", kind, told[kind])
		}
	}

	// An unknown client gets an error page, which Consent reports without following anything.
	if _, err := sandbox.Consent(ctx, nil, f.authorizeURL(func(q url.Values) { q.Set("client_id", "nobody") }), true); err == nil ||
		!strings.Contains(err.Error(), "Unknown app") {
		t.Errorf("unknown client: %v", err)
	}
	// A refusal through the redirect URI is returned as is.
	loc, err = sandbox.Consent(ctx, nil, f.authorizeURL(func(q url.Values) { q.Set("scope", "nonsense:read") }), true)
	if err != nil || !strings.Contains(loc, "error=invalid_scope") {
		t.Errorf("bad scope: %q, %v", loc, err)
	}
}

// TestLatencyReachesTheTokenEndpoint checks that added latency slows the token endpoint too, which
// sits on Klaviyo's API host, and not the consent page.
func TestLatencyReachesTheTokenEndpoint(t *testing.T) {
	fx := sandbox.DemoFixture()
	fx.Latency = 150 * time.Millisecond
	_, base := start(t, fx, sandbox.Options{})
	f := flow{t, base}
	began := time.Now()
	if _, err := sandbox.Consent(context.Background(), nil, f.authorizeURL(nil), false); err != nil {
		t.Fatal(err)
	}
	consent := time.Since(began)
	began = time.Now()
	f.post("/oauth/token", clientID, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"unknown"}})
	token := time.Since(began)
	if token < fx.Latency {
		t.Errorf("the token endpoint answered in %s, under the added latency of %s", token, fx.Latency)
	}
	if consent >= 2*fx.Latency {
		t.Errorf("the consent page took %s: latency was added to it", consent)
	}
}

// TestNestedSparseFieldsets keeps one nested attribute, as Klaviyo does for
// fields[account]=contact_information.organization_name.
func TestNestedSparseFieldsets(t *testing.T) {
	_, base := start(t, nil, sandbox.Options{})
	a := call(t, base, request{path: "/api/accounts?fields[account]=contact_information.organization_name,timezone", key: adminKey})
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	for _, want := range []string{`"organization_name":"Demo Company"`, `"timezone":"UTC"`} {
		if !strings.Contains(a.body, want) {
			t.Errorf("missing %s in %s", want, a.body)
		}
	}
	for _, unwanted := range []string{"default_sender_email", "public_api_key", "street_address"} {
		if strings.Contains(a.body, unwanted) {
			t.Errorf("%s was not asked for: %s", unwanted, a.body)
		}
	}
}
