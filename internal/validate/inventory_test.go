package validate

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/sandbox"
)

// readScopesBut is every read scope a key can hold, except one: a read-only key's excess.
func readScopesBut(except string) []string {
	var out []string
	for _, s := range catalog.AssignableScopes() {
		if !IsWrite(s) && s != except {
			out = append(out, s)
		}
	}
	return out
}

func inventoryOf(w *world, t *testing.T, keyName string) InventorySource {
	k := w.key(t, keyName)
	return InventorySource{Name: "role " + keyName, Credential: func(context.Context) (klaviyo.Credential, error) {
		return klaviyo.PrivateKey(k.Secret), nil
	}}
}

func TestInventoryDemo(t *testing.T) {
	w := newWorld(t, nil)
	var targets []Target
	for _, role := range []string{"admin", "marketer", "developer", "viewer", "service"} {
		targets = append(targets, w.target(t, role, role))
	}
	disabled := w.target(t, "reporting", "legacy-export")
	disabled.Required = []string{"profiles:read"}
	targets = append(targets, disabled)
	rep, err := Inventory(context.Background(), targets, inventoryOf(w, t, "admin"), w.options())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		role    string
		verdict Verdict
		missing []string
		excess  []string
		status  string
	}{
		{"admin", VerdictValid, []string{}, []string{}, "active"},
		{"marketer", VerdictValid, []string{}, []string{}, "active"},
		{"developer", VerdictInvalid, []string{"webhooks:write"}, []string{}, "active"},
		{"viewer", VerdictValid, []string{}, []string{}, "active"},
		{"service", VerdictInvalid, []string{}, []string{"data-privacy:write"}, "active"},
		{"reporting", VerdictInvalid, []string{}, readScopesBut("profiles:read"), "disabled"},
	} {
		rr := roleReport(t, rep, tc.role)
		if rr.Verdict != tc.verdict || !slices.Equal(rr.Missing, tc.missing) || !slices.Equal(rr.Excess, tc.excess) || rr.KeyStatus != tc.status {
			t.Errorf("%s: %s missing %v excess %v status %q; want %s %v %v %q", tc.role, rr.Verdict, rr.Missing, rr.Excess, rr.KeyStatus,
				tc.verdict, tc.missing, tc.excess, tc.status)
		}
		if rr.Method != ByInventory || len(rr.Undetermined) != 0 || rr.WritesInferred {
			t.Errorf("%s: %+v", tc.role, rr)
		}
	}
	if p := roleReport(t, rep, "reporting").Problems; len(p) != 1 || !strings.Contains(p[0], "is disabled") {
		t.Errorf("disabled key: problems %v", p)
	}
	// The listing, and the account it is of: the service key names its account (DEMO01), and the
	// admin key that lists the keys does not say which account it belongs to.
	if rep.Inventory != "role admin" || rep.InventoryAccount != "DEMO01" || rep.Summary.Requests != 2 || w.srv.Stats().Requests != 2 {
		t.Errorf("inventory %q of %q, %d requests reported, %d made", rep.Inventory, rep.InventoryAccount, rep.Summary.Requests, w.srv.Stats().Requests)
	}
	if admin := roleReport(t, rep, "admin"); admin.KeyName != "admin" || admin.KeyCreated != "2025-03-04T00:00:00Z" || admin.KeyAgeDays == nil || *admin.KeyAgeDays < 500 {
		t.Errorf("admin's key: name %q created %q age %v", admin.KeyName, admin.KeyCreated, admin.KeyAgeDays)
	}
}

