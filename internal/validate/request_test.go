package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
)

// Flag combinations that make no sense are usage errors that say which flags clash, before anything
// is read; the rest pass.
func TestRequestCheck(t *testing.T) {
	ok := Request{Roles: []string{"viewer"}, Timeout: time.Minute, RequestTimeout: time.Second}
	if err := ok.Check("klrbac keys validate"); err != nil {
		t.Fatalf("a plain request: %v", err)
	}
	for want, r := range map[string]Request{
		"keys validate needs ROLE... or --all":                                                                             {Timeout: time.Minute, RequestTimeout: time.Second},
		"keys validate takes ROLE... or --all, not both":                                                                   {Roles: []string{"viewer"}, All: true, Timeout: time.Minute, RequestTimeout: time.Second},
		"--inventory-role needs a NAME, not an empty value":                                                                {All: true, Given: map[string]bool{"inventory-role": true}, Timeout: time.Minute, RequestTimeout: time.Second},
		"--inventory-oauth needs an OAuth app's name, not an empty value":                                                  {All: true, Given: map[string]bool{"inventory-oauth": true}, Timeout: time.Minute, RequestTimeout: time.Second},
		"--timeout and --request-timeout must be positive durations":                                                       {All: true, Timeout: time.Minute},
		"--calibrate takes no roles to validate":                                                                           {All: true, Calibrate: true, Timeout: time.Minute, RequestTimeout: time.Second},
		"--required-only only applies to probing, not to --inventory-oauth":                                                {All: true, RequiredOnly: true, InventoryApp: "crm", Timeout: time.Minute, RequestTimeout: time.Second},
		`unknown method "guess"`:                                                                                           {All: true, Method: "guess", Timeout: time.Minute, RequestTimeout: time.Second},
		`--max-key-age "soon" is not an age`:                                                                               {All: true, MaxKeyAge: "soon", Timeout: time.Minute, RequestTimeout: time.Second},
		"--max-key-age needs the key inventory, which knows when each key was made; probing does not":                      {All: true, Method: "probe", MaxKeyAge: "90d", Timeout: time.Minute, RequestTimeout: time.Second},
		"--method probe cannot be combined with --inventory-role, which names a credential to read the key inventory with": {All: true, Method: "probe", InventoryRole: "admin", Timeout: time.Minute, RequestTimeout: time.Second},
	} {
		if err := r.Check("klrbac keys validate"); fault.KindOf(err) != fault.Usage || err.Error() != want {
			t.Errorf("%+v: %v, want the usage error %q", r, err, want)
		}
	}
}

// A named inventory credential is the one asked for: auto becomes inventory, so a credential that
// cannot list the keys ends the run rather than being quietly replaced by probing.
func TestRequestOptionsMethod(t *testing.T) {
	for _, tc := range []struct {
		r    Request
		want Method
	}{
		{Request{All: true}, ByAuto},
		{Request{All: true, InventoryRole: "admin"}, ByInventory},
		{Request{All: true, Method: "probe"}, ByProbe},
	} {
		opts := tc.r.Options(klaviyo.Options{}, filepath.Join(t.TempDir(), "none.json"), io.Discard)
		if opts.Method != tc.want || !opts.EveryRole {
			t.Errorf("%+v: method %s (every role %v), want %s", tc.r, opts.Method, opts.EveryRole, tc.want)
		}
	}
}

