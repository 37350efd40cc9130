package validate

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
)

// calibrationTrail is an audit trail in memory that can be not ready.
type calibrationTrail struct {
	recorder
	notReady error
}

func (c *calibrationTrail) Ready(context.Context, string, string) error { return c.notReady }

func (c *calibrationTrail) Audited(ctx context.Context, e audit.Entry, change func() error) error {
	if _, err := c.Record(ctx, e); err != nil {
		return err
	}
	return change()
}

// A calibration is stored once its record is kept, and the record says what was found with which keys.
func TestRunCalibrationStoresOnceRecorded(t *testing.T) {
	w := newWorld(t, nil)
	file := filepath.Join(t.TempDir(), "calibration.json")
	trail := &calibrationTrail{}
	run := CalibrationRun{Full: calKey(w, t, "admin"), ReadOnly: calKey(w, t, "viewer"), File: file}
	res, err := RunCalibration(context.Background(), run, w.options(), trail, &bytes.Buffer{})
	if err != nil || res.State != Confirmed {
		t.Fatalf("%+v, %v", res.Calibration, err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("not stored: %v", err)
	}
	if len(trail.entries) != 1 || trail.entries[0].Action != "keys.calibrate" ||
		!strings.HasPrefix(trail.entries[0].Reason, "confirmed with 28 write probes; full-access key role admin (fingerprint ") {
		t.Errorf("records: %+v", trail.entries)
	}
}

// When the trail could not keep the record, nothing is sent and nothing is stored.
func TestRunCalibrationRefusedUnrecorded(t *testing.T) {
	w := newWorld(t, nil)
	file := filepath.Join(t.TempDir(), "calibration.json")
	trail := &calibrationTrail{notReady: fault.Unavailablef("refusing to calibrate without an audit record")}
	run := CalibrationRun{Full: calKey(w, t, "admin"), ReadOnly: calKey(w, t, "viewer"), File: file}
	if _, err := RunCalibration(context.Background(), run, w.options(), trail, &bytes.Buffer{}); !errors.Is(err, trail.notReady) {
		t.Fatalf("err %v, want the trail's refusal", err)
	}
	if n := w.srv.Stats().Requests; n != 0 {
		t.Errorf("%d requests sent", n)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stored anyway: %v", err)
	}
}

// The two keys must be two, and the full-access one defaults to the policy's one full_access role.
func TestCalibrationKeys(t *testing.T) {
	pol := policy.Default()
	t.Setenv("KLAVIYO_KEY_ADMIN", "pk_b0000000000000000000000000000000a1")
	t.Setenv("KLAVIYO_KEY_VIEWER", "pk_b0000000000000000000000000000000a2")
	store := secrets.New(secrets.Options{Off: true})
	full, ro, err := CalibrationKeys(context.Background(), store, pol, "", "viewer")
	if err != nil || full.Name != "role admin" || ro.Name != "role viewer" {
		t.Fatalf("%q, %q, %v", full.Name, ro.Name, err)
	}
	_, _, err = CalibrationKeys(context.Background(), store, pol, "", "admin")
	if fault.KindOf(err) != fault.Usage || err.Error() != "--full-role admin and --read-only-role admin have the same key (pk_****00a1)" {
		t.Errorf("same key: %v", err)
	}
}
