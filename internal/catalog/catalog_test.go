package catalog

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/catalog/internal/tsv"
)

const specDir = "../../third_party/klaviyo-openapi"

func readTSV(t *testing.T, name string) []map[string]string {
	t.Helper()
	rows, err := tsv.Read(filepath.Join(specDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// The generated table must agree, operation by operation, with the table derived independently
// from the same spec (endpoint-scopes.tsv).
func TestCatalogMatchesDerivedTable(t *testing.T) {
	rows := readTSV(t, "endpoint-scopes.tsv")
	if len(rows) != 345 || len(Operations()) != 345 {
		t.Fatalf("operations: tsv %d, catalog %d, want 345", len(rows), len(Operations()))
	}
	for _, r := range rows {
		op, ok := Find(r["method"], r["path"])
		if !ok {
			t.Errorf("%s %s missing", r["method"], r["path"])
			continue
		}
		if op.Path != r["path"] || op.ID != r["operationId"] {
			t.Errorf("%s %s: found %s (%s)", r["method"], r["path"], op, op.ID)
		}
		if got := strings.Join(op.Scopes, ","); got != r["scopes"] {
			t.Errorf("%s: scopes %q, want %q", op.ID, got, r["scopes"])
		}
		if got := op.Tier(); r["rate_burst"] != strconv.Itoa(op.Burst)+"/s" || r["rate_steady"] != strconv.Itoa(op.Steady)+"/m" {
			t.Errorf("%s: rate %d/s %d/m (%s), want %s %s", op.ID, op.Burst, op.Steady, got, r["rate_burst"], r["rate_steady"])
		}
		if op.PublicKey != strings.HasPrefix(r["auth"], "public_key") {
			t.Errorf("%s: public key %v, want %s", op.ID, op.PublicKey, r["auth"])
		}
		if op.HasBody != (r["has_request_body"] == "yes") || op.Cursor != (r["page_cursor"] == "yes") {
			t.Errorf("%s: body/cursor mismatch", op.ID)
		}
		if got := strings.Join(op.Required, ";"); got != r["required_query_path_params"] {
			t.Errorf("%s: required %q, want %q", op.ID, got, r["required_query_path_params"])
		}
	}
	if n := len(Scopes()); n != 46 {
		t.Errorf("stable operations use %d scopes, want 46", n)
	}
}

func TestAssignableScopes(t *testing.T) {
	all := AssignableScopes()
	if len(all) != 63 || !slices.IsSorted(all) {
		t.Fatalf("%d assignable scopes (sorted: %v), want 63", len(all), slices.IsSorted(all))
	}
	unprobeable := 0
	for _, s := range all {
		if len(OperationsNeeding(s)) == 0 {
			unprobeable++
		}
	}
	if unprobeable != 17 {
		t.Errorf("%d assignable scopes have no stable operation, want 17", unprobeable)
	}
	for _, s := range Scopes() {
		if !IsAssignable(s.Name) {
			t.Errorf("%s is used by operations but not assignable", s.Name)
		}
	}
	for _, bad := range []string{"profile:read", "profiles", "", "PROFILES:READ"} {
		if IsAssignable(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestProbes(t *testing.T) {
	if len(Probes()) != 46 {
		t.Fatalf("%d probes, want one per stable scope (46)", len(Probes()))
	}
	for _, s := range Scopes() {
		p, ok := ProbeFor(s.Name)
		if !ok {
			t.Errorf("no probe for %s", s.Name)
			continue
		}
		op, ok := Find(p.Method, p.Path)
		if !ok {
			t.Errorf("%s: probe %s %s reaches no operation", s.Name, p.Method, p.Path)
			continue
		}
		if !slices.Contains(op.Scopes, s.Name) {
			t.Errorf("%s: probe reaches %s, which does not need it", s.Name, op)
		}
		for _, other := range op.Scopes {
			if other != s.Name && !slices.Contains(p.AlsoRequires, other) {
				t.Errorf("%s: probe operation %s also needs %s, not listed as a companion", s.Name, op, other)
			}
		}
		if AccessOf(s.Name) == Read && p.Method != "GET" {
			t.Errorf("%s: a read scope is probed with %s", s.Name, p.Method)
		}
	}
	if _, ok := ProbeFor("credentials:read"); ok {
		t.Error("credentials:read has no stable operation; it must have no probe")
	}
}

func TestFind(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/api/profiles/01HXYZ", "get_profile"},
		{"get", "https://a.klaviyo.com/api/profiles/01HXYZ/?fields[profile]=email", "get_profile"},
		{"PATCH", "/api/profiles/abc", "update_profile"},
		{"GET", "/api/profiles", "get_profiles"},
		{"GET", "/api/profiles/", "get_profiles"},
		{"POST", "/api/profile-import", "create_or_update_profile"},
		{"GET", "/api/lists/L1/relationships/profiles", "get_profile_ids_for_list"},
		{"GET", "/api/api-keys", "get_api_keys_beta"},
	} {
		op, ok := Find(tc.method, tc.path)
		if !ok || op.ID != tc.want {
			t.Errorf("Find(%s %s) = %s, %v; want %s", tc.method, tc.path, op.ID, ok, tc.want)
		}
	}
	if op, _ := Find("GET", "/api/api-keys"); !op.Beta {
		t.Error("api-keys must be marked beta")
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/profile"}, {"DELETE", "/api/profiles/x"}, {"GET", "/api/profiles//relationships/lists"}, {"GET", "/"},
	} {
		if op, ok := Find(tc.method, tc.path); ok {
			t.Errorf("Find(%s %s) matched %s", tc.method, tc.path, op)
		}
	}
}

// Find looks among the templates of a call's shape only; it must answer as a search of the whole
// catalog does, for every operation, with its parameters filled in.
func TestFindByShapeAgreesWithAFullSearch(t *testing.T) {
	n := 0
	for _, tmpl := range templates() {
		path := strings.NewReplacer("{", "x", "}", "").Replace(tmpl.op.Path)
		for _, p := range []string{path, path + "/", "https://a.klaviyo.com" + path + "?page[size]=1"} {
			want, wok := find(templates(), tmpl.op.Method, p)
			got, gok := Find(tmpl.op.Method, p)
			if gok != wok || got.ID != want.ID {
				t.Errorf("Find(%s %s) = %s, %v; a full search finds %s, %v", tmpl.op.Method, p, got.ID, gok, want.ID, wok)
			}
			n++
		}
	}
	if n < 300 {
		t.Fatalf("only %d calls tried: the catalog did not load", n)
	}
}

// Every stable write with a body records what the schema asks of it: the resource type data.type
// names (following $refs to the ...Enum schemas), whether data is a list, and the required members.
func TestRequestBodies(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         RequestBody
	}{
		{"POST", "/api/profiles", RequestBody{Required: []string{"data"}, Types: []string{"profile"}}},
		{"PATCH", "/api/profiles/{id}", RequestBody{Required: []string{"data"}, Types: []string{"profile"}}},
		{"POST", "/api/lists/{id}/relationships/profiles", RequestBody{Required: []string{"data"}, Types: []string{"profile"}, List: true}},
		{"PATCH", "/api/campaign-messages/{id}/relationships/image", RequestBody{Required: []string{"data"}, Types: []string{"image"}}},
		{"POST", "/api/data-privacy-deletion-jobs", RequestBody{Required: []string{"data"}, Types: []string{"data-privacy-deletion-job"}}},
		{"POST", "/api/image-upload", RequestBody{Required: []string{"file"}}}, // multipart form data
	} {
		op, ok := Find(tc.method, tc.path)
		if !ok || !slices.Equal(op.Body.Required, tc.want.Required) || !slices.Equal(op.Body.Types, tc.want.Types) || op.Body.List != tc.want.List {
			t.Errorf("%s %s: body %+v, want %+v", tc.method, tc.path, op.Body, tc.want)
		}
	}
	withTypes := 0
	for _, op := range Operations() {
		switch {
		case !op.HasBody:
			if op.Body.Required != nil || op.Body.Types != nil {
				t.Errorf("%s has no body but records %+v", op, op.Body)
			}
		case len(op.Body.Types) > 0:
			withTypes++
			if !slices.Contains(op.Body.Required, "data") {
				t.Errorf("%s: data.type recorded but data not required: %+v", op, op.Body)
			}
		case op.Path != "/api/image-upload":
			t.Errorf("%s: no data.type recorded", op)
		}
	}
	if withTypes < 100 {
		t.Errorf("only %d operations record data.type", withTypes)
	}
}

func TestLiteralSegmentsWinOverParameters(t *testing.T) {
	// Klaviyo's stable spec has no such pair today; a future one must not read "bulk" as an id.
	byID := &Operation{Method: "GET", Path: "/api/profiles/{id}", ID: "by_id"}
	bulk := &Operation{Method: "GET", Path: "/api/profiles/bulk", ID: "bulk"}
	ts := []template{{byID, templateSegments(byID.Path)}, {bulk, templateSegments(bulk.Path)}}
	if op, _ := find(ts, "GET", "/api/profiles/bulk"); op.ID != "bulk" {
		t.Errorf("/api/profiles/bulk matched %s", op.ID)
	}
	if op, _ := find(ts, "GET", "/api/profiles/01HX"); op.ID != "by_id" {
		t.Errorf("/api/profiles/01HX matched %s", op.ID)
	}
}

func TestNearest(t *testing.T) {
	got := Nearest("GET", "/api/profile", 3)
	if len(got) != 3 || got[0].Path != "/api/profiles" {
		t.Errorf("nearest to GET /api/profile: %v", got)
	}
}

// TestNearestNormalisesWhatPeopleType: upper case, a missing /api prefix and doubled slashes are
// what people type, and the nearest operation is the one they meant.
func TestNearestNormalisesWhatPeopleType(t *testing.T) {
	for _, path := range []string{"/profiles", "profiles", "/API/PROFILES", "/api//profiles", "//Api/Profiles/"} {
		got := Nearest("GET", path, 3)
		if len(got) == 0 || got[0].Path != "/api/profiles" {
			t.Errorf("nearest to GET %s: %v, want /api/profiles first", path, got)
		}
	}
	if _, ok := Find("GET", "/API/PROFILES"); ok {
		t.Error("Find matched a path Klaviyo would not route: paths are case-sensitive")
	}
}

func TestTierNames(t *testing.T) {
	for _, tc := range []struct {
		b, s int
		want string
	}{{1, 15, "XS"}, {3, 60, "S"}, {10, 150, "M"}, {75, 700, "L"}, {75, 750, "L"}, {350, 3500, "XL"}, {1, 2, "1/s 2/m"}} {
		if got := TierName(tc.b, tc.s); got != tc.want {
			t.Errorf("TierName(%d, %d) = %q, want %q", tc.b, tc.s, got, tc.want)
		}
	}
}

// The generated file must be what the generator makes of the vendored spec today.
func TestGeneratedCatalogIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerating the catalog parses the 3 MB spec; skipped with -short")
	}
	out := filepath.Join(t.TempDir(), "catalog_gen.go")
	cmd := exec.Command("go", "run", "./internal/gen", "-spec", specDir, "-out", out)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(out)
	got, _ := os.ReadFile("catalog_gen.go")
	if string(got) != string(want) {
		t.Fatal("catalog_gen.go is stale: run `make generate`")
	}
}

// Each stable operation carries the success status its spec documents, and the sparse fieldsets it
// allows; the probes' sparse fieldsets are among them.
func TestSuccessStatusesAndFields(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/profiles", 200},
		{"POST", "/api/profiles", 201},
		{"PATCH", "/api/profiles/{id}", 200},
		{"POST", "/api/events", 202},
		{"POST", "/api/profile-import", 201}, // 200 or 201: a store that holds nothing creates
		{"DELETE", "/api/webhooks/{id}", 204},
		{"POST", "/api/lists/{id}/relationships/profiles", 204},
	} {
		if op, _ := Find(tc.method, tc.path); op.Success != tc.want {
			t.Errorf("%s %s: success %d, want %d", tc.method, tc.path, op.Success, tc.want)
		}
	}
	for _, op := range Operations() {
		if op.Success < 200 || op.Success > 204 || op.SuccessDoc != (op.Success == 200 || op.Success == 201 || op.SuccessDoc) || (op.Success == 204 && op.SuccessDoc) {
			t.Errorf("%s: success status %d, document %v", op, op.Success, op.SuccessDoc)
		}
		if op.Sparse == "" {
			continue
		}
		q, err := url.ParseQuery(op.Sparse)
		if err != nil {
			t.Fatal(err)
		}
		for name, vals := range q {
			typ := strings.TrimSuffix(strings.TrimPrefix(name, "fields["), "]")
			if !slices.Contains(op.Fields[typ], vals[0]) {
				t.Errorf("%s: sparse %s=%s not among the fields the spec allows %v", op, name, vals[0], op.Fields[typ])
			}
		}
	}
	if op, _ := Find("POST", "/api/events"); op.SuccessDoc {
		t.Error("POST /api/events answers 202 without a body")
	}
	if op, _ := Find("POST", "/api/profiles"); !op.SuccessDoc {
		t.Error("POST /api/profiles answers 201 with the profile")
	}
	if op, _ := Find("GET", "/api/profiles"); !slices.Contains(op.Fields["profile"], "email") || slices.Contains(op.Fields["profile"], "password") {
		t.Errorf("get_profiles fields[profile]: %v", op.Fields["profile"])
	}
}

func TestKnownRevision(t *testing.T) {
	for rev, want := range map[string]bool{SpecRevision: true, SpecRevision + ".pre": true, "2026-07-16": false, "2025-04-15": false, "": false} {
		if got := KnownRevision(rev); got != want {
			t.Errorf("KnownRevision(%q) = %v", rev, got)
		}
	}
}

// FuzzFindByShape: for any method and path a user or a proxied caller may send, Find answers as a
// search of the whole catalog does.
func FuzzFindByShape(f *testing.F) {
	for _, s := range []string{"/api/profiles", "/api/profiles/x/", "//a.klaviyo.com/api/profiles", "https://a.klaviyo.com/api/lists/1?x=y", " api/profiles ", "/", "", "/api//profiles"} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		want, wok := find(templates(), method, path)
		got, gok := Find(method, path)
		if gok != wok || got.ID != want.ID {
			t.Fatalf("Find(%q, %q) = %s, %v; a full search finds %s, %v", method, path, got.ID, gok, want.ID, wok)
		}
	})
}
