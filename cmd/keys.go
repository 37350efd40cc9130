package cmd

import (
	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
)

func newKeysCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "keys",
		Short: "Store, list, remove and validate each role's Klaviyo key",
		Long: `Store, list and remove each role's Klaviyo private API key, and validate that each holds
exactly the scopes its role needs (klrbac keys validate).

Keys live in the OS keyring (service "klrbac", one item "role:<name>" per role), never in
a file. Where a key is used, the role's variable (KLAVIYO_KEY_<ROLE>, or the role's
key_env) beats the keyring, so CI jobs can set KLRBAC_KEYRING=off and pass keys in the
environment. Keys are shown only masked (pk_****a1b2) with a SHA-256 fingerprint.` + exitStatus(
			exitOK, exitFindings, exitUsage, exitUnavailable),
		Args: cobra.NoArgs,
	}
	c.AddCommand(newKeysSetCommand(a), newKeysListCommand(a), newKeysRmCommand(a), newKeysValidateCommand(a))
	return c
}

// roleKeyCredential is how keys set and keys rm see a role's key.
func roleKeyCredential(r policy.Role) credential {
	return credential{
		item:   secrets.RoleKeyItem(r.Name),
		what:   "the key of role " + r.Name,
		env:    r.EnvVar(),
		prompt: "Klaviyo private API key for role " + r.Name + " (input hidden): ",
		parse: func(raw string) (secrets.Secret, string, error) {
			k, err := secrets.ParseKey(raw)
			if err != nil {
				if fe, ok := err.(*secrets.FormatError); ok {
					return secrets.Secret{}, "", fe.Fault(fault.Usage, "")
				}
				return secrets.Secret{}, "", err
			}
			note := ""
			if k.AccountID != "" {
				note = "account " + k.AccountID
			}
			return k.Secret, note, nil
		},
		setAction: "keys.set",
		rmAction:  "keys.rm",
	}
}
