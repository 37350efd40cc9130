package secrets

import (
	"os"
	"path/filepath"
	"runtime"

	"github.com/zalando/go-keyring"
)

// SystemBackend is the OS keyring: the Secret Service over D-Bus on Linux and the BSDs, the
// Keychain on macOS, the Credential Manager on Windows.
func SystemBackend() Backend { return systemBackend{} }

type systemBackend struct{}

func (systemBackend) Get(service, user string) (string, error) {
	if err := checkSessionBus(); err != nil {
		return "", err
	}
	return keyring.Get(service, user)
}

func (systemBackend) Set(service, user, password string) error {
	if err := checkSessionBus(); err != nil {
		return err
	}
	return keyring.Set(service, user, password)
}

func (systemBackend) Delete(service, user string) error {
	if err := checkSessionBus(); err != nil {
		return err
	}
	return keyring.Delete(service, user)
}

// checkSessionBus fails fast where the Secret Service would be reached over a D-Bus session bus that
// is not there. Left alone, the D-Bus library would try to start one with dbus-launch, which leaves
// a bus daemon running after klrbac exits.
func checkSessionBus() error {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		return nil
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return nil
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		// systemd's per-user bus, which the D-Bus library finds on its own.
		if st, err := os.Stat(filepath.Join(dir, "bus")); err == nil && st.Mode()&os.ModeSocket != 0 {
			return nil
		}
	}
	return errBusAddressUnset
}
