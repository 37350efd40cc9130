package sandbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/sandbox"
)

// scopeFixture has a full-access key, a key with no scopes, and for every assignable scope a key
// holding all the others; rate limits are off so that every operation can be called back to back.
func scopeFixture(t *testing.T) (*sandbox.Fixture, map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("rate_limits: false\naccounts:\n  - id: SCOPE1\n    keys:\n")
	b.WriteString("      - {name: full, key: pk_" + strings.Repeat("f", 34) + ", scopes: [full]}\n")
	b.WriteString("      - {name: none, key: pk_" + strings.Repeat("0", 34) + ", scopes: []}\n")
	keys := map[string]string{"full": "pk_" + strings.Repeat("f", 34), "none": "pk_" + strings.Repeat("0", 34)}
	all := catalog.AssignableScopes()
	for i, missing := range all {
		key := fmt.Sprintf("pk_%034x", i+1)
		var others []string
		for _, s := range all {
			if s != missing {
				others = append(others, s)
			}
		}
		fmt.Fprintf(&b, "      - {name: 'without %s', key: %s, scopes: [%s]}\n", missing, key, strings.Join(others, ", "))
		keys["without "+missing] = key
	}
	f, err := sandbox.ParseFixture("scopes.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return f, keys
}

// concrete turns an operation into a call that passes every check but the one under test: path
// parameters get an id, required query parameters a value.
func concrete(op catalog.Operation) (path string, rev string) {
	var segs []string
	for _, s := range strings.Split(op.Path, "/") {
		if strings.HasPrefix(s, "{") {
			s = "klrbac-test-id"
		}
		segs = append(segs, s)
	}
	path = strings.Join(segs, "/")
	q := url.Values{}
	for _, name := range op.Required {
		if !strings.Contains(op.Path, "{"+name+"}") {
			q.Set(name, "SCOPE1")
		}
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	rev = revision
	if op.Beta {
		rev += ".pre"
	}
	return path, rev
}

func allOperations() []catalog.Operation {
	return append(slices.Clone(catalog.Operations()), catalog.BetaOperations()...)
}

// TestEveryOperationChecksItsScopes calls every operation of the catalog, stable and beta: a key
// lacking any one of its scopes gets 403 permission_denied with Klaviyo's body; a full-access key
// gets past the scope check to the answer that fits the call.
func TestEveryOperationChecksItsScopes(t *testing.T) {
	f, keys := scopeFixture(t)
	srv, base := start(t, f, sandbox.Options{})
	checked := 0
	for _, op := range allOperations() {
		if op.PublicKey {
			continue
		}
		path, rev := concrete(op)
		body := ""
		if op.HasBody {
			body = "{}"
		}
		if len(op.Scopes) == 0 {
			t.Errorf("%s lists no scopes", op)
		}
		for _, scope := range op.Scopes {
			a := call(t, base, request{method: op.Method, path: path, key: keys["without "+scope], revision: rev, body: body})
			if a.status != http.StatusForbidden || a.errorCode() != "permission_denied" {
				t.Errorf("%s without %s: %d %s, want 403 permission_denied", op, scope, a.status, a.body)
				continue
			}
			e := a.errorObject(t)
			if e["title"] != "You do not have permission to perform this action." || e["detail"] != e["title"] || e["status"] != float64(403) {
				t.Errorf("%s: permission_denied body is not Klaviyo's: %s", op, a.body)
			}
		}
		if a := call(t, base, request{method: op.Method, path: path, key: keys["none"], revision: rev, body: body}); a.status != http.StatusForbidden {
			t.Errorf("%s with no scopes: %d, want 403", op, a.status)
		}

		a := call(t, base, request{method: op.Method, path: path, key: keys["full"], revision: rev, body: body})
		hasID := strings.Contains(op.Path, "{")
		want, code := 0, ""
		switch {
		case op.HasBody:
			want, code = http.StatusBadRequest, "invalid" // {} has no data member
		case hasID:
			want, code = http.StatusNotFound, "not_found"
		case op.Method == http.MethodGet:
			want = http.StatusOK
		default:
			t.Fatalf("%s: no expectation for a bodiless write without an id", op)
		}
		if a.status != want || a.errorCode() != code {
			t.Errorf("%s with a full key: %d %s, want %d %s", op, a.status, a.body, want, code)
		}
		if want == http.StatusOK {
			var doc struct {
				Data  json.RawMessage `json:"data"`
				Links struct {
					Self string `json:"self"`
				} `json:"links"`
			}
			if err := json.Unmarshal([]byte(a.body), &doc); err != nil || len(doc.Data) == 0 || doc.Links.Self == "" {
				t.Errorf("%s: not a JSON:API document: %s", op, a.body)
			}
			if a.header.Get("Content-Type") != "application/vnd.api+json" {
				t.Errorf("%s: Content-Type %q", op, a.header.Get("Content-Type"))
			}
		}
		checked++
	}
	if checked < 400 {
		t.Fatalf("checked only %d operations", checked)
	}
	if got := srv.Stats().Status(http.StatusForbidden); got < 2*checked {
		t.Errorf("stats count %d 403s, want at least %d", got, 2*checked)
	}
}

// TestClientOperationsTakeThePublicKey: /client operations authenticate with company_id and check
// no private-key scopes.
func TestClientOperationsTakeThePublicKey(t *testing.T) {
	_, base := start(t, nil, sandbox.Options{})
	n := 0
	for _, op := range catalog.Operations() {
		if !op.PublicKey {
			continue
		}
		n++
		path, _ := concrete(op)
		path = strings.ReplaceAll(path, "company_id=SCOPE1", "company_id=DEMO01")
		if !strings.Contains(path, "company_id") {
			path += "?company_id=DEMO01"
		}
		body := ""
		if op.HasBody {
			body = `{"data":{"type":"` + op.Body.Types[0] + `","attributes":{}}}`
		}
		a := call(t, base, request{method: op.Method, path: path, body: body})
		want := http.StatusOK
		switch {
		case strings.Contains(op.Path, "{"):
			want = http.StatusNotFound
		case op.Method != http.MethodGet:
			want = http.StatusAccepted
		}
		if a.status != want {
			t.Errorf("%s with company_id: %d %s, want %d", op, a.status, a.body, want)
		}
		bare := strings.Split(path, "?")[0]
		if !slices.Contains(op.Required, "company_id") {
			continue
		}
		if a := call(t, base, request{method: op.Method, path: bare, body: body}); a.status != http.StatusBadRequest || !strings.Contains(a.body, "company_id") {
			t.Errorf("%s without company_id: %d %s, want 400 naming company_id", op, a.status, a.body)
		}
	}
	if n == 0 {
		t.Fatal("the catalog has no /client operations")
	}
}

// TestAuthentication checks the 401s, with Klaviyo's exact texts.
func TestAuthentication(t *testing.T) {
	_, base := start(t, nil, sandbox.Options{})
	for _, tc := range []struct {
		name, auth string
		code       string
		title      string
		detail     string
	}{
		{"no header", "", "not_authenticated", "Authentication credentials were not provided.", "Missing or invalid authorization scheme. Please use Klaviyo-API-Key."},
		{"wrong scheme", "Token " + adminKey, "not_authenticated", "Authentication credentials were not provided.", "Missing or invalid authorization scheme. Please use Klaviyo-API-Key."},
		{"scheme only", "Klaviyo-API-Key", "not_authenticated", "Authentication credentials were not provided.", "Missing or invalid authorization scheme. Please use Klaviyo-API-Key."},
		{"unknown key", "Klaviyo-API-Key pk_" + strings.Repeat("1", 34), "authentication_failed", "Incorrect authentication credentials.", "Incorrect authentication credentials."},
		{"malformed key", "Klaviyo-API-Key pk_short", "authentication_failed", "Incorrect authentication credentials.", "Incorrect authentication credentials."},
		{"disabled key", "Klaviyo-API-Key " + disabledKey, "authentication_failed", "Incorrect authentication credentials.", "Incorrect authentication credentials."},
		{"unknown token", "Bearer nosuchtoken", "authentication_failed", "Incorrect authentication credentials.", "Incorrect authentication credentials."},
	} {
		a := call(t, base, request{path: "/api/profiles", header: map[string]string{"Authorization": tc.auth}})
		if a.status != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", tc.name, a.status)
			continue
		}
		e := a.errorObject(t)
		if e["code"] != tc.code || e["title"] != tc.title || e["detail"] != tc.detail || e["status"] != float64(401) {
			t.Errorf("%s: %s", tc.name, a.body)
		}
	}
	// The scheme is case-insensitive, as in DRF.
	if a := call(t, base, request{path: "/api/profiles", header: map[string]string{"Authorization": "klaviyo-api-key " + viewerKey}}); a.status != http.StatusOK {
		t.Errorf("lower-case scheme: %d", a.status)
	}
}

// TestCheckOrder follows DRF's order: authenticate, scopes, throttle, validate, look up.
func TestCheckOrder(t *testing.T) {
	clk := newClock()
	_, base := start(t, nil, sandbox.Options{Now: clk.Now})
	// Unauthenticated beats a missing scope.
	if a := call(t, base, request{method: "POST", path: "/api/data-privacy-deletion-jobs", body: "{}"}); a.status != 401 {
		t.Errorf("no key, no scope: %d, want 401", a.status)
	}
	// A missing scope beats a bad body, and does not count against the quota.
	for range 3 {
		if a := call(t, base, request{method: "POST", path: "/api/data-privacy-deletion-jobs", key: viewerKey, body: "{}"}); a.status != 403 {
			t.Errorf("viewer deleting: %d, want 403", a.status)
		}
	}
	// data-privacy-deletion-jobs is S (3/s): the 403s above used none of it.
	for range 3 {
		if a := call(t, base, request{method: "POST", path: "/api/data-privacy-deletion-jobs", key: serviceKey, body: "{}"}); a.status != 400 || a.errorCode() != "invalid" {
			t.Errorf("service, bad body: %d %s, want 400 invalid", a.status, a.body)
		}
	}
	// Throttled beats a bad body: the fourth call in the same second is 429.
	if a := call(t, base, request{method: "POST", path: "/api/data-privacy-deletion-jobs", key: serviceKey, body: "{}"}); a.status != 429 {
		t.Errorf("fourth call in a second: %d, want 429", a.status)
	}
	// A bad body beats an unknown id.
	if a := call(t, base, request{method: "PATCH", path: "/api/profiles/nosuchid", key: serviceKey, body: "{}"}); a.status != 400 {
		t.Errorf("bad body, unknown id: %d, want 400", a.status)
	}
	if a := call(t, base, request{method: "PATCH", path: "/api/profiles/nosuchid", key: serviceKey,
		body: `{"data":{"type":"profile","id":"nosuchid","attributes":{}}}`}); a.status != 404 || a.errorCode() != "not_found" {
		t.Errorf("good body, unknown id: %d %s, want 404", a.status, a.body)
	}
}

func TestRevision(t *testing.T) {
	today := &clock{now: time.Date(2026, 8, 1, 23, 59, 0, 0, time.UTC)}
	_, base := start(t, nil, sandbox.Options{Now: today.Now})
	for _, tc := range []struct {
		name, path, rev string
		want            int
	}{
		{"missing", "/api/profiles", "-", 400},
		{"malformed", "/api/profiles", "latest", 400},
		{"malformed date", "/api/profiles", "2026-02-30", 400},
		{"stable", "/api/profiles", "2026-07-15", 200},
		{"pre reaches stable", "/api/profiles", "2026-07-15.pre", 200},
		{"between revisions reaches the one before", "/api/profiles", "2026-07-01", 200},
		{"the first revision", "/api/profiles", "2022-10-17", 200},
		{"before the first revision", "/api/profiles", "2022-10-16", 400},
		{"today", "/api/profiles", "2026-08-01", 200},
		{"the future", "/api/profiles", "2026-08-02", 400},
		{"beta without pre", "/api/api-keys", "2026-07-15", 404},
		{"beta with pre", "/api/api-keys", "2026-07-15.pre", 200},
		{"beta before its revision", "/api/api-keys", "2026-04-15.pre", 400},
		{"beta in the future", "/api/api-keys", "2026-10-15.pre", 400},
	} {
		a := call(t, base, request{path: tc.path, key: adminKey, revision: tc.rev})
		if a.status != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, a.status, a.body, tc.want)
		}
		if tc.want == 400 && (a.errorCode() != "invalid" || a.errorObject(t)["source"].(map[string]any)["parameter"] != "revision") {
			t.Errorf("%s: %s, want an invalid error about the revision parameter", tc.name, a.body)
		}
		if tc.want == 404 && !strings.Contains(a.body, `"detail":"No valid revisions found for method`) {
			t.Errorf("%s: %s, want Klaviyo's 404 about the revision", tc.name, a.body)
		}
	}
	// The catalog's own revision is served whatever the clock says.
	early := &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, base = start(t, nil, sandbox.Options{Now: early.Now})
	if a := call(t, base, request{path: "/api/profiles", key: adminKey, revision: catalog.SpecRevision}); a.status != 200 {
		t.Errorf("catalog revision before its date: %d %s", a.status, a.body)
	}
}

