package validate

import (
	"testing"
	"time"
)

// --verbose names the roles, key, scope and probe of each event, and what its answer proved.
func TestEventLine(t *testing.T) {
	e := Event{Roles: []string{"marketer", "viewer"}, Key: "pk_****a1b2",
		Finding: Finding{Scope: "lists:write", Answer: Granted, Inferred: true, Request: "PATCH /api/lists/x", Reason: "400 invalid body"}}
	if got, want := e.Line(), "marketer,viewer pk_****a1b2: lists:write: PATCH /api/lists/x -> 400 invalid body: granted (inferred)"; got != want {
		t.Errorf("Line() = %q, want %q", got, want)
	}
	e.Finding = Finding{Scope: "lists:read", Answer: NotChecked, Request: "GET /api/lists", Reason: "401"}
	if got, want := e.Line(), "marketer,viewer pk_****a1b2: lists:read: GET /api/lists -> 401: key rejected"; got != want {
		t.Errorf("Line() = %q, want %q", got, want)
	}
}

// The time left is the larger of what the rate limits allow and what the pace so far predicts, and
// is not given once every probe is done.
func TestEventProgress(t *testing.T) {
	for _, tc := range []struct {
		e       Event
		elapsed time.Duration
		want    string
	}{
		{Event{RolesTotal: 2, Total: 10, Estimate: 30 * time.Second}, 0, "validating: 0/2 roles, 0/10 probes, about 30s left"},
		{Event{RolesTotal: 2, Done: 5, Total: 10, Estimate: 10 * time.Second}, 20 * time.Second, "validating: 0/2 roles, 5/10 probes, about 20s left"},
		{Event{RolesDone: 1, RolesTotal: 2, Done: 8, Total: 10, Estimate: time.Minute}, 8 * time.Second, "validating: 1/2 roles, 8/10 probes, about 52s left"},
		{Event{RolesDone: 2, RolesTotal: 2, Done: 10, Total: 10}, 9 * time.Second, "validating: 2/2 roles, 10/10 probes"},
	} {
		if got := tc.e.Progress(tc.elapsed); got != tc.want {
			t.Errorf("Progress(%s) = %q, want %q", tc.elapsed, got, tc.want)
		}
	}
}
