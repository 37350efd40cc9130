package sandbox_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/sandbox"
)

// TestDemoFixtureShowsEveryVerdict pins the demo's story against the default policy: admin holds
// full access, marketer and viewer are exact, developer lacks a scope, service holds one too many.
func TestDemoFixtureShowsEveryVerdict(t *testing.T) {
	pol := policy.Default()
	f := sandbox.DemoFixture()
	if len(f.Accounts) != 1 || f.Accounts[0].ID != "DEMO01" || len(f.Accounts[0].OAuthClients) != 1 {
		t.Fatalf("demo fixture: %+v", f)
	}
	keys := map[string]sandbox.Key{}
	for _, k := range f.Accounts[0].Keys {
		keys[k.Name] = k
	}
	verdict := func(role string) (missing, excess []string) {
		r, ok := pol.Role(role)
		if !ok {
			t.Fatalf("no role %s", role)
		}
		need := pol.RequiredScopes(r)
		held := keys[role].Granted()
		for _, s := range need {
			if !slices.Contains(held, s) {
				missing = append(missing, s)
			}
		}
		for _, s := range held {
			if !slices.Contains(need, s) {
				excess = append(excess, s)
			}
		}
		return missing, excess
	}
	for role, want := range map[string][2]string{
		"marketer":  {"", ""},
		"viewer":    {"", ""},
		"developer": {"webhooks:write", ""},
		"service":   {"", "data-privacy:write"},
	} {
		missing, excess := verdict(role)
		if strings.Join(missing, ",") != want[0] || strings.Join(excess, ",") != want[1] {
			t.Errorf("%s: missing %v excess %v, want missing [%s] excess [%s]", role, missing, excess, want[0], want[1])
		}
	}
	if missing, _ := verdict("admin"); len(missing) > 0 || !slices.Equal(keys["admin"].Scopes, []string{"full"}) {
		t.Errorf("admin: missing %v, scopes %v", missing, keys["admin"].Scopes)
	}
	if keys["legacy-export"].Status != sandbox.Disabled {
		t.Error("legacy-export is not disabled")
	}
	c := f.Accounts[0].OAuthClients[0]
	if !slices.Equal(c.RedirectURIs, []string{"http://127.0.0.1:8765/callback", "http://localhost:8765/callback"}) {
		t.Errorf("demo redirect URIs: %v", c.RedirectURIs)
	}
	// Fresh copies: a caller changing one does not change the next.
	f.Accounts[0].Keys[0].Status = sandbox.Disabled
	if sandbox.DemoFixture().Accounts[0].Keys[0].Status != sandbox.Active {
		t.Error("DemoFixture shares state between calls")
	}
}

func TestFixtureExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("../../testdata/sandbox/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example fixtures: %v", err)
	}
	for _, file := range files {
		f, err := sandbox.LoadFixture(file)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if len(f.Accounts) == 0 {
			t.Errorf("%s: no accounts", file)
		}
	}
}

func TestFixtureShorthandsAndDefaults(t *testing.T) {
	f, err := sandbox.ParseFixture("f.yaml", []byte(`
latency: 25ms
rate_limits: false
faults:
  unavailable: 0.25
  retry_after: false
  accept_writes: true
accounts:
  - id: Ab12Cd
    keys:
      - {name: ro, key: pk_0000000000000000000000000000000001, scopes: [read-only]}
      - {name: full, key: pk_Ab12Cd_0000000000000000000000000000000002, scopes: [full], status: disabled}
`))
	if err != nil {
		t.Fatal(err)
	}
	a := f.Accounts[0]
	if a.Name != "Ab12Cd" || f.Latency.Milliseconds() != 25 || f.RateLimits || f.Faults.Unavailable != 0.25 || !f.Faults.NoRetryAfter || !f.Faults.AcceptWrites {
		t.Errorf("fixture: %+v", f)
	}
	ro := a.Keys[0].Granted()
	if len(ro) == 0 || slices.ContainsFunc(ro, func(s string) bool { return catalog.AccessOf(s) != catalog.Read }) || !slices.Contains(ro, "credentials:read") {
		t.Errorf("read-only: %v", ro)
	}
	if a.Keys[0].Status != sandbox.Active || a.Keys[1].Status != sandbox.Disabled || len(a.Keys[1].Granted()) != len(catalog.AssignableScopes()) {
		t.Errorf("keys: %+v", a.Keys)
	}
	if a.Keys[0].ID() == a.Keys[1].ID() || !strings.HasPrefix(a.Keys[0].ID(), "key_") {
		t.Errorf("key ids: %s %s", a.Keys[0].ID(), a.Keys[1].ID())
	}
}

