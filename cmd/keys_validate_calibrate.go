package cmd

import (
	"context"

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
	io.Calibration(res, full, ro, path)
	return nil
}
