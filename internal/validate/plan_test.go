package validate

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/catalog"
)

// Every scope stable operations use has a probe, and every probe is safe: a read of one item at
// most with a sparse fieldset, or a write that cannot succeed.
func TestEveryProbeIsSafe(t *testing.T) {
	if err := checkProbes(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range catalog.Scopes() {
		want = append(want, s.Name)
	}
	for _, p := range betaProbes {
		want = append(want, p.Scope)
	}
	slices.Sort(want)
	if got := Probeable(); !slices.Equal(got, want) {
		t.Fatalf("probeable scopes %v, want the %d scopes of stable operations and the beta ones %v", got, len(want), want)
	}
	if len(want) != 58 {
		t.Errorf("%d probeable scopes, want 46 stable and 12 beta", len(want))
	}
	// What no operation uses at all, as the issue tracker counts them.
	if got, want := Unprobeable(), []string{"accounts:write", "applications:write", "data-privacy:read", "users:read", "users:write"}; !slices.Equal(got, want) {
		t.Errorf("unprobeable %v, want %v", got, want)
	}
	for _, s := range Probeable() {
		r, ok := RequestFor(s)
		if !ok {
			t.Fatalf("no probe for %s", s)
		}
		scopes := append([]string{s}, r.Companions...)
		slices.Sort(scopes)
		if !slices.Equal(scopes, sortedUnique(r.Op.Scopes)) {
			t.Errorf("%s: %s needs %v, the probe accounts for %v", s, r, r.Op.Scopes, scopes)
		}
		if strings.Contains(r.Path, "{") {
			t.Errorf("%s: %s keeps a path parameter", s, r)
		}
		if r.Write() != IsWrite(s) {
			t.Errorf("%s: probed with %s", s, r.Method)
		}
		if !r.Write() {
			if r.Body != nil {
				t.Errorf("%s: a read probe with a body", s)
			}
			if r.Op.PageSize.Max > 0 {
				n, err := strconv.Atoi(r.Query.Get("page[size]"))
				if err != nil || n < r.Op.PageSize.Min || n > r.Op.PageSize.Max || n > 1 && r.Op.PageSize.Min <= 1 {
					t.Errorf("%s: page[size]=%q, want the least of %+v", s, r.Query.Get("page[size]"), r.Op.PageSize)
				}
			} else if r.Query.Has("page[size]") {
				t.Errorf("%s: %s takes no page[size]", s, r)
			}
			for _, sparse := range strings.Split(r.Op.Sparse, "&") {
				if k, v, ok := strings.Cut(sparse, "="); ok && r.Query.Get(k) != v {
					t.Errorf("%s: %s=%q, want the sparse fieldset %s", s, k, r.Query.Get(k), sparse)
				}
			}
			for _, p := range r.Op.Required {
				if !strings.Contains(r.Op.Path, "{"+p+"}") && !r.Query.Has(p) {
					t.Errorf("%s: required parameter %s missing from %s", s, p, r)
				}
			}
			continue
		}
		// A write: to a nonexistent id, or with a body that is not a JSON:API document, or both.
		if !strings.Contains(r.Path, BogusID) && string(r.Body) != "{}" {
			t.Errorf("%s: %s with body %q could succeed", s, r, r.Body)
		}
		if r.Body != nil && string(r.Body) != "{}" {
			t.Errorf("%s: body %q, want {}", s, r.Body)
		}
	}
}

func TestCompanions(t *testing.T) {
	for scope, want := range map[string][]string{
		"conversations:read": {"profiles:read"},
		"push-tokens:read":   {"profiles:read"},
		"tags:write":         {"tags:read"},
		"profiles:read":      nil,
	} {
		r, _ := RequestFor(scope)
		if !slices.Equal(r.Companions, want) {
			t.Errorf("%s: companions %v, want %v", scope, r.Companions, want)
		}
	}
}

func TestScopesToProbe(t *testing.T) {
	all := Probeable()
	for _, tc := range []struct {
		name         string
		target       Target
		requiredOnly bool
		want         []string
	}{
		{"every probeable scope by default", Target{Required: []string{"lists:read"}}, false, all},
		{"required only", Target{Required: []string{"lists:write", "lists:read"}}, true, []string{"lists:read", "lists:write"}},
		{"full access probes what is required", Target{Required: []string{"webhooks:read"}, FullAccess: true}, false, []string{"webhooks:read"}},
		{"companions come along", Target{Required: []string{"conversations:read", "tags:write"}}, true,
			[]string{"conversations:read", "profiles:read", "tags:read", "tags:write"}},
		{"scopes no probe can tell are left out", Target{Required: []string{"accounts:write", "lists:read"}}, true, []string{"lists:read"}},
	} {
		if got := ScopesToProbe(tc.target, tc.requiredOnly); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestApplyCompanions(t *testing.T) {
	f := func(scope string, a Answer) Finding { return Finding{Scope: scope, Answer: a} }
	findings := map[string]Finding{
		"conversations:read": f("conversations:read", Denied),
		"profiles:read":      f("profiles:read", Denied),
		"push-tokens:read":   f("push-tokens:read", Denied),
		"tags:write":         f("tags:write", Denied),
		"tags:read":          f("tags:read", Granted),
	}
	applyCompanions(findings)
	want := map[string]Answer{
		"conversations:read": Undetermined, // profiles:read missing: the refusal says nothing
		"push-tokens:read":   Undetermined,
		"profiles:read":      Denied,
		"tags:write":         Denied, // tags:read held: the refusal is about tags:write
		"tags:read":          Granted,
	}
	for s, a := range want {
		if findings[s].Answer != a {
			t.Errorf("%s: %s, want %s", s, findings[s].Answer, a)
		}
	}
	if r := findings["conversations:read"].Reason; !strings.Contains(r, "also needs profiles:read, which the key lacks") {
		t.Errorf("reason %q does not name the companion", r)
	}
	if !findings["conversations:read"].Inert || findings["tags:write"].Inert {
		t.Error("a scope whose companion the key lacks opens nothing: inert")
	}
	// A companion that is itself undetermined leaves the scope undetermined, and not inert.
	findings = map[string]Finding{"tags:write": f("tags:write", Denied), "tags:read": f("tags:read", Undetermined)}
	applyCompanions(findings)
	if g := findings["tags:write"]; g.Answer != Undetermined || g.Inert {
		t.Errorf("tags:write with tags:read undetermined: %s, inert %v", g.Answer, g.Inert)
	}
}

func TestJudge(t *testing.T) {
	f := func(scope string, a Answer) Finding { return Finding{Scope: scope, Answer: a, Reason: "test"} }
	findings := map[string]Finding{
		"lists:read":  f("lists:read", Granted),
		"lists:write": f("lists:write", Denied),
		"flows:read":  f("flows:read", Granted),
		"tags:read":   f("tags:read", Undetermined),
		"tags:write":  {Scope: "tags:write", Answer: Undetermined, Inert: true, Reason: "test"},
	}
	for _, tc := range []struct {
		name     string
		target   Target
		how      rules
		verdict  Verdict
		missing  []string
		excess   []string
		undeterm []string
	}{
		{"missing", Target{Required: []string{"lists:read", "lists:write"}}, rules{}, VerdictInvalid, []string{"lists:write"}, []string{"flows:read"}, []string{"tags:read", "tags:write"}},
		{"excess is a finding", Target{Required: []string{"lists:read"}}, rules{}, VerdictInvalid, []string{}, []string{"flows:read"}, []string{"tags:read", "tags:write"}},
		{"excess allowed", Target{Required: []string{"lists:read"}}, rules{AllowExcess: true}, VerdictValid, []string{}, []string{"flows:read"}, []string{"tags:read", "tags:write"}},
		{"excess with strict", Target{Required: []string{"lists:read"}}, rules{Strict: true, AllowExcess: true}, VerdictUndetermined, []string{}, []string{"flows:read"}, []string{"tags:read", "tags:write"}},
		{"undetermined excess with strict", Target{Required: []string{"lists:read", "flows:read"}}, rules{Strict: true}, VerdictUndetermined, []string{}, []string{}, []string{"tags:read", "tags:write"}},
		{"undetermined excess without strict", Target{Required: []string{"lists:read", "flows:read"}}, rules{}, VerdictValid, []string{}, []string{}, []string{"tags:read", "tags:write"}},
		{"not checked without strict", Target{Required: []string{"lists:read", "flows:read"}}, rules{NotChecked: []string{"users:read"}}, VerdictValid, []string{}, []string{}, []string{"tags:read", "tags:write"}},
		{"not checked with strict", Target{Required: []string{"lists:read", "flows:read"}}, rules{Strict: true, NotChecked: []string{"users:read"}}, VerdictUndetermined, []string{}, []string{}, []string{"tags:read", "tags:write"}},
		{"full access has no excess", Target{Required: []string{"lists:read"}, FullAccess: true}, rules{Strict: true, NotChecked: []string{"users:read"}}, VerdictValid, []string{}, []string{}, []string{"tags:read", "tags:write"}},
		{"undetermined required", Target{Required: []string{"lists:read", "tags:read"}}, rules{AllowExcess: true}, VerdictUndetermined, []string{}, []string{"flows:read"}, []string{"tags:read", "tags:write"}},
		{"unprobeable required", Target{Required: []string{"lists:read", "accounts:write"}}, rules{AllowExcess: true}, VerdictUndetermined, []string{}, []string{"flows:read"}, []string{"accounts:write", "tags:read", "tags:write"}},
	} {
		rr := newRoleReport(tc.target, ByProbe)
		judge(&rr, tc.target, findings, tc.how)
		if tc.how.Strict && len(tc.how.NotChecked) > 0 && !tc.target.FullAccess && len(rr.Problems) == 0 {
			t.Errorf("%s: strict with scopes not checked says nothing", tc.name)
		}
		if rr.Verdict != tc.verdict || !slices.Equal(rr.Missing, tc.missing) || !slices.Equal(rr.Excess, tc.excess) || !slices.Equal(rr.Undetermined, tc.undeterm) {
			t.Errorf("%s: %s missing %v excess %v undetermined %v; want %s %v %v %v", tc.name, rr.Verdict, rr.Missing, rr.Excess, rr.Undetermined,
				tc.verdict, tc.missing, tc.excess, tc.undeterm)
		}
		for _, s := range rr.Undetermined {
			if rr.Reasons[s] == "" {
				t.Errorf("%s: no reason for %s", tc.name, s)
			}
		}
	}
}

// The probe sent alone: the least risky, then the roomiest tier.
func TestPick(t *testing.T) {
	for _, tc := range []struct {
		scopes []string
		write  bool
		want   string
	}{
		{[]string{"data-privacy:write", "events:write", "webhooks:write", "profiles:write"}, true, "profiles:write"},
		// High-risk creates never go alone first: they wait for a lower-risk write refused.
		{[]string{"data-privacy:write", "events:write"}, true, ""},
		{[]string{"data-privacy:write", "subscriptions:write"}, true, ""},
		{[]string{"webhooks:read", "profiles:read", "accounts:read", "lists:write"}, false, "profiles:read"},
		{[]string{"lists:write"}, false, ""},
	} {
		if got := pick(tc.scopes, tc.write); got != tc.want {
			t.Errorf("pick(%v, write %v) = %q, want %q", tc.scopes, tc.write, got, tc.want)
		}
	}
}