// A key is matched by its account and its visible suffix. An older key absent from the listing
// (another account's, or deleted) is a finding; so is a key that names this account and is not in
// it. Two keys ending alike, with different scopes, cannot be told apart without a probe, and a key
// that names another account is not in this listing: both undetermined, never whichever comes
// first.
func TestInventoryMatching(t *testing.T) {
	fx := mustFixture(t, `
accounts:
  - id: ACME01
    keys:
      - {name: admin, key: pk_00000000000000000000000000000000aa, scopes: [full]}
      - {name: one, key: pk_11111111111111111111111111111100ab, scopes: [lists:read]}
      - {name: two, key: pk_22222222222222222222222222222200ab, scopes: [lists:write]}
      - {name: same1, key: pk_44444444444444444444444444444400cd, scopes: [lists:read]}
      - {name: same2, key: pk_55555555555555555555555555555500cd, scopes: [lists:read]}
  - id: ACME02
    keys:
      - {name: other, key: pk_33333333333333333333333333333333cc, scopes: [lists:read]}
      - {name: named, key: pk_ACME02_66666666666666666666666666666600ab, scopes: [lists:read]}
`)
	w := newWorld(t, fx)
	var targets []Target
	for _, name := range []string{"one", "other", "named", "same1"} {
		tg := w.target(t, name, name)
		tg.Required = []string{"lists:read"}
		targets = append(targets, tg)
	}
	deleted := Target{Role: "deleted", Required: []string{"lists:read"}, KeySource: "test", AccountID: "ACME01",
		Key: klaviyo.PrivateKey("pk_ACME01_7777777777777777777777777777777777")}
	targets = append(targets, deleted)
	rep, err := Inventory(context.Background(), targets, inventoryOf(w, t, "admin"), w.options())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		role    string
		verdict Verdict
		says    string
	}{
		{"one", VerdictUndetermined, `ambiguous: 2 keys of the account end like pk_****00ab ("one", "two")`},
		{"other", VerdictInvalid, "no key of the account ends like pk_****33cc"},
		{"named", VerdictUndetermined, "the key names account ACME02, and the inventory lists account ACME01's keys"},
		{"deleted", VerdictInvalid, "no key of account ACME01 ends like pk_****7777: the key was deleted"},
	} {
		if rr := roleReport(t, rep, tc.role); rr.Verdict != tc.verdict || len(rr.Problems) != 1 || !strings.Contains(rr.Problems[0], tc.says) {
			t.Errorf("%s: %s %v; want %s saying %q", tc.role, rr.Verdict, rr.Problems, tc.verdict, tc.says)
		}
	}
	// Two keys ending alike that hold the same scopes give the same verdict whichever it is.
	if rr := roleReport(t, rep, "same1"); rr.Verdict != VerdictValid || len(rr.Notes) != 1 || !strings.Contains(rr.Notes[0], "the verdict holds for either") {
		t.Errorf("alike: %s %v %v", rr.Verdict, rr.Problems, rr.Notes)
	}
	if rep.InventoryAccount != "ACME01" {
		t.Errorf("inventory account %q", rep.InventoryAccount)
	}
	// The keys a role's key might be are all in use, as far as the listing can tell.
	roles := map[string][]string{}
	for _, k := range rep.Keys {
		roles[k.Name] = k.Roles
	}
	for name, want := range map[string][]string{"one": {"one"}, "two": {"one"}, "same1": {"same1"}, "same2": {"same1"}, "admin": {}} {
		if !slices.Equal(roles[name], want) {
			t.Errorf("key %s: roles %v, want %v", name, roles[name], want)
		}
	}
}

func TestInventoryNeedsCredentialsRead(t *testing.T) {
	w := newWorld(t, nil)
	_, err := Inventory(context.Background(), []Target{w.target(t, "viewer", "viewer")}, inventoryOf(w, t, "marketer"), w.options())
	if err == nil || !strings.Contains(err.Error(), "cannot list the account's keys with role marketer") || !errors.Is(err, klaviyo.PermissionDenied) ||
		len(fault.Hints(err)) != 1 || !strings.Contains(fault.Hints(err)[0], "credentials:read") {
		t.Fatalf("error %v", err)
	}
	// The seam: any credential, fetched only when needed; its failure ends the run.
	src := InventorySource{Name: "oauth app default", Credential: func(context.Context) (klaviyo.Credential, error) {
		return klaviyo.Credential{}, errors.New("no token")
	}}
	if _, err := Inventory(context.Background(), nil, src, w.options()); err == nil || err.Error() != "no token" {
		t.Errorf("error %v", err)
	}
}

// Inventory and probe agree on every key of every fixture: what the probe settles, the inventory
// says the same; what the probe leaves open is only what the companion rule leaves open; a
// disabled key is rejected by the probe and reported disabled by the inventory.
func TestInventoryAndProbeAgree(t *testing.T) {
	fixtures := map[string]*sandbox.Fixture{"demo": sandbox.DemoFixture()}
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "sandbox", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		fx, err := sandbox.LoadFixture(file)
		if err != nil {
			t.Fatal(err)
		}
		// The keys are what is compared: a fixture's injected faults are other tests' business.
		fx.Latency, fx.Faults = 0, sandbox.Faults{}
		fixtures[name] = fx
	}
	if len(fixtures) < 4 {
		t.Fatalf("%d fixtures, want the demo and every file of testdata/sandbox", len(fixtures))
	}
	for name, fx := range fixtures {
		t.Run(name, func(t *testing.T) {
			// A key of each account to list the account's keys with.
			for i := range fx.Accounts {
				fx.Accounts[i].Keys = append(fx.Accounts[i].Keys, sandbox.Key{Name: "klrbac-inventory",
					Secret: listerKey(fx.Accounts[i].ID), Scopes: []string{"credentials:read"}, Status: sandbox.Active})
			}
			w := newWorld(t, fx)
			for _, acct := range fx.Accounts {
				var targets []Target
				for _, k := range acct.Keys {
					if k.Name == "klrbac-inventory" {
						continue
					}
					targets = append(targets, Target{Role: k.Name, KeySource: "test", Key: klaviyo.PrivateKey(k.Secret)})
				}
				probed, err := Probe(context.Background(), targets, w.options())
				if err != nil {
					t.Fatal(err)
				}
				listed, err := Inventory(context.Background(), targets, InventorySource{Name: "lister", Credential: func(context.Context) (klaviyo.Credential, error) {
					return klaviyo.PrivateKey(listerKey(acct.ID)), nil
				}}, w.options())
				if err != nil {
					t.Fatal(err)
				}
				for i, p := range probed.Roles {
					inv := listed.Roles[i]
					if inv.KeyStatus == "disabled" {
						if p.Verdict != VerdictRejected {
							t.Errorf("%s/%s: disabled in the inventory, probe says %s", acct.ID, p.Role, p.Verdict)
						}
						continue
					}
					if p.Verdict == VerdictRejected {
						t.Errorf("%s/%s: probe rejected an active key", acct.ID, p.Role)
						continue
					}
					held := inv.Granted
					for _, s := range p.Checked {
						pr := slices.Contains(p.Granted, s)
						ir := slices.Contains(held, s)
						if slices.Contains(p.Undetermined, s) {
							r, _ := RequestFor(s)
							if len(r.Companions) == 0 {
								t.Errorf("%s/%s: %s undetermined without a companion: %s", acct.ID, p.Role, s, p.Reasons[s])
							}
							continue
						}
						if pr != ir {
							t.Errorf("%s/%s: %s granted by probe %v, by inventory %v", acct.ID, p.Role, s, pr, ir)
						}
					}
				}
			}
		})
	}
}

