package validate

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/sandbox"
)

// The demo account's keys, probed: exactly what the demo says of each.
func TestProbeDemo(t *testing.T) {
	w := newWorld(t, nil)
	var targets []Target
	for _, role := range []string{"admin", "marketer", "developer", "viewer", "service"} {
		targets = append(targets, w.target(t, role, role))
	}
	var mu sync.Mutex
	events := 0
	opts := w.options()
	opts.Calibration = Calibration{State: Uncalibrated}
	opts.Observe = func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		events++
		if e.Done > e.Total || e.RolesDone > e.RolesTotal || e.Total == 0 {
			t.Errorf("progress %d/%d probes, %d/%d roles", e.Done, e.Total, e.RolesDone, e.RolesTotal)
		}
	}
	rep, err := Probe(context.Background(), targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		role    string
		verdict Verdict
		missing []string
		excess  []string
	}{
		{"admin", VerdictValid, []string{}, []string{}},
		{"marketer", VerdictValid, []string{}, []string{}},
		{"developer", VerdictInvalid, []string{"webhooks:write"}, []string{}},
		{"viewer", VerdictValid, []string{}, []string{}},
		{"service", VerdictInvalid, []string{}, []string{"data-privacy:write"}},
	} {
		rr := roleReport(t, rep, tc.role)
		if rr.Verdict != tc.verdict || !slices.Equal(rr.Missing, tc.missing) || !slices.Equal(rr.Excess, tc.excess) {
			t.Errorf("%s: %s missing %v excess %v, want %s %v %v", tc.role, rr.Verdict, rr.Missing, rr.Excess, tc.verdict, tc.missing, tc.excess)
		}
		// No demo key holds tags:read, without which tags:write cannot be settled, nor matter.
		wantUndetermined := []string{"tags:write"}
		if tc.role == "admin" {
			wantUndetermined = []string{}
		}
		if !slices.Equal(rr.Undetermined, wantUndetermined) {
			t.Errorf("%s: undetermined %v (%v), want %v", tc.role, rr.Undetermined, rr.Reasons, wantUndetermined)
		}
		// Uncalibrated, a write granted by a 400 or 404 is inferred; one refused with a 403 is not:
		// the viewer, refused every write, has nothing inferred.
		var grantedWrites []string
		for _, s := range rr.Granted {
			if IsWrite(s) {
				grantedWrites = append(grantedWrites, s)
			}
		}
		if !slices.Equal(rr.Inferred, nonNil(grantedWrites)) || rr.WritesInferred != (len(grantedWrites) > 0) || rr.WritesInferred != (tc.role != "viewer") {
			t.Errorf("%s: inferred %v (writes_inferred %v), want the granted writes %v", tc.role, rr.Inferred, rr.WritesInferred, grantedWrites)
		}
		if rr.Method != ByProbe || rr.Key == "" || rr.KeyFingerprint == "" {
			t.Errorf("%s: report %+v lacks its key's identity", tc.role, rr)
		}
	}
	// The admin role expects full access: only its required scopes are probed.
	if rr := roleReport(t, rep, "admin"); !slices.Equal(rr.Checked, rr.Required) {
		t.Errorf("admin: checked %v, want its required scopes %v", rr.Checked, rr.Required)
	}
	if got := roleReport(t, rep, "viewer").Checked; len(got) != len(Probeable()) {
		t.Errorf("viewer: checked %d scopes, want all %d", len(got), len(Probeable()))
	}
	if got := roleReport(t, rep, "viewer").NotChecked; !slices.Equal(got, Unprobeable()) {
		t.Errorf("viewer: not checked %v, want %v", got, Unprobeable())
	}
	if rep.Summary.Result != ResultInvalid || rep.Summary.Valid != 3 || rep.Summary.Invalid != 2 {
		t.Errorf("summary %+v", rep.Summary)
	}
	stats := w.srv.Stats()
	if rep.Summary.Requests != stats.Requests || events != stats.Requests {
		t.Errorf("%d requests reported, %d events, the sandbox saw %d", rep.Summary.Requests, events, stats.Requests)
	}
	if want := len(roleReport(t, rep, "admin").Required) + 4*len(Probeable()); stats.Requests != want {
		t.Errorf("%d requests, want %d", stats.Requests, want)
	}

	// Excess allowed, the service's excess scope is reported and no finding.
	opts.AllowExcess = true
	opts.Observe = nil
	rep, err = Probe(context.Background(), targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rr := roleReport(t, rep, "service"); rr.Verdict != VerdictValid || !slices.Equal(rr.Excess, []string{"data-privacy:write"}) {
		t.Errorf("service with excess allowed: %s %v", rr.Verdict, rr.Excess)
	}
	// tags:write stays undetermined, but it could open nothing without tags:read: no excess to wait on.
	if rr := roleReport(t, rep, "marketer"); rr.Verdict != VerdictValid {
		t.Errorf("marketer: %s %v", rr.Verdict, rr.Reasons)
	}
	// With strict, probing cannot prove the absence of the scopes no operation uses: undetermined,
	// saying so, for every role but the full-access one.
	opts.Strict = true
	rep, err = Probe(context.Background(), targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rr := roleReport(t, rep, "marketer"); rr.Verdict != VerdictUndetermined || len(rr.Problems) != 1 || !strings.Contains(rr.Problems[0], "--inventory-role ROLE") {
		t.Errorf("marketer with strict: %s %v", rr.Verdict, rr.Problems)
	}
	if rr := roleReport(t, rep, "admin"); rr.Verdict != VerdictValid {
		t.Errorf("admin with strict: %s (a full-access role has no excess)", rr.Verdict)
	}
}

// Roles sharing a key probe it once.
func TestProbeSharedKey(t *testing.T) {
	w := newWorld(t, nil)
	a, b := w.target(t, "viewer", "viewer"), w.target(t, "marketer", "viewer")
	opts := w.options()
	opts.RequiredOnly = true
	rep, err := Probe(context.Background(), []Target{a, b}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.srv.Stats().Requests; got != 7 {
		t.Errorf("%d requests, want the 7 scopes of the two roles once", got)
	}
	if rr := roleReport(t, rep, "marketer"); !slices.Equal(rr.Missing, []string{"campaigns:write", "lists:read", "lists:write"}) {
		t.Errorf("marketer with the viewer's key: missing %v", rr.Missing)
	}
}

// A key Klaviyo rejects costs one call and fails its role; the others go on.
func TestProbeRejectedKeys(t *testing.T) {
	w := newWorld(t, nil)
	disabled := w.target(t, "viewer", "legacy-export")
	unknown := w.target(t, "marketer", "marketer")
	unknown.Key = klaviyo.PrivateKey("pk_0000000000000000000000000000000000")
	ok := w.target(t, "developer", "developer")
	opts := w.options()
	opts.RequiredOnly = true
	rep, err := Probe(context.Background(), []Target{disabled, unknown, ok}, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"viewer", "marketer"} {
		rr := roleReport(t, rep, role)
		if rr.Verdict != VerdictRejected || len(rr.Problems) != 1 || !strings.Contains(rr.Problems[0], "Klaviyo rejected the key") {
			t.Errorf("%s: %s %v", role, rr.Verdict, rr.Problems)
		}
	}
	if rr := roleReport(t, rep, "developer"); rr.Verdict != VerdictInvalid {
		t.Errorf("developer: %s", rr.Verdict)
	}
	if n := w.srv.Stats().Status(401); n != 2 {
		t.Errorf("%d calls answered 401, want one per rejected key", n)
	}
	if rep.Summary.Result != ResultInvalid || rep.Summary.Rejected != 2 {
		t.Errorf("summary %+v", rep.Summary)
	}
}

// A role whose key could not be had is reported, not probed.
func TestProbeUnevaluated(t *testing.T) {
	w := newWorld(t, nil)
	missing := Target{Role: "viewer", Required: []string{"profiles:read"}, Err: errors.New("no key for role viewer")}
	rep, err := Probe(context.Background(), []Target{missing}, w.options())
	if err != nil {
		t.Fatal(err)
	}
	rr := roleReport(t, rep, "viewer")
	if rr.Verdict != VerdictError || rr.KeySource != "none" || rr.Problems[0] != "no key for role viewer" {
		t.Errorf("%+v", rr)
	}
	if rep.Summary.Result != ResultIncomplete || w.srv.Stats().Requests != 0 {
		t.Errorf("summary %+v, %d requests", rep.Summary, w.srv.Stats().Requests)
	}
}

// Cloudflare's HTML 403, Klaviyo's 5xx and no answer at all leave scopes undetermined, never
// missing; no answer to the first probe leaves the others unsent.
func TestProbeUndetermined(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults sandbox.Faults
		want   string
	}{
		{"edge block", sandbox.Faults{EdgeBlock: 1}, "blocked by Klaviyo's edge network (HTTP 403)"},
		{"server error", sandbox.Faults{Unavailable: 1}, "server error (HTTP 503"},
		{"connection reset", sandbox.Faults{Reset: 1}, "did not answer GET "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			w.srv.SetFaults(0, tc.faults)
			opts := w.options()
			opts.RequiredOnly = true
			rep, err := Probe(context.Background(), []Target{w.target(t, "developer", "developer")}, opts)
			if err != nil {
				t.Fatal(err)
			}
			rr := roleReport(t, rep, "developer")
			if rr.Verdict != VerdictUndetermined || len(rr.Missing) != 0 || len(rr.Granted) != 0 {
				t.Fatalf("%s: missing %v granted %v", rr.Verdict, rr.Missing, rr.Granted)
			}
			if !slices.Equal(rr.Undetermined, rr.Required) {
				t.Errorf("undetermined %v, want every required scope %v", rr.Undetermined, rr.Required)
			}
			for s, reason := range rr.Reasons {
				want := tc.want
				// A high-risk create waits for a lower-risk write of the key refused, which a 503 is not.
				if r, _ := RequestFor(s); r.Write() && highRisk(r) && tc.name == "server error" {
					want = "not sent: no lower-risk write of this key was seen refused first"
				}
				if !strings.Contains(reason, want) {
					t.Errorf("%s: reason %q, want %q", s, reason, want)
				}
			}
			if rep.Summary.Result != ResultIncomplete {
				t.Errorf("result %s", rep.Summary.Result)
			}
		})
	}
}

