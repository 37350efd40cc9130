package secrets

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
)

// Terminal is what storing and removing a credential needs of the person at the keyboard: whether
// there is one, a yes/no question, a hidden answer, and where to tell them what happened.
type Terminal interface {
	Interactive() bool
	Confirm(question string) (bool, error)
	ReadSecret(prompt string) (string, error)
	Stderr() io.Writer
}

// Auditor makes a change only once its audit entry is kept: the part of *audit.Trail that storing
// and removing credentials use.
type Auditor interface {
	Audited(ctx context.Context, e audit.Entry, change func() error) error
}

// credentialEntry is the audit entry of a change to a stored credential, made only once the entry is
// written: it names the role or app and the credential's fingerprint, never the credential.
func credentialEntry(action string, c Credential, value Secret, reason string) audit.Entry {
	e := audit.Entry{Action: action, Resource: c.Item.String(), Fingerprint: value.Fingerprint(), Reason: reason}
	if c.Item.Kind() == "role" {
		e.Role = c.Item.Name()
	}
	return e
}

// Credential describes one stored credential for the commands that store and remove them.
type Credential struct {
	Item Item
	// What names it in messages: "the key of role marketer".
	What string
	// Env overrides the keyring for it, e.g. KLAVIYO_KEY_MARKETER.
	Env string
	// Prompt is shown on a terminal when asking for it.
	Prompt string
	// Parse checks what was typed or piped and returns the value to store, with a note to print
	// (such as the account id a key carries).
	Parse func(string) (Secret, string, error)
	// SetAction and RmAction name the audit actions of storing and removing it.
	SetAction, RmAction string
}

// StoreCredential reads a credential from the terminal or standard input and stores it in the
// keyring. The keyring is asked first, so that a locked or missing keyring fails before anyone types
// a secret, and nothing is written anywhere else when it does.
func StoreCredential(ctx context.Context, store Store, c Credential, force bool, io Terminal, trail Auditor) error {
	existing, err := store.Get(ctx, c.Item)
	found := err == nil
	if err != nil && ClassOf(err) != NotFound {
		if ClassOf(err) == Disabled {
			return fault.Unavailablef("refusing to store %s: the keyring is off (keyring.backend: off)", c.What).
				Hint("klrbac keeps credentials only in the OS keyring, never in a file: turn it on by unsetting KLRBAC_KEYRING, or set " + c.Env + " where it is used")
		}
		return Explain(err, c.Env)
	}
	if found && !force {
		if !io.Interactive() {
			return fault.Usagef("refusing to replace %s already in the keyring", c.What).
				Hint("the stored one is " + existing.Described() + "; pass --force to replace it")
		}
		ok, err := io.Confirm(fmt.Sprintf("%s is already stored: %s. Replace it?", capitalize(c.What), existing.Described()))
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintf(io.Stderr(), "kept %s\n", existing.Described())
			return nil
		}
	}
	raw, err := io.ReadSecret(c.Prompt)
	if err != nil {
		return err
	}
	value, note, err := c.Parse(raw)
	if err != nil {
		return err
	}
	if found && value.Equal(existing) {
		fmt.Fprintf(io.Stderr(), "%s is already %s; nothing changed\n", c.What, value.Described())
		return nil
	}
	reason := "storing in the keyring"
	if found {
		reason = "replacing the stored value (fingerprint " + existing.Fingerprint() + ") in the keyring"
	}
	err = trail.Audited(ctx, credentialEntry(c.SetAction, c, value, reason), func() error {
		if err := store.Set(ctx, c.Item, value); err != nil {
			return Explain(err, c.Env)
		}
		return nil
	})
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("stored %s in the keyring: %s", c.What, value.Described())
	if note != "" {
		msg += ", " + note
	}
	if found {
		msg += "; it replaces " + existing.Described()
	}
	fmt.Fprintln(io.Stderr(), msg)
	if os.Getenv(c.Env) != "" {
		fmt.Fprintf(io.Stderr(), "note: %s is set in this environment and takes precedence over the keyring\n", c.Env)
	}
	return nil
}

