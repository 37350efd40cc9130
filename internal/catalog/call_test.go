package catalog

import (
	"slices"
	"testing"

	"github.com/klrbac/klrbac/internal/fault"
)

// A call is taken as one argument or two, with the method in any case; anything else is a usage
// error that says how to write one.
func TestParseCall(t *testing.T) {
	for _, args := range [][]string{{"get /api/profiles"}, {"GET", "/api/profiles"}, {"  GET   /api/profiles "}} {
		m, p, err := ParseCall(args...)
		if err != nil || m != "GET" || p != "/api/profiles" {
			t.Errorf("ParseCall(%q) = %q, %q, %v", args, m, p, err)
		}
	}
	for msg, args := range map[string][]string{
		"expected METHOD PATH, such as GET /api/profiles": {"/api/profiles"},
		`"FETCH" is not an HTTP method`:                   {"FETCH", "/api/profiles"},
	} {
		_, _, err := ParseCall(args...)
		if fault.KindOf(err) != fault.Usage || err.Error() != msg {
			t.Errorf("ParseCall(%q): %v, want the usage error %q", args, err, msg)
		}
	}
}

// A call that reaches no operation is a usage error whose hints name the nearest ones.
func TestLookupCall(t *testing.T) {
	op, stored, err := LookupCall("get https://a.klaviyo.com/api/profiles/01HXYZ/?page[size]=1")
	if err != nil || op.ID != "get_profile" || stored != "GET /api/profiles/01HXYZ" {
		t.Errorf("LookupCall: %s (%s), stored %q, %v", op, op.ID, stored, err)
	}
	_, _, err = LookupCall("GET /api/profile")
	if fault.KindOf(err) != fault.Usage || err.Error() != "no Klaviyo operation matches GET /api/profile" ||
		!slices.Contains(fault.Hints(err), "nearest: GET /api/profiles") {
		t.Errorf("LookupCall of an unknown call: %v, hints %q", err, fault.Hints(err))
	}
}
