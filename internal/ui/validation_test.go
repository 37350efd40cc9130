package ui

import (
	"bytes"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/validate"
)

// A scope that only an inference decided is marked so in the table.
func TestValidationMarksInferredScopes(t *testing.T) {
	var out, errOut bytes.Buffer
	s := &IO{Out: &out, Err: &errOut}
	err := s.Validation(&validate.Report{Method: validate.ByProbe, Roles: []validate.RoleReport{{
		Role: "marketer", KeySource: "env KLAVIYO_KEY_MARKETER", Method: validate.ByProbe, Verdict: validate.VerdictInvalid,
		Missing: []string{"lists:write"}, Excess: []string{"profiles:write"}, Inferred: []string{"lists:write"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "ROLE") ||
		!strings.Contains(lines[1], "lists:write (inferred)   profiles:write   -") {
		t.Errorf("table:\n%s", out.String())
	}
}
