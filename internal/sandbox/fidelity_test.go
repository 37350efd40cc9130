package sandbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/sandbox"
)

// manyKeys is an account of n keys named k01..kNN, the first full access, made a day apart.
func manyKeys(t *testing.T, n int, extra string) *sandbox.Fixture {
	t.Helper()
	var b strings.Builder
	b.WriteString(extra + "accounts:\n  - id: MANY01\n    keys:\n")
	for i := 1; i <= n; i++ {
		scopes := "[lists:read]"
		if i == 1 {
			scopes = "[full]"
		}
		fmt.Fprintf(&b, "      - {name: k%02d, key: pk_%034x, scopes: %s, created: 2026-01-%02dT10:00:00Z}\n", i, i, scopes, i)
	}
	f, err := sandbox.ParseFixture("many.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	f.RateLimits = false
	return f
}

type keyPage struct {
	Data []struct {
		Type       string
		ID         string
		Attributes map[string]any
	}
	Links struct {
		Self string
		Next *string
		Prev *string
	}
}

// The key listing pages by links.next, each key with its created time, as the beta spec has it.
func TestKeyListingPages(t *testing.T) {
	f := manyKeys(t, 25, "key_page_size: 10\n")
	_, base := start(t, f, sandbox.Options{})
	next := "/api/api-keys?additional-fields[api-key]=redacted_key"
	var names []string
	for pages := 0; next != ""; pages++ {
		if pages == 5 {
			t.Fatal("the listing does not end")
		}
		a := call(t, base, request{path: next, key: fmt.Sprintf("pk_%034x", 1), revision: "2026-07-15.pre"})
		var p keyPage
		if a.status != 200 || json.Unmarshal([]byte(a.body), &p) != nil {
			t.Fatalf("%s: %d %s", next, a.status, a.body)
		}
		for _, k := range p.Data {
			names = append(names, k.Attributes["name"].(string))
			if k.Attributes["redacted_key"] == nil {
				t.Errorf("%s: the next page lost additional-fields", next)
			}
		}
		if len(names) == 1 {
			if c := p.Data[0].Attributes["created"]; c != "2026-01-01T10:00:00+00:00" {
				t.Errorf("created %v, want the spec's form 2026-01-01T10:00:00+00:00", c)
			}
		}
		next = ""
		if p.Links.Next != nil {
			u, err := url.Parse(*p.Links.Next)
			if err != nil || !strings.HasPrefix(*p.Links.Next, base) {
				t.Fatalf("next %q is not on the sandbox", *p.Links.Next)
			}
			next = u.RequestURI()
		}
	}
	if len(names) != 25 || names[0] != "k01" || names[24] != "k25" {
		t.Errorf("listed %d keys: %v", len(names), names)
	}

	// page[size] as Klaviyo's other listings take it; a bad one or a bad cursor is a 400 about it.
	a := call(t, base, request{path: "/api/api-keys?page[size]=3", key: fmt.Sprintf("pk_%034x", 1), revision: "2026-07-15.pre"})
	var p keyPage
	if err := json.Unmarshal([]byte(a.body), &p); err != nil || len(p.Data) != 3 || p.Links.Next == nil || !strings.Contains(*p.Links.Next, "page[size]=3") {
		t.Errorf("page[size]=3: %d %s", a.status, a.body)
	}
	for _, q := range []string{"page[size]=0", "page[size]=101", "page[size]=x", "page[cursor]=nonsense"} {
		a := call(t, base, request{path: "/api/api-keys?" + q, key: fmt.Sprintf("pk_%034x", 1), revision: "2026-07-15.pre"})
		param := strings.Split(q, "=")[0]
		if a.status != 400 || a.errorObject(t)["source"].(map[string]any)["parameter"] != param {
			t.Errorf("%s: %d %s, want 400 about %s", q, a.status, a.body, param)
		}
	}
}

// A key without created in the fixture was made when the sandbox started, by its clock.
func TestKeyCreatedDefaultsToStart(t *testing.T) {
	clk := newClock()
	_, base := start(t, nil, sandbox.Options{Now: clk.Now})
	a := call(t, base, request{path: "/api/api-keys", key: adminKey, revision: "2026-07-15.pre"})
	var p keyPage
	if err := json.Unmarshal([]byte(a.body), &p); err != nil {
		t.Fatal(err)
	}
	created := map[string]any{}
	for _, k := range p.Data {
		created[k.Attributes["name"].(string)] = k.Attributes["created"]
	}
	if created["viewer"] != "2026-07-20T12:00:00+00:00" || created["admin"] != "2025-03-04T00:00:00+00:00" {
		t.Errorf("created: %v", created)
	}
}

// Sparse fieldsets name the fields the spec lists for the operation; anything else is a 400 about
// that parameter, which says nothing about a key.
func TestSparseFieldsets(t *testing.T) {
	f := sandbox.DemoFixture()
	f.RateLimits = false
	_, base := start(t, f, sandbox.Options{})
	for _, tc := range []struct {
		path, rev, param string
		want             int
	}{
		{"/api/profiles?fields[profile]=email,first_name", "", "", 200},
		{"/api/profiles?fields[profile]=id", "", "", 200},
		{"/api/profiles?fields[profile]=email,password", "", "fields[profile]", 400},
		{"/api/profiles?fields[list]=name", "", "fields[list]", 400},
		{"/api/accounts?fields[account]=contact_information.organization_name", "", "", 200},
		{"/api/accounts?fields[account]=contact_information.nope", "", "fields[account]", 400},
		{"/api/api-keys?fields[api-key]=name,created", "2026-07-15.pre", "", 200},
		{"/api/api-keys?fields[api-key]=key", "2026-07-15.pre", "fields[api-key]", 400},
	} {
		a := call(t, base, request{path: tc.path, key: adminKey, revision: tc.rev})
		if a.status != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.path, a.status, a.body, tc.want)
			continue
		}
		if tc.want == 400 && (a.errorCode() != "invalid" || a.errorObject(t)["source"].(map[string]any)["parameter"] != tc.param) {
			t.Errorf("%s: %s, want an invalid error about %s", tc.path, a.body, tc.param)
		}
	}
	// Scopes come first: a key without the scope gets its 403, whatever the fieldset.
	if a := call(t, base, request{path: "/api/lists?fields[list]=nope", key: viewerKey}); a.status != 403 {
		t.Errorf("viewer, bad fieldset on lists: %d, want 403", a.status)
	}
}

