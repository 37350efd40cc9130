package validate

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/sandbox"
)

var calibrationTime = time.Date(2026, 7, 20, 12, 0, 0, 0, time.UTC)

func calKey(w *world, t *testing.T, name string) CalibrationKey {
	return CalibrationKey{Name: "role " + name, Key: klaviyo.PrivateKey(w.key(t, name).Secret)}
}

func TestCalibrateConfirmed(t *testing.T) {
	w := newWorld(t, nil)
	res, err := Calibrate(context.Background(), calKey(w, t, "admin"), calKey(w, t, "viewer"), w.options(), func() time.Time { return calibrationTime })
	if err != nil {
		t.Fatal(err)
	}
	if res.State != Confirmed || !res.ScopesBeforeBody || res.WriteProbes != 28 || len(res.Answers) != 28 {
		t.Fatalf("%+v", res.Calibration)
	}
	if res.FullAccessKey != klaviyo.PrivateKey(w.key(t, "admin").Secret).Fingerprint() || !res.CalibratedAt.Equal(calibrationTime) {
		t.Errorf("%+v", res.Calibration)
	}
	for _, a := range res.Answers {
		if !strings.Contains(a.ReadOnly, "HTTP 403 permission_denied") || !(strings.Contains(a.Full, "HTTP 400") || strings.Contains(a.Full, "HTTP 404")) {
			t.Errorf("%s: full %q, read-only %q", a.Scope, a.Full, a.ReadOnly)
		}
	}
}