// A Klaviyo that cannot be reached at all costs each key its first probe (and the client's retries
// of it), not one wait per scope: the key's other scopes are undetermined unsent, saying where the
// API was asked and what the network said.
func TestProbeUnreachable(t *testing.T) {
	w := newWorld(t, nil)
	opts, tries := unreachable(t)
	targets := []Target{w.target(t, "viewer", "viewer"), w.target(t, "developer", "developer")}
	var events int
	opts.Observe = func(Event) { events++ }
	rep, err := Probe(context.Background(), targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := tries.Load(); n != 2*klaviyo.DefaultMaxAttempts {
		t.Errorf("%d connections tried, want %d: the first probe of each key and its retries", n, 2*klaviyo.DefaultMaxAttempts)
	}
	if rep.Summary.Requests != 2 || events != 2 || rep.Summary.Result != ResultIncomplete {
		t.Errorf("summary %+v, %d events", rep.Summary, events)
	}
	for _, role := range []string{"viewer", "developer"} {
		rr := roleReport(t, rep, role)
		if rr.Verdict != VerdictUndetermined || len(rr.Checked) != len(Probeable()) || !slices.Equal(rr.Undetermined, rr.Checked) || len(rr.Granted)+len(rr.Missing) != 0 {
			t.Errorf("%s: %s, %d checked, %d undetermined, granted %v, missing %v", role, rr.Verdict, len(rr.Checked), len(rr.Undetermined), rr.Granted, rr.Missing)
		}
		for _, s := range rr.Undetermined {
			want := "Klaviyo's API at " + opts.APIURL + " did not answer GET "
			if r := rr.Reasons[s]; !strings.HasPrefix(r, want) || !strings.Contains(r, "connection refused, after 4 attempts), so the key's other probes were not sent") {
				t.Errorf("%s: %s: reason %q", role, s, r)
				break
			}
		}
	}
}

// Retries make a flaky Klaviyo look normal: GETs answered 503 half the time still settle.
func TestProbeRetriesReads(t *testing.T) {
	w := newWorld(t, nil)
	w.srv.SetFaults(0, sandbox.Faults{Unavailable: 0.5})
	opts := w.options()
	opts.RequiredOnly, opts.Concurrency = true, 1
	rep, err := Probe(context.Background(), []Target{w.target(t, "viewer", "viewer")}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rr := roleReport(t, rep, "viewer"); rr.Verdict != VerdictValid {
		t.Errorf("%s %v", rr.Verdict, rr.Reasons)
	}
	if w.srv.Stats().Status(503) == 0 {
		t.Error("no 503 was served")
	}
}

// The companion scopes: a refusal of a probe that also needs a scope the key lacks says nothing.
func TestProbeCompanions(t *testing.T) {
	fx := mustFixture(t, `
accounts:
  - id: COMP01
    keys:
      - {name: convo-only, key: pk_c0000000000000000000000000000000a1, scopes: [conversations:read]}
      - {name: convo-profiles, key: pk_c0000000000000000000000000000000a2, scopes: [conversations:read, profiles:read]}
      - {name: profiles-only, key: pk_c0000000000000000000000000000000a3, scopes: [profiles:read]}
      - {name: tagwrite-only, key: pk_c0000000000000000000000000000000a4, scopes: [tags:write]}
      - {name: tags-both, key: pk_c0000000000000000000000000000000a5, scopes: [tags:read, tags:write]}
      - {name: tagread-only, key: pk_c0000000000000000000000000000000a6, scopes: [tags:read]}
`)
	w := newWorld(t, fx)
	role := func(name string, required ...string) Target {
		tg := w.target(t, name, name)
		tg.Required = required
		return tg
	}
	opts := w.options()
	opts.RequiredOnly, opts.AllowExcess = true, true
	rep, err := Probe(context.Background(), []Target{
		role("convo-only", "conversations:read"),
		role("convo-profiles", "conversations:read"),
		role("profiles-only", "conversations:read", "profiles:read"),
		role("tagwrite-only", "tags:write"),
		role("tags-both", "tags:write"),
		role("tagread-only", "tags:write"),
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		role         string
		verdict      Verdict
		missing      []string
		undetermined []string
	}{
		{"convo-only", VerdictUndetermined, []string{}, []string{"conversations:read"}},
		{"convo-profiles", VerdictValid, []string{}, []string{}},
		{"profiles-only", VerdictInvalid, []string{"conversations:read"}, []string{}},
		{"tagwrite-only", VerdictUndetermined, []string{}, []string{"tags:write"}},
		{"tags-both", VerdictValid, []string{}, []string{}},
		{"tagread-only", VerdictInvalid, []string{"tags:write"}, []string{}},
	} {
		rr := roleReport(t, rep, tc.role)
		if rr.Verdict != tc.verdict || !slices.Equal(rr.Missing, tc.missing) || !slices.Equal(rr.Undetermined, tc.undetermined) {
			t.Errorf("%s: %s missing %v undetermined %v; want %s %v %v", tc.role, rr.Verdict, rr.Missing, rr.Undetermined, tc.verdict, tc.missing, tc.undetermined)
		}
	}
}

// A Klaviyo that carries out writes built to fail gets exactly one: the guard stops the run.
func TestProbeGuard(t *testing.T) {
	w := newWorld(t, nil)
	w.srv.SetFaults(0, sandbox.Faults{AcceptWrites: true})
	var targets []Target
	for _, role := range []string{"admin", "marketer", "developer", "viewer", "service"} {
		targets = append(targets, w.target(t, role, role))
	}
	rep, err := Probe(context.Background(), targets, w.options())
	if rep != nil || err == nil {
		t.Fatalf("report %v, error %v: the run went on", rep, err)
	}
	var ae *AcceptedError
	if !errors.As(err, &ae) || !strings.HasPrefix(err.Error(), "a probe was accepted; stopping to avoid side effects: ") {
		t.Fatalf("error %v", err)
	}
	writes := 0
	for op, st := range w.srv.Stats().Operations {
		if !strings.HasPrefix(op, "GET ") {
			writes += st.Requests
		}
	}
	if writes != 1 {
		t.Errorf("%d writes reached the sandbox, want 1", writes)
	}
	if !w.guard.Tripped() {
		t.Error("guard not tripped")
	}
	// Once tripped, the guard refuses every write without sending it.
	_, err = w.client.Do(context.Background(), klaviyo.Request{Method: "DELETE", Path: "/api/lists/x", Credential: targets[0].Key})
	if err == nil || w.srv.Stats().Requests != 1+writesAndReads(w) {
		t.Errorf("a write went out after the guard tripped: %v", err)
	}
}

func writesAndReads(w *world) int {
	n := 0
	for op, st := range w.srv.Stats().Operations {
		if strings.HasPrefix(op, "GET ") {
			n += st.Requests
		}
	}
	return n
}

// The run's estimate is the least time the rate limits allow: one call per second for the XS tier,
// fifteen a minute.
func TestEstimate(t *testing.T) {
	xs, _ := catalog.Find("GET", "/api/accounts")
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, 0}, {7, 6 * time.Second}, {15, 14 * time.Second}, {16, 60 * time.Second}, {30, 74 * time.Second}} {
		got := estimate(map[quota]int{{"", xs.Burst, xs.Steady}: tc.n, {"", 350, 3500}: 100})
		if got != tc.want {
			t.Errorf("%d XS calls: %s, want %s", tc.n, got, tc.want)
		}
	}
}

func TestQuotaAccount(t *testing.T) {
	known := QuotaAccount([]string{"ACME01", "ACME02"})
	if known("ACME01") != "ACME01" || known("ACME02") != "ACME02" {
		t.Error("keys naming their accounts should be paced per account")
	}
	pooled := QuotaAccount([]string{"ACME01", ""})
	if pooled("ACME01") != "" || pooled("") != "" {
		t.Error("a key of unknown account should pool every key into one quota")
	}
}

// The high-risk creates go last, one at a time, each after a lower-risk write of the same key was
// refused; a key whose only write is such a create is first sent the least risky write.
func TestProbeHighRiskOrder(t *testing.T) {
	w := newWorld(t, nil)
	var mu sync.Mutex
	var order []string
	inFlight, most := 0, 0
	next := w.guard.next
	w.guard.next = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		risky := r.Method == http.MethodPost
		mu.Lock()
		order = append(order, r.Method+" "+r.URL.Path+" "+credentialOf(r))
		if risky {
			inFlight++
			most = max(most, inFlight)
		}
		mu.Unlock()
		resp, err := next.RoundTrip(r)
		if risky {
			mu.Lock()
			inFlight--
			mu.Unlock()
		}
		return resp, err
	})
	service := w.target(t, "service", "service")
	opts := w.options()
	opts.RequiredOnly = true
	if _, err := Probe(context.Background(), []Target{service}, opts); err != nil {
		t.Fatal(err)
	}
	if most != 1 {
		t.Errorf("%d high-risk creates in flight at once", most)
	}
	firstWrite, firstCreate := -1, -1
	for i, o := range order {
		if strings.HasPrefix(o, "PATCH ") && firstWrite < 0 {
			firstWrite = i
		}
		if strings.HasPrefix(o, "POST ") && firstCreate < 0 {
			firstCreate = i
		}
	}
	if firstCreate < 0 || firstWrite < 0 || firstCreate < firstWrite {
		t.Errorf("order %v: a create before any lower-risk write", order)
	}
	for _, o := range order[firstCreate:] {
		if !strings.HasPrefix(o, "POST ") {
			t.Errorf("order %v: %s after the first create", order, o)
		}
	}

	// Only events:write, on a run whose guard has seen no write refused: the least risky write goes
	// first, as a sentinel.
	w2 := newWorld(t, nil)
	w2.guard.next = w.guard.next
	tracker := w2.target(t, "tracker", "service")
	tracker.Required = []string{"events:write"}
	opts = w2.options()
	opts.RequiredOnly = true
	order = nil
	if _, err := Probe(context.Background(), []Target{tracker}, opts); err != nil {
		t.Fatal(err)
	}
	if len(order) != 2 || !strings.HasPrefix(order[0], "PATCH ") || !strings.HasPrefix(order[1], "POST /api/events") {
		t.Errorf("order %v, want a PATCH sentinel then POST /api/events", order)
	}
}
