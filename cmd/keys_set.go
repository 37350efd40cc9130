package cmd

import (
	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/secrets"
)

func newKeysSetCommand(a *app) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "set ROLE",
		Short: "Store a role's Klaviyo private key in the OS keyring",
		Long: `Store ROLE's Klaviyo private API key in the OS keyring, as item "role:ROLE" of service
"klrbac".

On a terminal the key is read from a prompt that does not echo it; otherwise from
standard input. It is never taken as an argument, where it would stay in the shell's
history. Surrounding whitespace is trimmed; the key must be pk_ and 34 lowercase
hexadecimal digits, or pk_, a 6-character account id, _ and 34 digits.

A key already stored for the role is replaced only after a yes on the terminal, or with
--force; without a terminal and without --force klrbac refuses (exit 2). When the keyring
is off or cannot be reached, nothing is read and nothing is written anywhere (exit 3).` + exitStatus(
			exitOK, exitUsage, exitUnavailable, exitInterrupted),
		Example: `  klrbac keys set marketer
  pbpaste | klrbac keys set marketer
  klrbac keys set marketer --force < marketer.key`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return fault.Usagef("keys set takes only ROLE: a key is never taken as an argument").
					Hint("type it at the prompt, or pipe it in: klrbac keys set ROLE < file")
			}
			return exactArgs(1, "ROLE")(cmd, args)
		},
		ValidArgsFunction: firstArgs(1, a.complete(roleNames)),
		RunE: func(cmd *cobra.Command, args []string) error {
			pol, err := a.policy()
			if err != nil {
				return err
			}
			role, err := pol.LookupRole(args[0])
			if err != nil {
				return err
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			return secrets.StoreCredential(cmd.Context(), store, secrets.RoleKeyCredential(role.Name, role.EnvVar()), force, terminal{a.io}, a.trail())
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "replace a stored key without asking")
	return c
}