// A Klaviyo that validated bodies first would answer the read-only key's writes 400 as well: a key
// posing as read-only that in fact holds every scope looks exactly like that from outside.
func TestCalibrateRefuted(t *testing.T) {
	w := newWorld(t, mustFixture(t, `
accounts:
  - id: BODY01
    keys:
      - {name: admin, key: pk_b0000000000000000000000000000000a1, scopes: [full]}
      - {name: readonly, key: pk_b0000000000000000000000000000000a2, scopes: [full]}
`))
	res, err := Calibrate(context.Background(), calKey(w, t, "admin"), calKey(w, t, "readonly"), w.options(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != Refuted || res.ScopesBeforeBody {
		t.Fatalf("%+v", res.Calibration)
	}
}

func TestCalibrateInconclusive(t *testing.T) {
	for _, tc := range []struct {
		name, full, readOnly string
		faults               sandbox.Faults
		want                 string
	}{
		{"read-only key holds writes", "admin", "marketer", sandbox.Faults{}, "so it holds some write scopes"},
		{"full key is not", "marketer", "viewer", sandbox.Faults{}, "it is not a full-access key"},
		{"disabled key", "admin", "legacy-export", sandbox.Faults{}, "Klaviyo rejected the read-only key"},
		{"edge block", "admin", "viewer", sandbox.Faults{EdgeBlock: 0.5}, "blocked by Klaviyo's edge network"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			w.srv.SetFaults(0, tc.faults)
			_, err := Calibrate(context.Background(), calKey(w, t, tc.full), calKey(w, t, tc.readOnly), w.options(), time.Now)
			if err == nil || !strings.HasPrefix(err.Error(), "calibration inconclusive: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// A Klaviyo that cannot be reached gets the first write and nothing more: inconclusive, naming
// where it was asked.
func TestCalibrateUnreachable(t *testing.T) {
	w := newWorld(t, nil)
	opts, tries := unreachable(t)
	_, err := Calibrate(context.Background(), calKey(w, t, "admin"), calKey(w, t, "viewer"), opts, time.Now)
	want := "calibration inconclusive: Klaviyo's API at " + opts.APIURL + " did not answer PATCH "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "; nothing else was sent") {
		t.Fatalf("error %v, want %q...", err, want)
	}
	if n := tries.Load(); n != 1 {
		t.Errorf("%d connections tried, want the first write's one (writes are not retried)", n)
	}
}

func TestCalibrateGuard(t *testing.T) {
	w := newWorld(t, nil)
	w.srv.SetFaults(0, sandbox.Faults{AcceptWrites: true})
	_, err := Calibrate(context.Background(), calKey(w, t, "admin"), calKey(w, t, "viewer"), w.options(), time.Now)
	var ae *AcceptedError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v", err)
	}
	if n := w.srv.Stats().Requests; n != 1 {
		t.Errorf("%d requests, want the one write that was accepted", n)
	}
}

func TestCalibrationFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "calibration.json")
	c, err := LoadCalibration(path, "https://a.klaviyo.com/", "2026-07-15")
	if err != nil || c.State != Uncalibrated || c.View().State != Uncalibrated {
		t.Fatalf("%+v %v", c, err)
	}
	a := Calibration{APIURL: "https://a.klaviyo.com/", Revision: "2026-07-15", State: Confirmed, ScopesBeforeBody: true, CalibratedAt: calibrationTime, WriteProbes: 17}
	b := Calibration{APIURL: "http://127.0.0.1:8080", Revision: "2026-07-15", State: Refuted, CalibratedAt: calibrationTime, WriteProbes: 17}
	for _, x := range []Calibration{a, b, a} {
		if replaced, err := SaveCalibration(path, x); err != nil || replaced {
			t.Fatal(replaced, err)
		}
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	data, _ := os.ReadFile(path)
	f, err := ParseCalibrationFile(data)
	if err != nil || len(f.Calibrations) != 2 {
		t.Fatalf("%s: %v", data, err)
	}
	got, err := LoadCalibration(path, "https://a.klaviyo.com", "2026-07-15")
	if err != nil || got.State != Confirmed || got.View().CalibratedAt != "2026-07-20T12:00:00Z" {
		t.Errorf("%+v %v", got, err)
	}
	if got, _ := LoadCalibration(path, "https://a.klaviyo.com", "2026-10-15"); got.State != Uncalibrated {
		t.Errorf("another revision: %s", got.State)
	}
	if got, _ := LoadCalibration(path, "http://127.0.0.1:8080", "2026-07-15"); got.State != Refuted {
		t.Errorf("the other API: %s", got.State)
	}
	// Surrounding space, which the config lets through after a slash, does not make another API.
	if got, _ := LoadCalibration(path, "https://a.klaviyo.com/ ", "2026-07-15"); got.State != Confirmed {
		t.Errorf("with a trailing space: %s", got.State)
	}
	// A damaged file is an error to report, read as uncalibrated, and replaced by the next save.
	if err := os.WriteFile(path, []byte(`{"version":1,"calibrations":[{"api_url":"x","revision":"y","state":"maybe"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadCalibration(path, "x", "y"); err == nil || got.State != Uncalibrated {
		t.Errorf("%+v %v", got, err)
	}
	if replaced, err := SaveCalibration(path, a); err != nil || !replaced {
		t.Errorf("replaced %v, %v", replaced, err)
	}
}

func FuzzParseCalibrationFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"calibrations":[{"api_url":"https://a.klaviyo.com","revision":"2026-07-15","state":"confirmed","scopes_before_body":true,"calibrated_at":"2026-07-20T12:00:00Z","full_access_key":"1a2b3c4d","read_only_key":"5e6f7a8b","write_probes":17}]}`))
	f.Add([]byte(`{"version":1,"calibrations":[]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"calibrations":[{"api_url":"a","revision":"b","state":"refuted","scopes_before_body":true}]}`))
	f.Add([]byte(`{"version":1} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := ParseCalibrationFile(data)
		if err != nil {
			return
		}
		for _, c := range cf.Calibrations {
			if (c.State == Confirmed) != c.ScopesBeforeBody || (c.State != Confirmed && c.State != Refuted) {
				t.Fatalf("accepted an inconsistent calibration %+v", c)
			}
		}
	})
}

func TestGuard(t *testing.T) {
	status := http.StatusNotFound
	sent := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent++
		w.WriteHeader(status)
	}))
	defer srv.Close()
	g := NewGuard(nil)
	c := &http.Client{Transport: g}
	do := func(method string) (*http.Response, error) {
		req, _ := http.NewRequest(method, srv.URL+"/api/lists/x", nil)
		req.Header.Set("Authorization", "Klaviyo-API-Key pk_00000000000000000000000000000000aa")
		resp, err := c.Do(req)
		if resp != nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	if _, err := do("PATCH"); err != nil || g.Tripped() {
		t.Fatalf("a refused write tripped the guard: %v", err)
	}
	status = http.StatusOK
	if _, err := do("GET"); err != nil || g.Tripped() || g.Err() != nil {
		t.Fatalf("a read tripped the guard: %v", err)
	}
	_, err := do("DELETE")
	if err == nil || !g.Tripped() {
		t.Fatal("an accepted write did not trip the guard")
	}
	if msg := g.Err().Error(); msg != "a probe was accepted; stopping to avoid side effects: DELETE /api/lists/x answered 200 OK for pk_****00aa" {
		t.Errorf("message %q", msg)
	}
	select {
	case <-g.Done():
	default:
		t.Error("Done not closed")
	}
	before := sent
	if _, err := do("POST"); err == nil || sent != before {
		t.Error("a write went out after the guard tripped")
	}
	if _, err := do("GET"); err != nil || sent != before+1 {
		t.Error("reads should still go out")
	}
}

// A run's context ends when its guard trips, and not before; without a guard, only with its parent.
func TestGuardContext(t *testing.T) {
	var none *Guard
	ctx, cancel := none.context(context.Background())
	if ctx.Err() != nil {
		t.Fatal("a run without a guard ended at once")
	}
	cancel()
	if ctx.Err() == nil {
		t.Fatal("cancel did not end the run")
	}

	g := NewGuard(nil)
	ctx, cancel = g.context(context.Background())
	defer cancel()
	if ctx.Err() != nil {
		t.Fatal("the run ended before the guard tripped")
	}
	g.once.Do(func() { close(g.done) })
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the run went on after the guard tripped")
	}
}
