package validate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/sandbox"
)

func demoTargets(t *testing.T, w *world) []Target {
	t.Helper()
	var targets []Target
	for _, role := range []string{"admin", "marketer", "developer", "viewer", "service"} {
		targets = append(targets, w.target(t, role, role))
	}
	return targets
}

// auto reads the inventory when a role's key can (admin's, full access): two calls instead of
// one probe per scope, and the same verdicts the probe gives. The account's keys are reported with
// their ages: the disabled key no role uses is unused, the admin key is the one that listed them.
func TestAutoReadsTheInventoryWhenAKeyCan(t *testing.T) {
	w := newWorld(t, nil)
	opts := w.options()
	opts.EveryRole = true
	rep, err := Validate(context.Background(), demoTargets(t, w), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Method != ByInventory || rep.MethodRequested != ByAuto || rep.MethodReason != "" || rep.Inventory != "role admin" || rep.Summary.Requests != 2 {
		t.Errorf("method %s (asked %s, %q) with %q, %d requests", rep.Method, rep.MethodRequested, rep.MethodReason, rep.Inventory, rep.Summary.Requests)
	}
	want := map[string]Verdict{"admin": VerdictValid, "marketer": VerdictValid, "developer": VerdictInvalid, "viewer": VerdictValid, "service": VerdictInvalid}
	for role, v := range want {
		if rr := roleReport(t, rep, role); rr.Verdict != v || rr.Method != ByInventory {
			t.Errorf("%s: %s by %s, want %s", role, rr.Verdict, rr.Method, v)
		}
	}
	if len(rep.Keys) != 6 {
		t.Fatalf("%d keys reported, want the demo's 6", len(rep.Keys))
	}
	for _, k := range rep.Keys {
		wantUnused := k.Name == "legacy-export"
		if k.Unused != wantUnused || (len(k.Roles) == 0) != wantUnused || k.InventoryCredential != (k.Name == "admin") || k.AgeDays == nil || k.TooOld {
			t.Errorf("key %s: %+v", k.Name, k)
		}
	}
	// The same run without --all cannot tell an unused key from one another role holds.
	opts.EveryRole = false
	rep, err = Validate(context.Background(), demoTargets(t, w)[:2], opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range rep.Keys {
		if k.Unused {
			t.Errorf("key %s reported unused by a run over two roles", k.Name)
		}
	}
}

// Without a credential that can list the keys, auto probes, and says why.
func TestAutoProbesWithoutAnInventory(t *testing.T) {
	w := newWorld(t, nil)
	targets := demoTargets(t, w)[1:4] // marketer, developer, viewer: no full access, no credentials:read
	rep, err := Validate(context.Background(), targets, w.options())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Method != ByProbe || !strings.Contains(rep.MethodReason, "auto: no configured credential can list the account's keys") || len(rep.Keys) != 0 {
		t.Errorf("method %s: %q, %d keys", rep.Method, rep.MethodReason, len(rep.Keys))
	}
	// A named credential Klaviyo refuses the listing: probed, and the reason names it.
	opts := w.options()
	opts.Inventory = []InventorySource{inventoryOf(w, t, "marketer")}
	rep, err = Validate(context.Background(), targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Method != ByProbe || !strings.Contains(rep.MethodReason, "role marketer: not permitted (permission denied (HTTP 403 permission_denied)): it lacks credentials:read") {
		t.Errorf("method %s: %q", rep.Method, rep.MethodReason)
	}
	if roleReport(t, rep, "developer").Verdict != VerdictInvalid || rep.Summary.Requests < 50 {
		t.Errorf("probed: %+v", rep.Summary)
	}
	// A refused credential is passed over for the next one.
	opts.Inventory = append(opts.Inventory, inventoryOf(w, t, "admin"))
	rep, err = Validate(context.Background(), targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Method != ByInventory || rep.Inventory != "role admin" || !strings.Contains(rep.MethodReason, "after role marketer: not permitted") {
		t.Errorf("method %s with %q: %q", rep.Method, rep.Inventory, rep.MethodReason)
	}
}

// --method inventory never probes: without a credential it is a usage error, and when none can
// list the keys the run ends (exit 3).
func TestMethodInventoryNeverProbes(t *testing.T) {
	w := newWorld(t, nil)
	targets := demoTargets(t, w)[1:4]
	opts := w.options()
	opts.Method = ByInventory
	if _, err := Validate(context.Background(), targets, opts); fault.KindOf(err) != fault.Usage || !strings.Contains(err.Error(), "--method inventory needs a credential") {
		t.Errorf("no credential: %v", err)
	}
	opts.Inventory = []InventorySource{inventoryOf(w, t, "marketer"), inventoryOf(w, t, "viewer")}
	_, err := Validate(context.Background(), targets, opts)
	var re *RunError
	if !errors.As(err, &re) || fault.KindOf(err) != fault.Unavailable || re.Requests != 2 || !strings.Contains(err.Error(), "role marketer: not permitted") ||
		!strings.Contains(err.Error(), "role viewer: not permitted") {
		t.Errorf("refused: %v", err)
	}
	if n := w.srv.Stats().Operations["GET /api/api-keys"].Requests; n != 2 || w.srv.Stats().Requests != 2 {
		t.Errorf("%d listings, %d calls in all: something was probed", n, w.srv.Stats().Requests)
	}
	if _, err := ParseMethod("guess"); fault.KindOf(err) != fault.Usage {
		t.Errorf("ParseMethod(guess): %v", err)
	}
	for in, want := range map[string]Method{"": ByAuto, "auto": ByAuto, "Inventory": ByInventory, "probe": ByProbe} {
		if m, err := ParseMethod(in); err != nil || m != want {
			t.Errorf("ParseMethod(%q) = %s, %v", in, m, err)
		}
	}
}

// ambiguous is an account whose keys end alike in pairs, as two keys of one account may.
const ambiguous = `
accounts:
  - id: ACME01
    keys:
      - {name: lister, key: pk_ACME01_ffffffffffffffffffffffffffffffffff, scopes: [credentials:read, accounts:read]}
      - {name: reads, key: pk_11111111111111111111111111111100ab, scopes: [lists:read]}
      - {name: reads-more, key: pk_22222222222222222222222222222200ab, scopes: [lists:read, flows:read]}
      - {name: plain, key: pk_33333333333333333333333333333300cd, scopes: [lists:read]}
      - {name: writes, key: pk_44444444444444444444444444444400cd, scopes: [lists:read, lists:write]}
      - {name: live, key: pk_55555555555555555555555555555500ef, scopes: [lists:read]}
      - {name: dead, key: pk_66666666666666666666666666666600ef, scopes: [lists:read], status: disabled}
`

// With auto, a probe settles which of two keys ending alike a role's key is, when a proven answer
// tells them apart: a read granted or refused, a write refused (403), any answer at all against a
// disabled key. A write's 400, which rests on the uncalibrated check order, proves nothing, and
// the role stays undetermined.
func TestAutoSettlesAmbiguityByProbe(t *testing.T) {
	w := newWorld(t, mustFixture(t, ambiguous))
	var targets []Target
	for _, name := range []string{"reads", "reads-more", "plain", "writes", "live"} {
		tg := w.target(t, name, name)
		tg.Required = []string{"lists:read"}
		targets = append(targets, tg)
	}
	opts := w.options()
	opts.Inventory = []InventorySource{{Name: "lister", AccountID: "ACME01", Credential: func(context.Context) (klaviyo.Credential, error) {
		return klaviyo.PrivateKey(w.key(t, "lister").Secret), nil
	}}}
	opts.AllowExcess = true
	rep, err := Validate(context.Background(), targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		role, key string
		verdict   Verdict
		says      string
	}{
		{"reads", "reads", VerdictValid, `probing flows:read showed it is "reads"`},
		{"reads-more", "reads-more", VerdictValid, `probing flows:read showed it is "reads-more"`},
		{"plain", "plain", VerdictValid, `probing lists:write showed it is "plain"`},
		{"writes", "", VerdictUndetermined, "probing lists:write could not tell which"},
		{"live", "live", VerdictValid, `showed it is "live"`},
	} {
		rr := roleReport(t, rep, tc.role)
		text := strings.Join(append(rr.Notes, rr.Problems...), "; ")
		if rr.Verdict != tc.verdict || rr.KeyName != tc.key || !strings.Contains(text, tc.says) || rr.Method != ByInventory {
			t.Errorf("%s: %s, key %q by %s: %s; want %s, key %q, saying %q", tc.role, rr.Verdict, rr.KeyName, rr.Method, text, tc.verdict, tc.key, tc.says)
		}
	}
	// A key the probe ruled out is no role's; one it could not rule out may be.
	roles := map[string][]string{}
	for _, k := range rep.Keys {
		roles[k.Name] = k.Roles
	}
	for name, want := range map[string][]string{"reads": {"reads"}, "plain": {"plain", "writes"}, "writes": {"writes"}, "live": {"live"}, "dead": {}} {
		if !slices.Equal(roles[name], want) {
			t.Errorf("key %s: roles %v, want %v", name, roles[name], want)
		}
	}
	// Calibrated, a write's 400 is proof: the last ambiguity settles too.
	opts.Calibration = Calibration{State: Confirmed}
	rep, err = Validate(context.Background(), targets[3:4], opts)
	if err != nil {
		t.Fatal(err)
	}
	if rr := rep.Roles[0]; rr.Verdict != VerdictValid || rr.KeyName != "writes" {
		t.Errorf("writes, calibrated: %s %q %v %v", rr.Verdict, rr.KeyName, rr.Problems, rr.Notes)
	}
	// Without probing, the same ambiguities are undetermined.
	opts.Method = ByInventory
	rep, err = Validate(context.Background(), targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range rep.Roles {
		if rr.Verdict != VerdictUndetermined || !strings.Contains(rr.Problems[0], "a probe can tell them apart") {
			t.Errorf("%s by inventory only: %s %v", rr.Role, rr.Verdict, rr.Problems)
		}
	}
}

// With auto, keys the listing cannot settle are probed: a key naming another account, and an older
// key that no key of the listed account ends like.
func TestAutoProbesKeysOfOtherAccounts(t *testing.T) {
	w := newWorld(t, mustFixture(t, `
accounts:
  - id: ACME01
    keys:
      - {name: admin, key: pk_ACME01_00000000000000000000000000000000aa, scopes: [full]}
  - id: ACME02
    keys:
      - {name: named, key: pk_ACME02_11111111111111111111111111111111bb, scopes: [lists:read]}
      - {name: older, key: pk_22222222222222222222222222222222cc, scopes: [lists:read, lists:write]}
`))
	admin := w.target(t, "admin", "admin")
	named, older := w.target(t, "named", "named"), w.target(t, "older", "older")
	named.Required, older.Required = []string{"lists:read"}, []string{"lists:read"}
	opts := w.options()
	opts.RequiredOnly = true
	rep, err := Validate(context.Background(), []Target{admin, named, older}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Method != ByInventory || rep.InventoryAccount != "ACME01" || roleReport(t, rep, "admin").Method != ByInventory {
		t.Fatalf("method %s of %q", rep.Method, rep.InventoryAccount)
	}
	for _, tc := range []struct {
		role, says string
		verdict    Verdict
	}{
		{"named", "probed: the key names account ACME02, and the inventory lists account ACME01's keys", VerdictValid},
		{"older", "probed: no key of the listed account ends like pk_****22cc", VerdictValid},
	} {
		rr := roleReport(t, rep, tc.role)
		if rr.Method != ByProbe || rr.Verdict != tc.verdict || len(rr.Notes) != 1 || !strings.HasPrefix(rr.Notes[0], tc.says) {
			t.Errorf("%s: %s by %s, notes %v", tc.role, rr.Verdict, rr.Method, rr.Notes)
		}
	}
}

// --max-key-age makes an older key a finding; the keys section marks every key over it. A probed
// key's age is not known, so a role that would be valid is undetermined instead.
func TestMaxKeyAge(t *testing.T) {
	w := newWorld(t, nil)
	opts := w.options()
	opts.MaxKeyAge = 180 * 24 * time.Hour
	opts.EveryRole = true
	rep, err := Validate(context.Background(), demoTargets(t, w), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.MaxKeyAge != "180d" {
		t.Errorf("max key age %q", rep.MaxKeyAge)
	}
	admin := roleReport(t, rep, "admin")
	if admin.Verdict != VerdictInvalid || !strings.Contains(strings.Join(admin.Problems, ";"), "older than --max-key-age 180d: rotate it") {
		t.Errorf("admin (made 2025-03-04): %s %v", admin.Verdict, admin.Problems)
	}
	if viewer := roleReport(t, rep, "viewer"); viewer.Verdict != VerdictValid || viewer.KeyAgeDays == nil || *viewer.KeyAgeDays != 0 {
		t.Errorf("viewer (made when the sandbox started): %s %v", viewer.Verdict, viewer.Problems)
	}
	var old []string
	for _, k := range rep.Keys {
		if k.TooOld {
			old = append(old, k.Name)
		}
	}
	if !slices.Equal(old, []string{"admin", "service", "legacy-export"}) {
		t.Errorf("keys over the age: %v", old)
	}
	opts.Method = ByProbe
	opts.RequiredOnly = true
	rep, err = Validate(context.Background(), demoTargets(t, w)[3:4], opts)
	if err != nil {
		t.Fatal(err)
	}
	if rr := rep.Roles[0]; rr.Verdict != VerdictUndetermined || !strings.Contains(rr.Problems[0], "--max-key-age 180d: the key's age is not known") || rep.Summary.Result != ResultIncomplete {
		t.Errorf("probed viewer: %s %v", rr.Verdict, rr.Problems)
	}
	for in, want := range map[string]time.Duration{"180d": 180 * 24 * time.Hour, "26w": 26 * 7 * 24 * time.Hour, "90m": 90 * time.Minute} {
		if d, err := ParseAge(in); err != nil || d != want || (in != "90m" && FormatAge(d) != strings.Replace(in, "26w", "182d", 1)) {
			t.Errorf("ParseAge(%q) = %s, %v (%s)", in, d, err, FormatAge(d))
		}
	}
	for _, bad := range []string{"", "0d", "-3d", "soon", "d"} {
		if _, err := ParseAge(bad); fault.KindOf(err) != fault.Usage {
			t.Errorf("ParseAge(%q): %v", bad, err)
		}
	}
}

// The inventory holds to the evidence rules: every liar the sandbox can play ends the run or leaves
// no role valid, whatever the method.
func TestLiarsNeverMakeAKeyValid(t *testing.T) {
	for _, liar := range sandbox.Liars {
		for _, method := range []Method{ByAuto, ByInventory, ByProbe} {
			t.Run(liar+"/"+string(method), func(t *testing.T) {
				fx := sandbox.DemoFixture()
				fx.Faults.Liar = liar
				w := newWorld(t, fx)
				opts := w.options()
				opts.Method = method
				opts.Timeout = 2 * time.Second
				rep, err := Validate(context.Background(), demoTargets(t, w), opts)
				if err == nil {
					for _, rr := range rep.Roles {
						if rr.Verdict == VerdictValid {
							t.Errorf("%s is valid against a liar (%s)", rr.Role, liar)
						}
					}
					return
				}
				switch liar {
				case sandbox.LiarRevision, sandbox.LiarNoRevision:
					if fault.KindOf(err) != fault.Config {
						t.Errorf("a refused revision is a configuration error: %v", err)
					}
				default:
					if k := fault.KindOf(err); k != fault.Unavailable {
						t.Errorf("kind %v: %v", k, err)
					}
				}
			})
		}
	}
}

func TestRevisionWarning(t *testing.T) {
	if w := RevisionWarning(klaviyo.DefaultRevision); w != "" {
		t.Errorf("the catalog's revision warns: %s", w)
	}
	if w := RevisionWarning("2026-10-15"); !strings.Contains(w, "klaviyo.revision 2026-10-15 is not the revision klrbac's catalog was built from (2026-07-15)") {
		t.Errorf("warning: %q", w)
	}
	w := newWorld(t, nil)
	opts := w.options()
	opts.Revision, opts.RequiredOnly, opts.Method = "2026-10-15", true, ByProbe
	rep, err := Validate(context.Background(), demoTargets(t, w)[3:4], opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "2026-10-15") {
		t.Errorf("report warnings: %v", rep.Warnings)
	}
}

// The accuracy matrix: for every scope a key can hold, a key holding only that scope and a key
// holding every scope but that one, judged by probe and by inventory. Every verdict is right or
// undetermined; none is a false valid (a key lacking the scope its role needs).
func TestAccuracyMatrix(t *testing.T) {
	scopes := catalog.AssignableScopes()
	var b strings.Builder
	b.WriteString("accounts:\n  - id: MATRIX\n    keys:\n      - {name: lister, key: pk_MATRIX_ffffffffffffffffffffffffffffffffff, scopes: [full]}\n")
	for i, s := range scopes {
		var others []string
		for _, o := range scopes {
			if o != s {
				others = append(others, o)
			}
		}
		fmt.Fprintf(&b, "      - {name: has-%s, key: pk_%034x, scopes: [%s]}\n", s, 2*i+1, s)
		fmt.Fprintf(&b, "      - {name: lacks-%s, key: pk_%034x, scopes: [%s]}\n", s, 2*i+2, strings.Join(others, ", "))
	}
	w := newWorld(t, mustFixture(t, b.String()))
	var targets []Target
	for i, s := range scopes {
		for j, kind := range []string{"has", "lacks"} {
			targets = append(targets, Target{Role: kind + "-" + s, Required: []string{s}, KeySource: "test",
				Key: klaviyo.PrivateKey(fmt.Sprintf("pk_%034x", 2*i+1+j))})
		}
	}
	for _, method := range []Method{ByProbe, ByInventory} {
		opts := w.options()
		opts.Method, opts.RequiredOnly, opts.AllowExcess = method, true, true
		opts.Inventory = []InventorySource{{Name: "lister", AccountID: "MATRIX", Credential: func(context.Context) (klaviyo.Credential, error) {
			return klaviyo.PrivateKey(w.key(t, "lister").Secret), nil
		}}}
		rep, err := Validate(context.Background(), targets, opts)
		if err != nil {
			t.Fatal(err)
		}
		right, undetermined := 0, 0
		for _, rr := range rep.Roles {
			want := VerdictValid
			if strings.HasPrefix(rr.Role, "lacks-") {
				want = VerdictInvalid
			}
			switch rr.Verdict {
			case want:
				right++
			case VerdictUndetermined:
				undetermined++
			default:
				t.Errorf("%s by %s: %s (missing %v, undetermined %v), want %s", rr.Role, method, rr.Verdict, rr.Missing, rr.Undetermined, want)
			}
		}
		// The inventory sees every scope; probing cannot tell the five scopes no operation uses,
		// nor a companion-bound scope held alone.
		if method == ByInventory && right != len(targets) || right+undetermined != len(targets) || right < len(targets)*8/10 {
			t.Errorf("%s: %d of %d right, %d undetermined", method, right, len(targets), undetermined)
		}
	}
}

// A paced run that cannot end before its deadline is refused before anything is sent: the least
// time the rate limits allow is known in advance.
func TestRunThatCannotFitIsRefused(t *testing.T) {
	w := newWorld(t, nil)
	paced := klaviyo.New(klaviyo.Options{APIURL: w.url, HTTPClient: &http.Client{Transport: w.guard}, Pacer: klaviyo.NewPacer(klaviyo.PacerOptions{})})
	opts := w.options()
	opts.Client, opts.Method, opts.Timeout = paced, ByProbe, 10*time.Second
	_, err := Validate(context.Background(), demoTargets(t, w), opts)
	if fault.KindOf(err) != fault.Usage || !strings.Contains(err.Error(), "probing these keys takes at least 3m0s under Klaviyo's rate limits (") ||
		!strings.Contains(err.Error(), "of the XS tier, 15 a minute), more than the 10s left of the run (--timeout); nothing was sent") {
		t.Fatalf("error: %v", err)
	}
	if h := fault.Hints(err); len(h) != 3 || h[0] != "allow more time: --timeout 4m0s" {
		t.Errorf("hints: %q", h)
	}
	if n := w.srv.Stats().Requests; n != 0 {
		t.Errorf("%d calls sent", n)
	}
	// One key's required scopes fit.
	opts.RequiredOnly = true
	if _, err := Validate(context.Background(), demoTargets(t, w)[3:4], opts); err != nil {
		t.Errorf("viewer, required only: %v", err)
	}
}