func listerKey(account string) string { return "pk_" + account + "_ffffffffffffffffffffffffffffffffff" }

func TestParseKeyList(t *testing.T) {
	keys, next, err := ParseKeyList([]byte(`{"data":[{"type":"api-key","id":"k1","attributes":{"name":"a","status":"active","scopes":["lists:read","flows:read"],"redacted_key":"pk_****a1b2"}}],"links":{"next":"https://a.klaviyo.com/api/api-keys?page[cursor]=x"}}`))
	if err != nil || len(keys) != 1 || next != "https://a.klaviyo.com/api/api-keys?page[cursor]=x" {
		t.Fatalf("%v %q %v", keys, next, err)
	}
	if k := keys[0]; k.Name != "a" || k.Status != "active" || !slices.Equal(k.Scopes, []string{"flows:read", "lists:read"}) || k.RedactedKey != "pk_****a1b2" {
		t.Errorf("%+v", k)
	}
	for _, bad := range []string{``, `{}`, `{"data":null}`, `{"data":[{"type":"profile"}]}`, `[]`, `{"data":{}}`} {
		if _, _, err := ParseKeyList([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// The listing's next page is followed only on the configured API: the credential goes nowhere else.
func TestListKeysPages(t *testing.T) {
	var calls []string
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls = append(calls, r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/vnd.api+json")
		switch r.URL.Query().Get("page[cursor]") {
		case "":
			_, _ = w.Write([]byte(`{"data":[{"type":"api-key","id":"1","attributes":{"redacted_key":"pk_****0001"}}],"links":{"next":"` + srvURL + `/api/api-keys?page[cursor]=2&additional-fields[api-key]=redacted_key"}}`))
		case "2":
			_, _ = w.Write([]byte(`{"data":[{"type":"api-key","id":"2","attributes":{"redacted_key":"pk_****0002"}}],"links":{"next":"https://evil.example/api/api-keys?page[cursor]=3"}}`))
		}
	}))
	defer srv.Close()
	srvURL = srv.URL
	c := klaviyo.New(klaviyo.Options{APIURL: srv.URL})
	_, n, err := ListKeys(context.Background(), c, srv.URL, klaviyo.DefaultRevision, klaviyo.PrivateKey("pk_00000000000000000000000000000000aa"), "")
	if err == nil || !strings.Contains(err.Error(), "refusing to follow a next page outside") || n != 2 || len(calls) != 2 {
		t.Fatalf("%d calls %v: %v", n, calls, err)
	}
	if !strings.Contains(calls[1], "page[cursor]=2") {
		t.Errorf("second call %s", calls[1])
	}
}

func TestRedactedMatches(t *testing.T) {
	for _, tc := range []struct {
		redacted, mask string
		want           bool
	}{
		{"pk_****a1b2", "pk_****a1b2", true},
		{"pk_********a1b2", "pk_****a1b2", true},
		{"pk_****a1b2", "pk_****a1b3", false},
		{"****a1b2", "pk_****a1b2", false},
		{"pk_****", "pk_****", false},
		{"", "", false},
	} {
		if got := redactedMatches(tc.redacted, tc.mask); got != tc.want {
			t.Errorf("%q vs %q: %v", tc.redacted, tc.mask, got)
		}
	}
}

func FuzzParseKeyList(f *testing.F) {
	f.Add([]byte(`{"data":[{"type":"api-key","id":"k1","attributes":{"name":"a","status":"active","scopes":["lists:read"],"redacted_key":"pk_****a1b2"}}],"links":{"next":null}}`))
	f.Add([]byte(`{"data":[],"links":{}}`))
	f.Add([]byte(`{"data":[{"type":"api-key","attributes":{"scopes":null}}]}`))
	f.Add([]byte(`<html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, next, err := ParseKeyList(body)
		if err != nil {
			if keys != nil || next != "" {
				t.Fatal("partial result with an error")
			}
			return
		}
		for _, k := range keys {
			if !slices.IsSorted(k.Scopes) {
				t.Fatalf("scopes not sorted: %v", k.Scopes)
			}
		}
	})
}
