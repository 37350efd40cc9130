package cmd

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/fault"
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

// credentialEntry is the audit entry of a change to a stored credential, made only once the entry is
// written: it names the role or app and the credential's fingerprint, never the credential.
func credentialEntry(action string, c credential, value secrets.Secret) audit.Entry {
	e := audit.Entry{Action: action, Resource: c.item.String(), Fingerprint: value.Fingerprint()}
	if c.item.Kind() == "role" {
		e.Role = c.item.Name()
	}
	return e
}

// credential describes one stored credential for the commands that store and remove them.
type credential struct {
	item secrets.Item
	// what names it in messages: "the key of role marketer".
	what string
	// env overrides the keyring for it, e.g. KLAVIYO_KEY_MARKETER.
	env string
	// prompt is shown on a terminal when asking for it.
	prompt string
	// parse checks what was typed or piped and returns the value to store, with a note to print
	// (such as the account id a key carries).
	parse func(string) (secrets.Secret, string, error)
	// action names the audit action of storing and removing it.
	setAction, rmAction string
}

// describe shows a stored credential the only way klrbac shows one.
func describe(s secrets.Secret) string {
	return s.Masked() + " (fingerprint " + s.Fingerprint() + ")"
}

// storeCredential reads a credential from the terminal or standard input and stores it in the
// keyring. The keyring is asked first, so that a locked or missing keyring fails before anyone types
// a secret, and nothing is written anywhere else when it does.
func (a *app) storeCredential(ctx context.Context, store secrets.Store, c credential, force bool) error {
	io := a.io
	existing, err := store.Get(ctx, c.item)
	found := err == nil
	if err != nil && secrets.ClassOf(err) != secrets.NotFound {
		if secrets.ClassOf(err) == secrets.Disabled {
			return fault.Unavailablef("refusing to store %s: the keyring is off (keyring.backend: off)", c.what).
				Hint("klrbac keeps credentials only in the OS keyring, never in a file: turn it on by unsetting KLRBAC_KEYRING, or set " + c.env + " where it is used")
		}
		return secrets.Explain(err, c.env)
	}
	if found && !force {
		if !io.InTTY {
			return fault.Usagef("refusing to replace %s already in the keyring", c.what).
				Hint("the stored one is " + describe(existing) + "; pass --force to replace it")
		}
		ok, err := io.Confirm(fmt.Sprintf("%s is already stored: %s. Replace it?", capitalize(c.what), describe(existing)))
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintf(io.Err, "kept %s\n", describe(existing))
			return nil
		}
	}
	raw, err := io.ReadSecret(c.prompt)
	if err != nil {
		return err
	}
	value, note, err := c.parse(raw)
	if err != nil {
		return err
	}
	if found && value.Equal(existing) {
		fmt.Fprintf(io.Err, "%s is already %s; nothing changed\n", c.what, describe(value))
		return nil
	}
	err = a.trail().Audited(ctx, credentialEntry(c.setAction, c, value), func() error {
		if err := store.Set(ctx, c.item, value); err != nil {
			return secrets.Explain(err, c.env)
		}
		return nil
	})
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("stored %s in the keyring: %s", c.what, describe(value))
	if note != "" {
		msg += ", " + note
	}
	if found {
		msg += "; it replaces " + describe(existing)
	}
	fmt.Fprintln(io.Err, msg)
	if os.Getenv(c.env) != "" {
		fmt.Fprintf(io.Err, "note: %s is set in this environment and takes precedence over the keyring\n", c.env)
	}
	return nil
}

// removeCredentials removes credentials from the keyring after one confirmation. Those not stored
// are reported and skipped: removing what is not there is no error.
func (a *app) removeCredentials(ctx context.Context, store secrets.Store, creds []credential, yes bool) error {
	io := a.io
	type stored struct {
		c     credential
		value secrets.Secret
	}
	var found []stored
	for _, c := range creds {
		v, err := store.Get(ctx, c.item)
		switch {
		case err == nil:
			found = append(found, stored{c, v})
		case secrets.ClassOf(err) == secrets.NotFound:
		case secrets.ClassOf(err) == secrets.Disabled:
			return fault.Unavailablef("cannot remove %s: the keyring is off (keyring.backend: off)", c.what).
				Hint("unset KLRBAC_KEYRING to reach the OS keyring")
		default:
			return secrets.Explain(err, "")
		}
	}
	if len(found) == 0 {
		if len(creds) == 1 {
			fmt.Fprintf(io.Err, "no %s in the keyring; nothing to remove\n", strings.TrimPrefix(creds[0].what, "the "))
		} else {
			fmt.Fprintln(io.Err, "no keys in the keyring; nothing to remove")
		}
		return nil
	}
	if !yes {
		what, stored := found[0].c.what, "it is "+describe(found[0].value)
		if len(found) > 1 {
			what, stored = fmt.Sprintf("%d keys", len(found)), ""
		}
		if !io.InTTY {
			return fault.Usagef("refusing to remove %s from the keyring without confirmation", what).
				Hint(stored, "pass --yes to remove without asking")
		}
		if len(found) > 1 {
			for _, f := range found {
				fmt.Fprintf(io.Err, "  %s: %s\n", f.c.what, describe(f.value))
			}
		}
		if len(found) == 1 {
			what += ", " + describe(found[0].value) + ","
		}
		ok, err := io.Confirm("Remove " + what + " from the keyring?")
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(io.Err, "nothing removed")
			return nil
		}
	}
	for _, f := range found {
		err := a.trail().Audited(ctx, credentialEntry(f.c.rmAction, f.c, f.value), func() error {
			if err := store.Delete(ctx, f.c.item); err != nil {
				return secrets.Explain(err, "")
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(io.Err, "removed %s from the keyring: %s\n", f.c.what, describe(f.value))
		if os.Getenv(f.c.env) != "" {
			fmt.Fprintf(io.Err, "note: %s is still set in this environment\n", f.c.env)
		}
	}
	return nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// showProblem prints a problem the way errors are printed, without ending the command.
func showProblem(io *ui.IO, err error) { printProblem(io.Err, err) }
