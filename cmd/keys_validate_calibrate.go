package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/klrbac/klrbac/internal/validate"
	"github.com/klrbac/klrbac/internal/warn"
)

// calibrationView is the JSON and YAML shape of `keys validate --calibrate` (documented in
// docs/json-output.md): the calibration as stored, where it is stored, and the answers it rests on.
type calibrationView struct {
	validate.CalibrationResult
	File string `json:"file"`
}

// runCalibrate establishes Klaviyo's order of checks with a known full-access key and a known
// read-only key, and stores it once its audit entry is written.
func (a *app) runCalibrate(ctx context.Context, pol *policy.Policy, o validateOptions) error {
	fullName := o.fullRole
	if fullName == "" {
		var full []string
		for _, r := range pol.Roles {
			if r.FullAccess {
				full = append(full, r.Name)
			}
		}
		if len(full) != 1 {
			return fault.Usagef("--calibrate needs --full-role: the policy has %d full_access roles", len(full)).
				Hint("name the role (or any NAME with the key in KLAVIYO_KEY_<NAME>) of a key with full access")
		}
		fullName = full[0]
	}
	store, err := a.secrets()
	if err != nil {
		return err
	}
	fullKey, err := validate.NamedKey(ctx, store, pol, "--full-role", fullName)
	if err != nil {
		return err
	}
	roKey, err := validate.NamedKey(ctx, store, pol, "--read-only-role", o.readOnlyRole)
	if err != nil {
		return err
	}
	if fullKey.Value.Equal(roKey.Value) {
		return fault.Usagef("--full-role %s and --read-only-role %s have the same key (%s)", fullName, o.readOnlyRole, fullKey.Value.Masked()).
			Hint("calibration needs two keys: one with full access, one with only read scopes")
	}
	opts, path, err := a.probeOptions(ctx, "keys.calibrate", o.requestTimeout)
	if err != nil {
		return err
	}
	quota := validate.QuotaAccount([]string{fullKey.AccountID, roKey.AccountID})
	full := validate.CalibrationKey{Name: "role " + fullName, Key: klaviyo.PrivateKey(fullKey.Value.Reveal()), Account: quota(fullKey.AccountID)}
	ro := validate.CalibrationKey{Name: "role " + o.readOnlyRole, Key: klaviyo.PrivateKey(roKey.Value.Reveal()), Account: quota(roKey.AccountID)}

	progress := a.io.NewProgress()
	progress.Update(fmt.Sprintf("calibrating: every write probe with %s and %s...", full.Name, ro.Name))
	res, err := validate.Calibrate(ctx, full, ro, opts, time.Now)
	progress.Done()
	entry := audit.Entry{Action: "keys.calibrate", Resource: validate.NormalizeAPIURL(opts.APIURL) + " revision " + opts.Revision,
		Fingerprint: full.Key.Fingerprint()}
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			entry.Reason = "not stored: " + err.Error()
			if _, rerr := a.trail().Record(ctx, entry); rerr != nil {
				warn.Printf(a.io.Err, "the failed calibration was not audited: %v", rerr)
			}
		}
		return err
	}
	entry.Reason = fmt.Sprintf("%s with %d write probes; full-access key %s (fingerprint %s), read-only key %s (fingerprint %s); stored in %s",
		res.State, res.WriteProbes, full.Name, res.FullAccessKey, ro.Name, res.ReadOnlyKey, path)
	var replaced bool
	err = a.trail().Audited(ctx, entry, func() error {
		var serr error
		replaced, serr = validate.SaveCalibration(path, res.Calibration)
		return serr
	})
	if err != nil {
		return err
	}
	if replaced {
		warn.Printf(a.io.Err, "%s could not be read and was replaced", path)
	}
	if err := renderCalibration(a.io, o.format, res, full, ro, path); err != nil {
		return err
	}
	if res.State == validate.Refuted {
		return fault.Silent(fault.Findings)
	}
	return nil
}

func renderCalibration(io *ui.IO, f ui.Format, res validate.CalibrationResult, full, ro validate.CalibrationKey, path string) error {
	if f != ui.Table {
		return io.Encode(f, calibrationView{CalibrationResult: res, File: path})
	}
	fmt.Fprintf(io.Out, "calibrated %s (revision %s): %s\n", res.APIURL, res.Revision, res.State)
	if res.State == validate.Confirmed {
		fmt.Fprintln(io.Out, "Klaviyo checks a key's scopes before it validates a write: a write probe's 400 or 404 proves the scope.")
		fmt.Fprintf(io.Out, "full-access key: %s, %s (fingerprint %s): %d write probes answered 400 or 404\n", full.Name, full.Key.Mask(), res.FullAccessKey, res.WriteProbes)
		fmt.Fprintf(io.Out, "read-only key:   %s, %s (fingerprint %s): %d write probes answered 403 permission_denied\n", ro.Name, ro.Key.Mask(), res.ReadOnlyKey, res.WriteProbes)
	} else {
		fmt.Fprintln(io.Out, "Klaviyo answered the read-only key's write probes 400 or 404 as well: it validates a write before it checks")
		fmt.Fprintln(io.Out, "the key's scopes (or the key is not read-only). Write probes cannot prove a scope here: keys validate")
		fmt.Fprintln(io.Out, "reports write scopes a key holds as undetermined; --inventory-role gives exact answers.")
		fmt.Fprintf(io.Out, "full-access key: %s, %s (fingerprint %s)\n", full.Name, full.Key.Mask(), res.FullAccessKey)
		fmt.Fprintf(io.Out, "read-only key:   %s, %s (fingerprint %s)\n", ro.Name, ro.Key.Mask(), res.ReadOnlyKey)
	}
	fmt.Fprintf(io.Out, "stored in %s\n", path)
	return nil
}
