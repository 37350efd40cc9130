package policy

import (
	"context"
	"fmt"
	"io"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/warn"
)

// ActionCheck is the action a check's decisions are recorded under.
const ActionCheck = "check"

// Record records a's decisions in the trail, as audit.checks (mode) asks: all of them, the denied
// ones, or none. A listing is no decision and is not recorded. trail is asked for only when there
// is something to record: opening one costs a run that records nothing.
//
// A check only reads, so a record that cannot be written does not fail it: failing would turn a
// broken or read-only state directory into a broken CI gate, and the answer is the same either way.
// The failure is reported on stderr, with how to stop auditing checks. A broken alerts section in the
// config is still a configuration error (exit 2), like any other.
func (a Answer) Record(ctx context.Context, trail func() *audit.Trail, stderr io.Writer, mode string) error {
	if a.listing || mode == "none" {
		return nil
	}
	entries := make([]audit.Entry, 0, len(a.Decisions))
	for _, d := range a.Decisions {
		if mode == "denied" && d.Allowed {
			continue
		}
		resource := d.Permission
		if resource == "" {
			resource = d.Operation
		}
		entries = append(entries, audit.Entry{Role: a.Role, Action: ActionCheck, Resource: resource, Success: d.Allowed, Reason: d.Reason})
	}
	if len(entries) == 0 {
		return nil
	}
	_, err := trail().Record(ctx, entries...)
	if err == nil || fault.KindOf(err) == fault.Config || fault.KindOf(err) == fault.Usage {
		return err
	}
	warn.Printf(stderr, "check not audited: %v", err)
	for _, h := range fault.Hints(err) {
		if h == audit.HintChangesRefused { // the check itself is answered all the same
			continue
		}
		fmt.Fprintf(stderr, "hint: %s\n", h)
	}
	fmt.Fprintln(stderr, "hint: to stop auditing checks, set audit.checks: none (or KLRBAC_AUDIT_CHECKS=none)")
	return nil
}
