package validate

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
)

// recorder is an audit trail in memory; fail, when set, is every Record's error.
type recorder struct {
	mu      sync.Mutex
	entries []audit.Entry
	fail    error
}

func (r *recorder) Record(_ context.Context, entries ...audit.Entry) ([]audit.Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return nil, r.fail
	}
	r.entries = append(r.entries, entries...)
	return entries, nil
}

// Refuse words a failed record as the trail klrbac runs with does.
func (r *recorder) Refuse(action, resource string, err error) error {
	return wordingTrail(audit.Unavailable("", err)).Refuse(action, resource, err)
}

// wordingTrail is an audit trail over store that words refusals as klrbac's does.
func wordingTrail(store audit.Store) *audit.Trail {
	return audit.NewTrail(store, audit.TrailOptions{Changes: map[string]string{ActionValidate: "validate keys"}})
}

// Each validated role leaves one keys.validate record with its verdict and the key's fingerprint,
// never the key.
func TestRunRecordsEachRole(t *testing.T) {
	w := newWorld(t, nil)
	targets := []Target{w.target(t, "viewer", "viewer"), w.target(t, "service", "service")}
	trail := &recorder{}
	rep, err := Run(context.Background(), targets, InventorySource{}, w.options(), trail, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(trail.entries) != 2 || len(rep.Roles) != 2 {
		t.Fatalf("%d records for %d roles", len(trail.entries), len(rep.Roles))
	}
	for i, e := range trail.entries {
		rr := rep.Roles[i]
		if e.Action != "keys.validate" || e.Role != rr.Role || e.Success != (rr.Verdict == VerdictValid) || e.Fingerprint == "" {
			t.Errorf("record %+v for %s %s", e, rr.Role, rr.Verdict)
		}
		if !strings.HasPrefix(e.Reason, string(rr.Verdict)+" by probe (") {
			t.Errorf("reason %q", e.Reason)
		}
		if secret := w.key(t, rr.Role).Secret; strings.Contains(e.Reason, secret) || strings.Contains(e.Fingerprint, secret) {
			t.Errorf("the key reached the record: %+v", e)
		}
	}
	if !strings.Contains(trail.entries[1].Reason, "excess: data-privacy:write") {
		t.Errorf("the service key's excess is not in its record: %q", trail.entries[1].Reason)
	}
}

// A validation whose record cannot be written at the end (the log became unwritable during the
// run) still fails the gate: exit 3, with the hint that says why, and the report for printing.
func TestRunNotAudited(t *testing.T) {
	w := newWorld(t, nil)
	trail := &recorder{fail: errors.New("disk full")}
	rep, err := Run(context.Background(), []Target{w.target(t, "viewer", "viewer")}, InventorySource{}, w.options(), trail, &bytes.Buffer{})
	if rep == nil || len(rep.Roles) != 1 {
		t.Fatalf("no report to print: %v", rep)
	}
	if fault.KindOf(err) != fault.Unavailable || !strings.HasPrefix(err.Error(), "refusing to validate keys without an audit record: ") {
		t.Fatalf("kind %v: %v", fault.KindOf(err), err)
	}
	if hints := fault.Hints(err); len(hints) == 0 || !strings.HasPrefix(hints[0], "a CI gate without its record fails closed") {
		t.Errorf("hints %q", hints)
	}
}

// A failed record is worded by the trail, whichever store it has: the hint names the setting that
// points at that store (audit.path for a file log, audit.dsn for the team trail's database), never
// the other's. The gate fails closed either way, and a broken configuration stays exit 2.
func TestRunNotAuditedNamesTheStore(t *testing.T) {
	w := newWorld(t, nil)
	for _, c := range []struct {
		name      string
		err       error
		kind      fault.Kind
		want, not string
	}{
		{"file", errors.New("audit log /var/log/klrbac.log: disk full"), fault.Unavailable, "audit.path", "audit.dsn"},
		{"database", fault.Unavailablef("append: cannot reach audit database db.example:5432: connection refused").
			Hint("check that the database at db.example:5432 is up and reachable from here, or point audit.dsn (KLRBAC_AUDIT_DSN, --audit-dsn) elsewhere"),
			fault.Unavailable, "audit.dsn", "audit.path"},
		{"database misconfigured", fault.Configf("audit.dsn (KLRBAC_AUDIT_DSN, --audit-dsn) is not a postgres:// URL").Hint("use postgres://USER@HOST/DB"),
			fault.Config, "postgres://", "audit.path"},
	} {
		t.Run(c.name, func(t *testing.T) {
			trail := wordingTrail(audit.Unavailable("", c.err))
			rep, err := Run(context.Background(), []Target{w.target(t, "viewer", "viewer")}, InventorySource{}, w.options(), trail, &bytes.Buffer{})
			if rep == nil || !errors.Is(err, c.err) || fault.KindOf(err) != c.kind {
				t.Fatalf("report %v, kind %v: %v", rep != nil, fault.KindOf(err), err)
			}
			if want := "refusing to validate keys without an audit record: " + c.err.Error(); err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			hints := strings.Join(fault.Hints(err), "\n")
			if !strings.HasPrefix(hints, "a CI gate without its record fails closed\n") || !strings.Contains(hints, c.want) || strings.Contains(hints, c.not) {
				t.Errorf("hints %q, want the gate's and one naming %s, none naming %s", hints, c.want, c.not)
			}
		})
	}
}

// A run that ended before its report, after sending requests (here: the API answered with an HTML
// page, so it is not Klaviyo), is recorded for every role with how it ended; when even that record
// fails, stderr says so and the run's own error is returned.
func TestRunStoppedIsRecorded(t *testing.T) {
	var tries atomic.Int64
	portal := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		tries.Add(1)
		rw.Header().Set("Content-Type", "text/html")
		_, _ = rw.Write([]byte("<html>Welcome to the hotel wifi</html>"))
	}))
	defer portal.Close()
	opts := Guarded(klaviyo.Options{APIURL: portal.URL}, 0)
	w := newWorld(t, nil)
	targets := []Target{w.target(t, "viewer", "viewer"), w.target(t, "marketer", "marketer")}
	trail := &recorder{}
	_, err := Run(context.Background(), targets, InventorySource{}, opts, trail, &bytes.Buffer{})
	if err == nil || tries.Load() == 0 {
		t.Fatalf("err %v after %d connections", err, tries.Load())
	}
	if len(trail.entries) != 2 {
		t.Fatalf("%d records, want one per role", len(trail.entries))
	}
	for _, e := range trail.entries {
		if e.Action != "keys.validate" || e.Success || e.Reason == "" {
			t.Errorf("record %+v", e)
		}
	}
	var stderr bytes.Buffer
	_, err2 := Run(context.Background(), targets, InventorySource{}, opts, &recorder{fail: errors.New("disk full")}, &stderr)
	if err2 == nil || !strings.Contains(stderr.String(), "the stopped validation was not audited: disk full") {
		t.Errorf("err %v, stderr %q", err2, stderr.String())
	}
}

