package cmd

import (
	"github.com/spf13/cobra"
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