// Each liar answers every /api call its own way, before authentication.
func TestLiars(t *testing.T) {
	for _, tc := range []struct {
		liar, contentType string
		status            int
		body              string
	}{
		{sandbox.LiarHTML, "text/html", 200, "<html>"},
		{sandbox.LiarJSON, "application/json", 200, `{"status":"ok"`},
		{sandbox.LiarRedirect, "text/html", 302, "portal.example.net"},
		{sandbox.LiarRevision, "application/vnd.api+json", 400, `"parameter":"revision"`},
		{sandbox.LiarNoRevision, "application/vnd.api+json", 404, "No valid revisions found for method"},
		{sandbox.LiarRoute, "application/vnd.api+json", 404, `"detail":"Not found."`},
		{sandbox.LiarParameter, "application/vnd.api+json", 400, `"parameter":"filter"`},
	} {
		f := sandbox.DemoFixture()
		f.Faults.Liar = tc.liar
		_, base := start(t, f, sandbox.Options{})
		for _, r := range []request{{path: "/api/profiles", key: viewerKey}, {method: "PATCH", path: "/api/lists/x", key: "pk_nobody", body: "{}"}} {
			a := call(t, base, r)
			if a.status != tc.status || !strings.HasPrefix(a.header.Get("Content-Type"), tc.contentType) || !strings.Contains(a.body, tc.body) {
				t.Errorf("%s, %s %s: %d %s %s", tc.liar, r.method, r.path, a.status, a.header.Get("Content-Type"), a.body)
			}
		}
	}
	if _, err := sandbox.ParseFixture("l.yaml", []byte("faults: {liar: honest}\naccounts: [{id: ACME01, keys: []}]\n")); err == nil || !strings.Contains(err.Error(), `faults.liar "honest" is no liar`) {
		t.Errorf("unknown liar: %v", err)
	}
}

// A black hole takes the request and never answers: the client's own timeout ends the call.
func TestLiarBlackHole(t *testing.T) {
	f := sandbox.DemoFixture()
	f.Faults.Liar = sandbox.LiarBlackHole
	_, base := start(t, f, sandbox.Options{})
	c := &http.Client{Timeout: 300 * time.Millisecond}
	t0 := time.Now()
	resp, err := c.Get(base + "/api/profiles")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a black hole answered %d", resp.StatusCode)
	}
	if d := time.Since(t0); d < 250*time.Millisecond {
		t.Errorf("gave up after %s: the black hole did not hold the request", d)
	}
}

// With rate_limit_quota: operation, operations of one tier no longer share a window.
func TestQuotaPerOperation(t *testing.T) {
	for _, tc := range []struct {
		quota string
		want  int // the webhooks call, after accounts, both XS, in one second
	}{{"", 429}, {"rate_limit_quota: tier\n", 429}, {"rate_limit_quota: operation\n", 200}} {
		f, err := sandbox.ParseFixture("q.yaml", []byte(tc.quota+`accounts:
  - id: ACME01
    keys:
      - {name: a, key: pk_000000000000000000000000000000000a, scopes: [full]}
`))
		if err != nil {
			t.Fatal(err)
		}
		_, base := start(t, f, sandbox.Options{Now: newClock().Now})
		key := "pk_000000000000000000000000000000000a"
		if a := call(t, base, request{path: "/api/accounts", key: key}); a.status != 200 {
			t.Fatalf("%q: accounts %d", tc.quota, a.status)
		}
		if a := call(t, base, request{path: "/api/webhooks", key: key}); a.status != tc.want {
			t.Errorf("%q: webhooks in the same second %d, want %d", tc.quota, a.status, tc.want)
		}
		// The same operation twice in one second is over its burst either way.
		if a := call(t, base, request{path: "/api/accounts", key: key}); a.status != 429 {
			t.Errorf("%q: accounts again %d, want 429", tc.quota, a.status)
		}
	}
	for _, bad := range []string{"rate_limit_quota: endpoint\n", "key_page_size: 0\n", "key_page_size: many\n"} {
		if _, err := sandbox.ParseFixture("q.yaml", []byte(bad+"accounts: [{id: ACME01, keys: []}]\n")); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := sandbox.ParseFixture("c.yaml", []byte("accounts: [{id: ACME01, keys: [{name: a, key: pk_000000000000000000000000000000000a, scopes: [full], created: yesterday}]}]\n")); err == nil ||
		!strings.Contains(err.Error(), "key created") {
		t.Errorf("a created that is no date: %v", err)
	}
}