// With a method, Run chooses as Validate does, the named credential first; each role's record
// names the endpoint its verdict rests on: the key listing, or (for a key the listing could not
// settle) none, its probes being one per scope.
func TestRunWithAMethod(t *testing.T) {
	w := newWorld(t, mustFixture(t, `
accounts:
  - id: ACME01
    keys:
      - {name: admin, key: pk_ACME01_00000000000000000000000000000000aa, scopes: [full]}
      - {name: viewer, key: pk_ACME01_11111111111111111111111111111111bb, scopes: [campaigns:read, metrics:read, profiles:read, segments:read]}
  - id: ACME02
    keys:
      - {name: other, key: pk_ACME02_22222222222222222222222222222222cc, scopes: [lists:read]}
`))
	other := w.target(t, "other", "other")
	other.Required = []string{"lists:read"}
	targets := []Target{w.target(t, "viewer", "viewer"), other}
	opts := w.options()
	opts.Method, opts.RequiredOnly = ByAuto, true
	trail := &recorder{}
	rep, err := Run(context.Background(), targets, inventoryOf(w, t, "admin"), opts, trail, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Method != ByInventory || rep.Inventory != "role admin" || len(trail.entries) != 2 {
		t.Fatalf("method %s by %q, %d records", rep.Method, rep.Inventory, len(trail.entries))
	}
	for _, e := range trail.entries {
		want := map[string]string{"viewer": "GET /api/api-keys", "other": ""}[e.Role]
		if e.KlaviyoEndpoint != want || !e.Success {
			t.Errorf("%s: endpoint %q success %v (%s), want %q", e.Role, e.KlaviyoEndpoint, e.Success, e.Reason, want)
		}
	}
	if !strings.Contains(trail.entries[1].Reason, "valid by probe (1 scope checked)") {
		t.Errorf("other's record: %s", trail.entries[1].Reason)
	}
}
