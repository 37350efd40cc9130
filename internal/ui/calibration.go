package ui

import (
	"fmt"

	"github.com/klrbac/klrbac/internal/validate"
)

// Calibration prints what `keys validate --calibrate` established with the keys full and ro, and
// where it is stored: whether write probes prove a scope against this Klaviyo, and why.
func (s *IO) Calibration(res validate.CalibrationResult, full, ro validate.CalibrationKey, path string) {
	w := s.Out
	fmt.Fprintf(w, "calibrated %s (revision %s): %s\n", res.APIURL, res.Revision, res.State)
	if res.State == validate.Confirmed {
		fmt.Fprintln(w, "Klaviyo checks a key's scopes before it validates a write: a write probe's 400 or 404 proves the scope.")
		fmt.Fprintf(w, "full-access key: %s, %s (fingerprint %s): %d write probes answered 400 or 404\n", full.Name, full.Key.Mask(), res.FullAccessKey, res.WriteProbes)
		fmt.Fprintf(w, "read-only key:   %s, %s (fingerprint %s): %d write probes answered 403 permission_denied\n", ro.Name, ro.Key.Mask(), res.ReadOnlyKey, res.WriteProbes)
	} else {
		fmt.Fprintln(w, "Klaviyo answered the read-only key's write probes 400 or 404 as well: it validates a write before it checks")
		fmt.Fprintln(w, "the key's scopes (or the key is not read-only). Write probes cannot prove a scope here: keys validate")
		fmt.Fprintln(w, "reports write scopes a key holds as undetermined; --inventory-role gives exact answers.")
		fmt.Fprintf(w, "full-access key: %s, %s (fingerprint %s)\n", full.Name, full.Key.Mask(), res.FullAccessKey)
		fmt.Fprintf(w, "read-only key:   %s, %s (fingerprint %s)\n", ro.Name, ro.Key.Mask(), res.ReadOnlyKey)
	}
	fmt.Fprintf(w, "stored in %s\n", path)
}