func TestRoutingErrors(t *testing.T) {
	_, base := start(t, nil, sandbox.Options{})
	if a := call(t, base, request{path: "/api/no-such-thing", key: adminKey}); a.status != 404 || a.errorCode() != "not_found" {
		t.Errorf("unknown path: %d %s", a.status, a.body)
	}
	a := call(t, base, request{method: "PUT", path: "/api/profiles", key: adminKey})
	if a.status != 405 || a.errorCode() != "method_not_allowed" || a.header.Get("Allow") != "GET, POST" {
		t.Errorf("PUT /api/profiles: %d %s Allow=%q", a.status, a.body, a.header.Get("Allow"))
	}
	// A trailing slash reaches the same operation, as Klaviyo's CLI calls /api/accounts/.
	if a := call(t, base, request{path: "/api/profiles/", key: viewerKey}); a.status != 200 {
		t.Errorf("trailing slash: %d", a.status)
	}
	// Literal segments win: /api/profile-import is not a profile id.
	if a := call(t, base, request{method: "POST", path: "/api/profile-import", key: viewerKey, body: "{}"}); a.status != 403 {
		t.Errorf("viewer importing: %d, want 403", a.status)
	}
}

func TestQueryValidation(t *testing.T) {
	_, base := start(t, nil, sandbox.Options{})
	a := call(t, base, request{path: "/api/campaigns", key: viewerKey})
	if a.status != 400 || !strings.Contains(a.body, `'filter' is a required parameter.`) || !strings.Contains(a.body, `"parameter":"filter"`) {
		t.Errorf("campaigns without filter: %d %s", a.status, a.body)
	}
	if a := call(t, base, request{path: "/api/campaigns?filter=equals(messages.channel,'email')&page[size]=1", key: viewerKey}); a.status != 200 {
		t.Errorf("campaigns with filter: %d %s", a.status, a.body)
	}
	if a := call(t, base, request{path: "/api/profiles?page[size]=101", key: viewerKey}); a.status != 400 || !strings.Contains(a.body, "page[size]") {
		t.Errorf("page[size]=101: %d %s", a.status, a.body)
	}
}

