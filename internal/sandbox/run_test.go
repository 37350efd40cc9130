package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/fault"
)

var testEnv = []EnvVar{{"KLRBAC_API_URL", "http://127.0.0.1:1"}, {"KLAVIYO_KEY_VIEWER", "pk_" + strings.Repeat("a", 34)}}

// --env-file names a file the sandbox owns: one that exists already is someone else's, and
// neither replaced nor removed.
func TestEnvFileRefusesToOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mine.env")
	if err := os.WriteFile(path, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := writeEnvFile(path, testEnv)
	if err == nil || fault.KindOf(err) != fault.Usage || err.Error() != "refusing to overwrite "+path || len(fault.Hints(err)) == 0 {
		t.Fatalf("writeEnvFile over an existing file: %v (kind %v, hints %q)", err, fault.KindOf(err), fault.Hints(err))
	}
	if b, _ := os.ReadFile(path); string(b) != "precious\n" {
		t.Errorf("the existing file now holds %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestEnvFileIsPrivateAndRemovedOnlyWhileUnchanged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sandbox.env")
	written, err := writeEnvFile(path, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("env file: %v, mode %v, want 0600", err, st.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); string(b) != string(written) || !strings.Contains(string(b), "export KLAVIYO_KEY_VIEWER=pk_") {
		t.Errorf("env file holds %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	// Someone wrote over it while the sandbox ran: it is theirs now.
	if err := os.WriteFile(path, []byte("export OTHER=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	removeEnvFile(path, written)
	if b, err := os.ReadFile(path); err != nil || string(b) != "export OTHER=1\n" {
		t.Errorf("a rewritten env file was removed or changed: %q %v", b, err)
	}

	if err := os.WriteFile(path, written, 0o600); err != nil {
		t.Fatal(err)
	}
	removeEnvFile(path, written)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the sandbox's own env file was not removed: %v", err)
	}
}

// An address that is not host:port says what is wrong with it, never "<nil>".
func TestCheckLoopbackNamesWhatIsWrong(t *testing.T) {
	for addr, want := range map[string]string{
		"bogus":           `--addr "bogus" is not host:port: missing port in address`,
		"127.0.0.1:80:80": `--addr "127.0.0.1:80:80" is not host:port: too many colons in address`,
		"[::1:80":         `--addr "[::1:80" is not host:port: missing ']' in address`,
	} {
		err := CheckLoopback(addr)
		if err == nil || err.Error() != want || fault.KindOf(err) != fault.Usage || len(fault.Hints(err)) == 0 {
			t.Errorf("CheckLoopback(%q) = %v (hints %q), want %q with a hint", addr, err, fault.Hints(err), want)
		}
	}
	if err := CheckLoopback("[::1]:0"); err != nil {
		t.Errorf("[::1]:0: %v", err)
	}
}

// Only the settings given override the fixture's: a flag left out keeps what the fixture says.
func TestOverridesKeepWhatIsNotGiven(t *testing.T) {
	fx := DemoFixture()
	fx.Faults.Throttle, fx.Faults.AcceptWrites = 0.5, true
	unavailable, noLimits := 0.25, true
	if err := (Overrides{Unavailable: &unavailable, NoRateLimits: &noLimits}).Apply(fx); err != nil {
		t.Fatal(err)
	}
	if fx.Faults.Unavailable != 0.25 || fx.Faults.Throttle != 0.5 || !fx.Faults.AcceptWrites || fx.RateLimits {
		t.Errorf("faults %+v, rate limits %v", fx.Faults, fx.RateLimits)
	}
	tooMuch := 0.75
	if err := (Overrides{Reset: &tooMuch}).Apply(fx); fault.KindOf(err) != fault.Usage {
		t.Errorf("fractions adding up to 1.5: %v", err)
	}
}
