package validate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/warn"
)

// CalibrationKeys finds the two keys a calibration uses, each named by a role of the policy or any
// NAME whose key is in KLAVIYO_KEY_<NAME> (--full-role, --read-only-role): fullRole "" is the
// policy's one full_access role. The same key twice could prove nothing, so it is refused.
func CalibrationKeys(ctx context.Context, store secrets.Store, pol *policy.Policy, fullRole, readOnlyRole string) (full, readOnly CalibrationKey, err error) {
	if fullRole == "" {
		var roles []string
		for _, r := range pol.Roles {
			if r.FullAccess {
				roles = append(roles, r.Name)
			}
		}
		if len(roles) != 1 {
			return full, readOnly, fault.Usagef("--calibrate needs --full-role: the policy has %d full_access roles", len(roles)).
				Hint("name the role (or any NAME with the key in KLAVIYO_KEY_<NAME>) of a key with full access")
		}
		fullRole = roles[0]
	}
	fullKey, err := NamedKey(ctx, store, pol, "--full-role", fullRole)
	if err != nil {
		return full, readOnly, err
	}
	roKey, err := NamedKey(ctx, store, pol, "--read-only-role", readOnlyRole)
	if err != nil {
		return full, readOnly, err
	}
	if fullKey.Value.Equal(roKey.Value) {
		return full, readOnly, fault.Usagef("--full-role %s and --read-only-role %s have the same key (%s)", fullRole, readOnlyRole, fullKey.Value.Masked()).
			Hint("calibration needs two keys: one with full access, one with only read scopes")
	}
	quota := QuotaAccount([]string{fullKey.AccountID, roKey.AccountID})
	full = CalibrationKey{Name: "role " + fullRole, Key: klaviyo.PrivateKey(fullKey.Value.Reveal()), Account: quota(fullKey.AccountID)}
	readOnly = CalibrationKey{Name: "role " + readOnlyRole, Key: klaviyo.PrivateKey(roKey.Value.Reveal()), Account: quota(roKey.AccountID)}
	return full, readOnly, nil
}

// CalibrationTrail is what a calibration needs of the audit trail (audit.Trail).
type CalibrationTrail interface {
	Trail
	Audited(ctx context.Context, e audit.Entry, change func() error) error
}

// Status shows what a run is waiting on (ui.Progress): Update replaces the line, Done removes it.
type Status interface {
	Update(line string)
	Done()
}

// CalibrationRun is a calibration as `keys validate --calibrate` runs it.
type CalibrationRun struct {
	Full, ReadOnly CalibrationKey
	// File is where calibrations are kept (klaviyo.calibration_file).
	File string
	// Status, when set, shows that the probes are out.
	Status Status
}

// RunCalibration calibrates (Calibrate) and stores the result in run.File once its audit entry
// (action keys.calibrate) is kept. When the trail could not keep it, nothing is sent: probes sent
// for a result that cannot be stored are wasted. A calibration that fails is recorded as not
// stored; a failure to record that is a warning on stderr, since the run failed already. A refuted
// calibration is a result, stored like a confirmed one.
func RunCalibration(ctx context.Context, run CalibrationRun, opts Options, trail CalibrationTrail, stderr io.Writer) (CalibrationResult, error) {
	if err := trail.Ready(ctx, ActionCalibrate, ""); err != nil {
		return CalibrationResult{}, err
	}
	if run.Status != nil {
		run.Status.Update(fmt.Sprintf("calibrating: every write probe with %s and %s...", run.Full.Name, run.ReadOnly.Name))
	}
	res, err := Calibrate(ctx, run.Full, run.ReadOnly, opts, time.Now)
	if run.Status != nil {
		run.Status.Done()
	}
	entry := audit.Entry{Action: ActionCalibrate, Resource: calibrationURL(opts.APIURL) + " revision " + opts.Revision,
		Fingerprint: run.Full.Key.Fingerprint()}
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			entry.Reason = "not stored: " + err.Error()
			if _, rerr := trail.Record(ctx, entry); rerr != nil {
				warn.Printf(stderr, "the failed calibration was not audited: %v", rerr)
			}
		}
		return CalibrationResult{}, err
	}
	entry.Reason = fmt.Sprintf("%s with %d write probes; full-access key %s (fingerprint %s), read-only key %s (fingerprint %s); stored in %s",
		res.State, res.WriteProbes, run.Full.Name, res.FullAccessKey, run.ReadOnly.Name, res.ReadOnlyKey, run.File)
	var replaced bool
	err = trail.Audited(ctx, entry, func() error {
		var serr error
		replaced, serr = SaveCalibration(run.File, res.Calibration)
		return serr
	})
	if err != nil {
		return CalibrationResult{}, err
	}
	if replaced {
		warn.Printf(stderr, "%s could not be read and was replaced", run.File)
	}
	return res, nil
}