func TestFixtureProblemsNameTheirLine(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // each a problem's message, in order
	}{
		{"not yaml", "accounts: [", []string{"f.yaml:1: did not find expected node content"}},
		{"not a mapping", "- a\n- b\n", []string{"f.yaml:1: expected a mapping at the top level, found a list"}},
		{"no accounts", "latency: 0ms\n", []string{"f.yaml:1: fixture has no accounts"}},
		{"empty accounts", "accounts: []\n", []string{"f.yaml:1: accounts: the list is empty"}},
		{"unknown top-level key", "accounts: []\nlatencey: 1s\n", []string{
			"f.yaml:1: accounts: the list is empty", `f.yaml:2: fixture: unknown field "latencey"`}},
		{"bad account id", "accounts:\n  - id: toolong1\n", []string{`f.yaml:2: account id "toolong1" is not 6 letters and digits`}},
		{"missing id", "accounts:\n  - name: x\n", []string{"f.yaml:2: account: missing id"}},
		{"field given twice", "accounts:\n  - id: ACME01\n    id: ACME02\n", []string{`f.yaml:3: account: "id" is defined twice (first on line 2)`}},
		{"empty account", "accounts:\n  -\nfaults:\n", []string{"f.yaml:2: account: missing id"}},
		{"scope listed twice", `accounts:
  - id: ACME01
    keys:
      - {name: v, key: pk_0000000000000000000000000000000001, scopes: [profiles:read, profiles:read]}
`, []string{`f.yaml:4: scopes: "profiles:read" is listed twice`}},
		{"bad key", `accounts:
  - id: ACME01
    keys:
      - name: v
        key: sk_live_0123456789
        scopes: [profiles:reed, full]
        status: gone
`, []string{
			`f.yaml:5: key v: ****6789 is not a Klaviyo private key: private keys start with pk_`,
			`f.yaml:6: unknown Klaviyo scope "profiles:reed"`,
			`f.yaml:6: scope "full" cannot be combined with other scopes`,
			`f.yaml:7: key status "gone" is not active or disabled`,
		}},
		{"key of another account", `accounts:
  - id: ACME01
    keys:
      - {name: v, key: pk_ACME02_0000000000000000000000000000000001, scopes: []}
`, []string{"f.yaml:4: key v: names account ACME02 but is listed under account ACME01"}},
		{"duplicates", `accounts:
  - id: ACME01
    keys:
      - {name: v, key: pk_0000000000000000000000000000000001, scopes: []}
      - {name: v, key: pk_0000000000000000000000000000000001, scopes: []}
  - id: ACME01
`, []string{
			`f.yaml:5: account ACME01: key name "v" is used twice`,
			"f.yaml:5: key v: the same key value is listed twice",
			"f.yaml:6: account id ACME01 is used twice",
		}},
		{"oauth client", `accounts:
  - id: ACME01
    oauth_clients:
      - name: app
        client_id: app
        redirect_uris: [ftp://x/cb, "http://127.0.0.1:1/cb#frag"]
`, []string{
			"f.yaml:4: oauth client: missing client_secret",
			"f.yaml:4: oauth client app: no redirect_uris",
			`f.yaml:6: redirect uri "ftp://x/cb" is not an absolute http(s) URL`,
			`f.yaml:6: redirect uri "http://127.0.0.1:1/cb#frag" is not an absolute http(s) URL`,
		}},
		{"faults", "accounts:\n  - id: ACME01\nlatency: soon\nfaults:\n  reset: 2\n  retry_after: maybe\n", []string{
			`f.yaml:3: latency: "soon" is not a duration`,
			`f.yaml:5: faults.reset: expected a fraction between 0 and 1, found "2"`,
			`f.yaml:6: faults.retry_after: expected true or false, found "maybe"`,
		}},
		{"latency out of range", "accounts:\n  - id: ACME01\nlatency: 2m\n", []string{
			`f.yaml:3: latency: "2m" is out of range: it must be from 0s to 1m`,
		}},
		{"negative latency", "accounts:\n  - id: ACME01\nlatency: -5ms\n", []string{
			`f.yaml:3: latency: "-5ms" is out of range: it must be from 0s to 1m`,
		}},
		{"latency of nothing", "accounts:\n  - id: ACME01\nlatency:\n", []string{
			`f.yaml:3: latency: expected a string, found nothing`,
		}},
		{"empty latency", "accounts:\n  - id: ACME01\nlatency: ''\n", []string{
			`f.yaml:3: latency: "" is not a duration`,
		}},
		{"short key", `accounts:
  - id: ACME01
    keys:
      - {name: v, key: pk_0123abcd, scopes: []}
      - {name: w, key: pk_ACME01_0123456789ABCDEF0123456789ABCDEF01, scopes: []}
`, []string{
			"f.yaml:4: key v: pk_**** is not a Klaviyo private key: expected 34 hexadecimal digits after pk_ (or after the account id), got 8 characters",
			"f.yaml:5: key w: pk_****EF01 is not a Klaviyo private key: its digits must be lowercase hexadecimal",
		}},
	} {
		_, err := sandbox.ParseFixture("f.yaml", []byte(tc.yaml))
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if fault.KindOf(err) != fault.Config {
			t.Errorf("%s: kind %v, want Config (exit 2)", tc.name, fault.KindOf(err))
		}
		var got []string
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				got = append(got, e.Error())
			}
		} else {
			got = []string{err.Error()}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
		for _, e := range got {
			if strings.Contains(e, "sk_l") || strings.Contains(e, "pk_0") {
				t.Errorf("%s: a problem echoes the key: %s", tc.name, e)
			}
		}
	}
}