func TestBodyValidation(t *testing.T) {
	_, base := start(t, nil, sandbox.Options{})
	for _, tc := range []struct {
		body, pointer string
	}{
		{"not json", "/"},
		{"[]", "/"},
		{"{}", "/data"},
		{`{"data":{}}`, "/data/type"},
		{`{"data":{"type":"profile"}}`, "/data/id"},
		{`{"data":{"type":"profile","id":"x","attributes":[]}}`, "/data/attributes"},
		{`{"data":"profile"}`, "/data"},
		{`{"data":[{"type":"profile","id":"x"}]}`, "/data"},
		{`{"data":{"type":5,"id":"x"}}`, "/data/type"},
	} {
		a := call(t, base, request{method: "PATCH", path: "/api/profiles/x", key: serviceKey, body: tc.body})
		if a.status != 400 || a.errorCode() != "invalid" {
			t.Errorf("%s: %d %s, want 400 invalid", tc.body, a.status, a.body)
			continue
		}
		src, _ := a.errorObject(t)["source"].(map[string]any)
		if src["pointer"] != tc.pointer {
			t.Errorf("%s: pointer %v, want %s", tc.body, src["pointer"], tc.pointer)
		}
	}
	// A to-many relationship takes a list, as its schema says.
	a := call(t, base, request{method: "POST", path: "/api/lists/x/relationships/profiles", key: adminKey, body: `{"data":{"type":"profile","id":"p"}}`})
	if src, _ := a.errorObject(t)["source"].(map[string]any); a.status != 400 || src["pointer"] != "/data" {
		t.Errorf("object for a to-many relationship: %d %s, want 400 at /data", a.status, a.body)
	}
	a = call(t, base, request{method: "POST", path: "/api/events", key: serviceKey, body: "x=1",
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	if a.status != 415 || a.errorCode() != "unsupported_media_type" {
		t.Errorf("form body: %d %s", a.status, a.body)
	}
	a = call(t, base, request{method: "POST", path: "/api/events", key: serviceKey,
		body: `{"data":{"type":"event","attributes":{"properties":{}}}}`})
	if a.status != 202 {
		t.Errorf("valid event: %d %s, want 202", a.status, a.body)
	}
}

func TestAccountsAndKeys(t *testing.T) {
	_, base := start(t, nil, sandbox.Options{})
	a := call(t, base, request{path: "/api/accounts", key: adminKey})
	var accounts struct {
		Data []struct {
			Type, ID   string
			Attributes struct {
				PublicAPIKey       string `json:"public_api_key"`
				ContactInformation struct {
					OrganizationName string `json:"organization_name"`
				} `json:"contact_information"`
			}
		}
	}
	if err := json.Unmarshal([]byte(a.body), &accounts); err != nil || len(accounts.Data) != 1 {
		t.Fatalf("GET /api/accounts: %d %s", a.status, a.body)
	}
	acc := accounts.Data[0]
	if acc.Type != "account" || acc.ID != "DEMO01" || acc.Attributes.PublicAPIKey != "DEMO01" || acc.Attributes.ContactInformation.OrganizationName != "Demo Company" {
		t.Errorf("account: %+v", acc)
	}

	clk := newClock()
	_, base = start(t, nil, sandbox.Options{Now: clk.Now})
	if a := call(t, base, request{path: "/api/accounts/DEMO01", key: adminKey}); a.status != 200 {
		t.Errorf("GET own account: %d", a.status)
	}
	clk.Advance(time.Second)
	if a := call(t, base, request{path: "/api/accounts/OTHER1", key: adminKey}); a.status != 404 {
		t.Errorf("GET other account: %d", a.status)
	}

	clk.Advance(time.Second)
	a = call(t, base, request{path: "/api/api-keys", key: adminKey, revision: "2026-07-15.pre"})
	var keys struct {
		Data []struct {
			ID         string
			Attributes map[string]any
		}
	}
	if err := json.Unmarshal([]byte(a.body), &keys); err != nil || len(keys.Data) != 6 {
		t.Fatalf("GET /api/api-keys: %d %s", a.status, a.body)
	}
	for _, k := range keys.Data {
		if _, ok := k.Attributes["redacted_key"]; ok {
			t.Errorf("redacted_key without additional-fields: %v", k.Attributes)
		}
		if strings.Contains(a.body, "pk_aca7") {
			t.Error("the listing shows a key")
		}
	}
	clk.Advance(time.Second)
	a = call(t, base, request{path: "/api/api-keys?additional-fields[api-key]=redacted_key", key: adminKey, revision: "2026-07-15.pre"})
	if err := json.Unmarshal([]byte(a.body), &keys); err != nil || len(keys.Data) != 6 {
		t.Fatalf("GET /api/api-keys: %d %s", a.status, a.body)
	}
	byName := map[string]map[string]any{}
	for _, k := range keys.Data {
		byName[k.Attributes["name"].(string)] = k.Attributes
	}
	if v := byName["viewer"]; v["redacted_key"] != "pk_****6936" || v["status"] != "active" ||
		fmt.Sprint(v["scopes"]) != "[campaigns:read metrics:read profiles:read segments:read]" {
		t.Errorf("viewer key: %v", v)
	}
	if v := byName["legacy-export"]; v["status"] != "disabled" {
		t.Errorf("legacy-export key: %v", v)
	}
	if n := len(byName["admin"]["scopes"].([]any)); n != len(catalog.AssignableScopes()) {
		t.Errorf("full key lists %d scopes, want all %d", n, len(catalog.AssignableScopes()))
	}
	clk.Advance(time.Second)
	if a := call(t, base, request{path: "/api/api-keys/" + keys.Data[0].ID, key: adminKey, revision: "2026-07-15.pre"}); a.status != 200 {
		t.Errorf("GET one key: %d %s", a.status, a.body)
	}
	clk.Advance(time.Second)
	if a := call(t, base, request{path: "/api/api-keys", key: viewerKey, revision: "2026-07-15.pre"}); a.status != 403 {
		t.Errorf("viewer listing keys: %d, want 403", a.status)
	}
}

func TestStats(t *testing.T) {
	srv, base := start(t, nil, sandbox.Options{})
	call(t, base, request{path: "/api/profiles", key: viewerKey})
	call(t, base, request{path: "/api/profiles", key: viewerKey})
	call(t, base, request{path: "/api/accounts", key: viewerKey})
	call(t, base, request{path: "/api/nothing", key: viewerKey})
	st := srv.Stats()
	if st.Requests != 4 || st.Count("GET /api/profiles", 200) != 2 || st.Count("GET /api/accounts", 403) != 1 ||
		st.Operations["GET /api/profiles"].ID != "get_profiles" || st.Count("unmatched", 404) != 1 {
		t.Errorf("stats: %+v", st)
	}
	resp, err := http.Get(base + "/_sandbox/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got sandbox.Stats
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.Status(200) != 2 {
		t.Errorf("GET /_sandbox/stats: %v %+v", err, got)
	}
	srv.ResetStats()
	if srv.Stats().Requests != 0 {
		t.Error("ResetStats kept counts")
	}
}

// An operation's stats carry its id whatever its first call met: a fault, a missing revision or
// a rejected key are counted before the revision picks the operation.
func TestStatsNameTheOperationWhateverCameFirst(t *testing.T) {
	srv, base := start(t, nil, sandbox.Options{})
	srv.SetFaults(0, sandbox.Faults{EdgeBlock: 1})
	call(t, base, request{path: "/api/profiles", key: viewerKey})
	srv.SetFaults(0, sandbox.Faults{})
	call(t, base, request{path: "/api/lists", key: viewerKey, revision: "-"})
	call(t, base, request{path: "/api/segments"})
	for _, path := range []string{"/api/profiles", "/api/lists", "/api/segments"} {
		call(t, base, request{path: path, key: viewerKey})
	}
	st := srv.Stats()
	for op, id := range map[string]string{"GET /api/profiles": "get_profiles", "GET /api/lists": "get_lists", "GET /api/segments": "get_segments"} {
		if got := st.Operations[op]; got.ID != id || got.Requests != 2 {
			t.Errorf("%s: %+v, want id %s and 2 requests", op, got, id)
		}
	}
}

// writeBody is a JSON:API write body for op whose data names typ (omitted when ""): a list of one
// resource identifier where the operation takes a list, else one resource object.
func writeBody(op catalog.Operation, typ string) string {
	res := map[string]any{"id": "klrbac-test-id"}
	if typ != "" {
		res["type"] = typ
	}
	var data any = res
	if op.Body.List {
		data = []any{res}
	} else if !strings.Contains(op.Path, "/relationships/") {
		res["attributes"] = map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"data": data})
	return string(b)
}

// TestEveryWriteChecksItsDataType sends every write of the catalog a body naming the resource type
// its schema expects, which passes validation (202, or 404 for the id that does not exist), then
// one naming another type and one naming none, which get 400 invalid pointing at data.type.
func TestEveryWriteChecksItsDataType(t *testing.T) {
	f, keys := scopeFixture(t)
	_, base := start(t, f, sandbox.Options{})
	checked, untyped := 0, 0
	for _, op := range allOperations() {
		if !op.HasBody {
			continue
		}
		path, rev := concrete(op)
		key := keys["full"]
		if len(op.Body.Types) == 0 {
			// Beta operations (their schemas are not vendored) and the multipart image upload:
			// any type passes.
			untyped++
			if !op.Beta && op.Path != "/api/image-upload" {
				t.Errorf("%s: the catalog records no data.type", op)
			}
			if op.Path == "/api/image-upload" {
				continue
			}
		}
		typ := "klrbac-any-type"
		if len(op.Body.Types) > 0 {
			typ = op.Body.Types[0]
		}
		want := op.Success
		if op.Beta {
			want = http.StatusAccepted // the catalog does not carry a beta operation's responses
		}
		if strings.Contains(op.Path, "{") {
			want = http.StatusNotFound
		}
		a := call(t, base, request{method: op.Method, path: path, key: key, revision: rev, body: writeBody(op, typ)})
		if a.status != want {
			t.Errorf("%s with data.type %q: %d %s, want %d", op, typ, a.status, a.body, want)
		}
		// The spec's answer: the resource made (201, 200), a document or nothing (202), nothing (204).
		if want == op.Success && !op.Beta {
			var doc struct {
				Data struct{ Type, ID string }
			}
			switch {
			case op.SuccessDoc:
				if err := json.Unmarshal([]byte(a.body), &doc); err != nil || doc.Data.Type != typ || doc.Data.ID == "" {
					t.Errorf("%s: %d %s, want a %s resource", op, a.status, a.body, typ)
				}
			case a.body != "":
				t.Errorf("%s: %d answered %q, want no body", op, a.status, a.body)
			}
		}
		if len(op.Body.Types) == 0 {
			continue
		}
		pointer := "/data/type"
		if op.Body.List {
			pointer = "/data/0/type"
		}
		for _, wrong := range []string{"wrong", ""} {
			a := call(t, base, request{method: op.Method, path: path, key: key, revision: rev, body: writeBody(op, wrong)})
			if a.status != http.StatusBadRequest || a.errorCode() != "invalid" {
				t.Errorf("%s with data.type %q: %d %s, want 400 invalid", op, wrong, a.status, a.body)
				continue
			}
			e := a.errorObject(t)
			src, _ := e["source"].(map[string]any)
			detail, _ := e["detail"].(string)
			wantDetail := "'type' is a required property."
			if wrong != "" {
				wantDetail = fmt.Sprintf("'wrong' is not one of ['%s'].", typ)
			}
			if src["pointer"] != pointer || detail != wantDetail || e["title"] != "Invalid input." {
				t.Errorf("%s with data.type %q: %s, want pointer %s and detail %q", op, wrong, a.body, pointer, wantDetail)
			}
		}
		checked++
	}
	if checked < 100 || untyped > 80 {
		t.Errorf("checked the data.type of %d writes, %d unchecked", checked, untyped)
	}
}

// A write's data.type is checked after the scopes and the rate limits, and before the object is
// looked up, as Django REST Framework orders its checks.
func TestDataTypeIsCheckedInDRFOrder(t *testing.T) {
	clk := newClock()
	_, base := start(t, nil, sandbox.Options{Now: clk.Now})
	wrong := `{"data":{"type":"wrong","attributes":{}}}`
	if a := call(t, base, request{method: "POST", path: "/api/profiles", body: wrong}); a.status != 401 {
		t.Errorf("no key, wrong type: %d, want 401", a.status)
	}
	if a := call(t, base, request{method: "POST", path: "/api/profiles", key: viewerKey, body: wrong}); a.status != 403 {
		t.Errorf("viewer, wrong type: %d, want 403", a.status)
	}
	if a := call(t, base, request{method: "POST", path: "/api/profiles", key: serviceKey, body: wrong}); a.status != 400 {
		t.Errorf("service, wrong type: %d %s, want 400", a.status, a.body)
	}
	if a := call(t, base, request{method: "PATCH", path: "/api/profiles/nosuchid", key: serviceKey,
		body: `{"data":{"type":"wrong","id":"nosuchid","attributes":{}}}`}); a.status != 400 {
		t.Errorf("wrong type, unknown id: %d %s, want 400", a.status, a.body)
	}
	if a := call(t, base, request{method: "POST", path: "/api/profiles", key: serviceKey, body: `{"data":{"type":"profile","attributes":{}}}`}); a.status != 201 {
		t.Errorf("service, right type: %d %s, want 201", a.status, a.body)
	}
	// data-privacy-deletion-jobs is S (3/s): a throttled call is not validated.
	for range 3 {
		call(t, base, request{method: "POST", path: "/api/data-privacy-deletion-jobs", key: serviceKey, body: "{}"})
	}
	if a := call(t, base, request{method: "POST", path: "/api/data-privacy-deletion-jobs", key: serviceKey, body: wrong}); a.status != 429 {
		t.Errorf("fourth call in a second, wrong type: %d, want 429", a.status)
	}
}
