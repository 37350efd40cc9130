package sandbox

import (
	"time"

	"github.com/klrbac/klrbac/internal/fault"
)

// Overrides are the fault settings given on the command line, laid over a fixture's own: a nil field
// leaves the fixture's setting. Messages name the sandbox command's flags.
type Overrides struct {
	Latency                                  *time.Duration
	Unavailable, EdgeBlock, Reset, Throttle  *float64
	NoRetryAfter, AcceptWrites, NoRateLimits *bool
}

// Apply lays the overrides over fx, refusing fractions out of range and fractions that add up,
// with the fixture's, to more than all /api calls.
func (o Overrides) Apply(fx *Fixture) error {
	fractions := []struct {
		flag string
		v    *float64
		into *float64
	}{
		{"fault-unavailable", o.Unavailable, &fx.Faults.Unavailable},
		{"fault-edge-block", o.EdgeBlock, &fx.Faults.EdgeBlock},
		{"fault-reset", o.Reset, &fx.Faults.Reset},
		{"fault-throttle", o.Throttle, &fx.Faults.Throttle},
	}
	for _, f := range fractions {
		if f.v != nil && (*f.v < 0 || *f.v > 1) {
			return fault.Usagef("--%s %v is not a fraction between 0 and 1", f.flag, *f.v).Hint("use --" + f.flag + " 0.25 to hit every fourth call")
		}
	}
	if o.Latency != nil {
		if *o.Latency < 0 || *o.Latency > MaxLatency {
			return fault.Usagef("--latency %s is out of range: it must be from 0s to 1m", *o.Latency).Hint("use a duration such as 200ms")
		}
		fx.Latency = *o.Latency
	}
	for _, f := range fractions {
		if f.v != nil {
			*f.into = *f.v
		}
	}
	if share := fx.Faults.Share(); share > 1 {
		return fault.Usagef("the fault fractions add up to %g, more than all /api calls", share).
			Hint(FaultShareHint).
			Hint("lower --fault-reset, --fault-edge-block, --fault-unavailable or --fault-throttle (or the fixture's faults)")
	}
	if o.NoRetryAfter != nil {
		fx.Faults.NoRetryAfter = *o.NoRetryAfter
	}
	if o.AcceptWrites != nil {
		fx.Faults.AcceptWrites = *o.AcceptWrites
	}
	if o.NoRateLimits != nil {
		fx.RateLimits = !*o.NoRateLimits
	}
	return nil
}
