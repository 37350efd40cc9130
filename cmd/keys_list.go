package cmd

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/ui"
)

func newKeysListCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Show where each role's key comes from, masked",
		Long: `Show, for every role of the policy, where its key comes from (the role's variable, the
keyring, or none), the key masked as pk_****a1b2, its fingerprint (the first 8 hex digits
of its SHA-256) and the account id newer keys carry. Keys are not sent anywhere: use
klrbac doctor --online to have Klaviyo check them.

A role's variable beats the keyring, so a role whose variable is set shows "env" even
when the keyring holds a key for it too. Roles without a key are listed too; that is no
error. When the keyring cannot be read, those roles show "unknown" and klrbac exits 3.` + exitStatus(
			exitOK, exitUsage, exitUnavailable),
		Example: "  klrbac keys list\n  klrbac keys list -o json | jq -r '.[] | select(.source == \"none\") | .role'",
		Args:    noArgs,
		RunE: out.run(func(cmd *cobra.Command, f ui.Format, _ []string) error {
			pol, err := a.policy()
			if err != nil {
				return err
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			return runKeysList(cmd.Context(), a.io, store, pol, os.Getenv, f)
		}),
	}
	out.register(c, listFormats...)
	return c
}

func runKeysList(ctx context.Context, io *ui.IO, store secrets.Store, pol *policy.Policy, getenv func(string) string, f ui.Format) error {
	list := secrets.ListKeys(ctx, store, pol.Roles, getenv)
	if f != ui.Table {
		if err := io.Encode(f, list.Keys); err != nil {
			return err
		}
	} else {
		rows := make([][]string, len(list.Keys))
		for i, v := range list.Keys {
			rows[i] = []string{v.Role, v.Where(), ui.OrDash(v.Key), ui.OrDash(v.Fingerprint), ui.OrDash(v.AccountID)}
		}
		if err := io.Table([]string{"ROLE", "SOURCE", "KEY", "FINGERPRINT", "ACCOUNT"}, rows); err != nil {
			return err
		}
	}
	// Each problem is printed the way errors are, without ending the command.
	for _, p := range list.Problems {
		printProblem(io.Err, p)
	}
	return list.Unreadable
}
