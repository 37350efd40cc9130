package cmd

import (
	"context"
	"fmt"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/klrbac/klrbac/internal/validate"
)

// calibrationView is the JSON and YAML shape of `keys validate --calibrate` (documented in
// docs/json-output.md): the calibration as stored, where it is stored, and the answers it rests on.
type calibrationView struct {
	validate.CalibrationResult
	File string `json:"file"`
}

// runCalibrate establishes Klaviyo's order of checks with a known full-access key and a known
// read-only key, stores it once its audit entry is written, and prints what it found. The trail is
// opened only once both keys are found.
func runCalibrate(ctx context.Context, io *ui.IO, store secrets.Store, pol *policy.Policy, trail func() *audit.Trail, opts validate.Options, file string, o validateOptions) error {
	full, ro, err := validate.CalibrationKeys(ctx, store, pol, o.FullRole, o.ReadOnlyRole)
	if err != nil {
		return err
	}
	run := validate.CalibrationRun{Full: full, ReadOnly: ro, File: file, Status: io.NewProgress()}
	res, err := validate.RunCalibration(ctx, run, opts, trail(), io.Err)
	if err != nil {
		return err
	}
	if err := renderCalibration(io, o.format, res, full, ro, file); err != nil {
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
