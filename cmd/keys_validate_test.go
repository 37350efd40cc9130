package cmd

import (
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/validate"
)

// A NAME of --inventory-role, --full-role or --read-only-role ends up in a variable's name and in
// hints: a key is refused without being repeated, and anything a variable cannot hold is refused.
func TestCheckKeyName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"admin", true}, {"key-audit", true}, {"KEY_AUDIT2", true}, {"a", true},
		{"", false}, {"a b", false}, {"a/../b", false}, {"-admin", false}, {"_admin", false}, {"2fa", false},
		{"pk_aca7bfb2d9ad79ac7d242973a9ed4d4343", false}, {strings.Repeat("a", 65), false}, {"admin\n", false},
	} {
		err := validate.CheckKeyName("--inventory-role", tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("validate.CheckKeyName(%q) = %v, want ok %v", tc.name, err, tc.ok)
			continue
		}
		if err != nil && exitCode(err) != exitUsage {
			t.Errorf("validate.CheckKeyName(%q): exit %d, want %d", tc.name, exitCode(err), exitUsage)
		}
		if err != nil && strings.Contains(err.Error(), "aca7bfb2") {
			t.Errorf("CheckKeyName repeats a key: %v", err)
		}
	}
}