func TestLoadFixtureMissingFile(t *testing.T) {
	_, err := sandbox.LoadFixture(filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil || fault.KindOf(err) != fault.Config || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzParseFixture: any input gives a fixture or configuration errors, never a panic, and a fixture
// that parses serves.
func FuzzParseFixture(f *testing.F) {
	f.Add(sandbox.DemoYAML())
	for _, seed := range []string{
		"accounts: [{id: ACME01, keys: [{name: a, key: pk_0000000000000000000000000000000001, scopes: [full]}]}]",
		"accounts:\n  - id: ACME01\n    oauth_clients:\n      - {name: a, client_id: a, client_secret: b, redirect_uris: [http://127.0.0.1:1/cb]}\n",
		"latency: 1s\nfaults: {unavailable: 0.5, edge_block: 1, reset: 0, throttle: 0.1, retry_after: false, accept_writes: true}\naccounts: []",
		"accounts: &a [*a]", "", "~", "accounts:\n  - id: ACME01\n    keys: {name: x}\n", "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fx, err := sandbox.ParseFixture("fuzz.yaml", data)
		if err != nil {
			if fault.KindOf(err) != fault.Config {
				t.Fatalf("error of kind %v: %v", fault.KindOf(err), err)
			}
			return
		}
		if len(fx.Accounts) == 0 {
			t.Fatal("a fixture without accounts parsed")
		}
		_ = sandbox.New(fx, sandbox.Options{})
	})
}
