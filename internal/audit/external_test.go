package audit

import (
	"errors"
	"testing"

	"github.com/klrbac/klrbac/internal/fault"
)

// An action taken outside klrbac is checked without the policy or the catalog: those checks come in
// as functions, and the secret is read only once everything else has passed.
func TestExternalEntry(t *testing.T) {
	read := 0
	x := External{Action: "ops.rotate", Role: "admin", Endpoint: "get /api/accounts", Reason: "old pk_0123456789abcdef0123456789abcdef01",
		IP: "2001:DB8::7", Own: []string{"keys.set", "check"},
		CheckRole: func(string) error { return nil },
		Call:      func(string) (string, error) { return "GET /api/accounts", nil },
		ReadSecret: func() (string, error) {
			read++
			return "pk_0123456789abcdef0123456789abcdef01\n", nil
		}}
	e, err := x.Entry()
	if err != nil {
		t.Fatal(err)
	}
	if e.Action != "ops.rotate" || e.IPAddress != "2001:db8::7" || e.KlaviyoEndpoint != "GET /api/accounts" || !e.Success ||
		len(e.Fingerprint) != 8 || e.Reason != "old pk_****ef01" {
		t.Errorf("entry: %+v", e)
	}

	refused := map[string]External{
		"no action":          {},
		"not an action name": {Action: "Profiles Delete"},
		"klrbac's namespace": {Action: "keys.rotate", Own: x.Own},
		"unknown role":       {Action: "ops.x", Role: "nobody", CheckRole: func(string) error { return fault.Usagef("unknown role") }},
		"not an address":     {Action: "ops.x", IP: "203.0.113.7:443"},
		"not a call":         {Action: "ops.x", Endpoint: "FLY /", Call: func(string) (string, error) { return "", errors.New("no") }},
		"both fingerprints":  {Action: "ops.x", Fingerprint: "0a1b2c3d", ReadSecret: x.ReadSecret},
		"not a fingerprint":  {Action: "ops.x", Fingerprint: "0A1B2C3D"},
		"nothing read":       {Action: "ops.x", ReadSecret: func() (string, error) { return " \n", nil }},
	}
	read = 0
	for name, x := range refused {
		if _, err := x.Entry(); err == nil {
			t.Errorf("%s: recorded", name)
		}
	}
	if read != 0 {
		t.Errorf("the secret was read %d times for refused actions", read)
	}
}