// A damaged calibration file is reported and read as uncalibrated, the safe side: write results
// are then marked inferred.
func TestRequestOptionsWithADamagedCalibration(t *testing.T) {
	file := filepath.Join(t.TempDir(), "calibration.json")
	if err := os.WriteFile(file, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	r := Request{Strict: true, Concurrency: 3, Timeout: time.Minute, RequestTimeout: time.Second}
	opts := r.Options(klaviyo.Options{APIURL: "http://127.0.0.1:1"}, file, &stderr)
	if opts.Calibration.State != Uncalibrated || !opts.Strict || opts.Concurrency != 3 || opts.Timeout != time.Minute || opts.Guard == nil {
		t.Errorf("options %+v", opts)
	}
	if !strings.Contains(stderr.String(), "; write results are marked inferred\nhint: run klrbac keys validate --calibrate again to replace it\n") {
		t.Errorf("stderr %q", stderr.String())
	}
}

// runDeps are the deps of a request against w's sandbox, with the default policy and the fixture's
// viewer key in KLAVIYO_KEY_VIEWER, recording to trail.
func runDeps(t *testing.T, w *world, trail Trail) Deps {
	t.Helper()
	env := map[string]string{"KLAVIYO_KEY_VIEWER": w.key(t, "viewer").Secret}
	return Deps{
		Credentials:     Credentials{Store: secrets.New(secrets.Options{Off: true}), Policy: policy.Default()},
		Getenv:          func(k string) string { return env[k] },
		Trail:           func() Trail { return trail },
		Klaviyo:         klaviyo.Options{APIURL: w.url, Sleep: func(context.Context, time.Duration) error { return nil }},
		CalibrationFile: filepath.Join(t.TempDir(), "calibration.json"),
		Stderr:          io.Discard,
	}
}

// A CI gate fails closed before it spends anything: when the audit trail cannot keep the run's
// record, the trail's refusal is the run's error and not one request is sent.
func TestRequestRunNotReadySendsNothing(t *testing.T) {
	w := newWorld(t, nil)
	trail := &calibrationTrail{notReady: fault.Unavailablef("refusing to validate keys without an audit record: disk full")}
	d := runDeps(t, w, trail)
	d.Starting = func(InventorySource, Method) { t.Error("told of a start that should not come") }
	r := Request{Roles: []string{"viewer"}, Method: "probe", Timeout: time.Minute, RequestTimeout: time.Second}
	rep, err := r.Run(context.Background(), d)
	if rep != nil || !errors.Is(err, trail.notReady) {
		t.Fatalf("report %v, err %v, want the trail's refusal", rep, err)
	}
	if n := w.srv.Stats().Requests; n != 0 {
		t.Errorf("%d requests sent", n)
	}
	if len(trail.entries) != 0 {
		t.Errorf("records: %+v", trail.entries)
	}
}

// The targets come first: a role the policy lacks fails before the audit trail is even opened.
// Once the trail is ready, Starting hears of the run before its first probe, and each role is
// recorded.
func TestRequestRunOrder(t *testing.T) {
	w := newWorld(t, nil)
	d := runDeps(t, w, nil)
	d.Trail = func() Trail { t.Fatal("the trail was opened for a role the policy lacks"); return nil }
	r := Request{Roles: []string{"nobody"}, Method: "probe", Timeout: time.Minute, RequestTimeout: time.Second}
	if _, err := r.Run(context.Background(), d); err == nil {
		t.Fatal("a role the policy lacks was validated")
	}

	trail := &calibrationTrail{}
	d = runDeps(t, w, trail)
	var steps []string
	d.Starting = func(src InventorySource, m Method) {
		steps = append(steps, fmt.Sprintf("start %q %s after %d requests", src.Name, m, w.srv.Stats().Requests))
	}
	d.Observe = func(Event) {
		if len(steps) == 1 {
			steps = append(steps, "probe")
		}
	}
	r.Roles = []string{"viewer"}
	rep, err := r.Run(context.Background(), d)
	if err != nil || len(rep.Roles) != 1 {
		t.Fatalf("report %+v, err %v", rep, err)
	}
	if want := []string{`start "" probe after 0 requests`, "probe"}; !slices.Equal(steps, want) {
		t.Errorf("steps %q, want %q", steps, want)
	}
	if len(trail.entries) != 1 || trail.entries[0].Role != "viewer" {
		t.Errorf("records: %+v", trail.entries)
	}
}
