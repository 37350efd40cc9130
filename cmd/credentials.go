package cmd

import (
	"io"

	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/ui"
)

// keyringBackend is the keyring behind every store; nil is the OS keyring. The command-line tests
// put a fake keyring in its place; klrbac itself has no other, and no way to keep a credential in a
// file.
var keyringBackend secrets.Backend

// openSecrets opens the keyring the configuration names (keyring.backend, keyring.timeout).
func openSecrets(cfg *config.Config) secrets.Store {
	return secrets.New(secrets.Options{Off: cfg.KeyringOff(), Timeout: cfg.KeyringTimeout(), Backend: keyringBackend})
}

// secrets returns the credential store, opened on first use: commands that never touch a
// credential never load the keyring library's state.
func (a *app) secrets() (secrets.Store, error) {
	if a.store != nil {
		return a.store, nil
	}
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	a.store = openSecrets(cfg)
	return a.store, nil
}

// terminal is the person at the keyboard, as secrets.StoreCredential and RemoveCredentials ask.
type terminal struct{ *ui.IO }

func (t terminal) Interactive() bool { return t.InTTY }
func (t terminal) Stderr() io.Writer { return t.Err }