// RemoveCredentials removes credentials from the keyring after one confirmation. Those not stored
// are reported and skipped: removing what is not there is no error.
func RemoveCredentials(ctx context.Context, store Store, creds []Credential, yes bool, io Terminal, trail Auditor) error {
	type stored struct {
		c     Credential
		value Secret
	}
	var found []stored
	for _, c := range creds {
		v, err := store.Get(ctx, c.Item)
		switch {
		case err == nil:
			found = append(found, stored{c, v})
		case ClassOf(err) == NotFound:
		case ClassOf(err) == Disabled:
			return fault.Unavailablef("cannot remove %s: the keyring is off (keyring.backend: off)", c.What).
				Hint("unset KLRBAC_KEYRING to reach the OS keyring")
		default:
			return Explain(err, "")
		}
	}
	if len(found) == 0 {
		if len(creds) == 1 {
			fmt.Fprintf(io.Stderr(), "no %s in the keyring; nothing to remove\n", strings.TrimPrefix(creds[0].What, "the "))
		} else {
			fmt.Fprintln(io.Stderr(), "no keys in the keyring; nothing to remove")
		}
		return nil
	}
	if !yes {
		what, stored := found[0].c.What, "it is "+found[0].value.Described()
		if len(found) > 1 {
			what, stored = fmt.Sprintf("%d keys", len(found)), ""
		}
		if !io.Interactive() {
			return fault.Usagef("refusing to remove %s from the keyring without confirmation", what).
				Hint(stored, "pass --yes to remove without asking")
		}
		if len(found) > 1 {
			for _, f := range found {
				fmt.Fprintf(io.Stderr(), "  %s: %s\n", f.c.What, f.value.Described())
			}
		}
		if len(found) == 1 {
			what += ", " + found[0].value.Described() + ","
		}
		ok, err := io.Confirm("Remove " + what + " from the keyring?")
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(io.Stderr(), "nothing removed")
			return nil
		}
	}
	for _, f := range found {
		err := trail.Audited(ctx, credentialEntry(f.c.RmAction, f.c, f.value, "removing from the keyring"), func() error {
			if err := store.Delete(ctx, f.c.Item); err != nil {
				return Explain(err, "")
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(io.Stderr(), "removed %s from the keyring: %s\n", f.c.What, f.value.Described())
		if os.Getenv(f.c.Env) != "" {
			fmt.Fprintf(io.Stderr(), "note: %s is still set in this environment\n", f.c.Env)
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

// RoleKeyCredential is how keys set and keys rm see a role's key; env is the role's variable.
func RoleKeyCredential(role, env string) Credential {
	return Credential{
		Item:   RoleKeyItem(role),
		What:   "the key of role " + role,
		Env:    env,
		Prompt: "Klaviyo private API key for role " + role + " (input hidden): ",
		Parse: func(raw string) (Secret, string, error) {
			k, err := ParseKey(raw)
			if err != nil {
				if fe, ok := err.(*FormatError); ok {
					return Secret{}, "", fe.Fault(fault.Usage, "")
				}
				return Secret{}, "", err
			}
			note := ""
			if k.AccountID != "" {
				note = "account " + k.AccountID
			}
			return k.Secret, note, nil
		},
		SetAction: "keys.set",
		RmAction:  "keys.rm",
	}
}

// ClientSecretCredential is how oauth set-secret and rm-secret see an app's client secret.
func ClientSecretCredential(app string) Credential {
	return Credential{
		Item:   OAuthClientItem(app),
		What:   "the client secret of OAuth app " + app,
		Env:    ClientSecretEnv,
		Prompt: "Client secret of OAuth app " + app + " (input hidden): ",
		Parse: func(raw string) (Secret, string, error) {
			s, err := ParseClientSecret(raw)
			if fe, ok := err.(*FormatError); ok {
				return Secret{}, "", fe.Fault(fault.Usage, "")
			}
			return s, "", err
		},
		SetAction: "oauth.set-secret",
		RmAction:  "oauth.rm-secret",
	}
}
