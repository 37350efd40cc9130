package cmd

import (
	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
)

func newKeysRmCommand(a *app) *cobra.Command {
	var all, yes bool
	c := &cobra.Command{
		Use:     "rm ROLE | --all",
		Aliases: []string{"remove"},
		Short:   "Remove a role's key, or every role's key, from the OS keyring",
		Long: `Remove ROLE's key from the OS keyring, or with --all the key of every role of the policy.

On a terminal klrbac shows what it will remove and asks first, unless --yes is given;
without a terminal it refuses unless --yes is given (exit 2). A role with no key in the
keyring is skipped. Variables such as KLAVIYO_KEY_<ROLE> are not touched.` + exitStatus(
			exitOK, exitUsage, exitUnavailable),
		Example: `  klrbac keys rm viewer
  klrbac keys rm --all --yes`,
		Args: func(cmd *cobra.Command, args []string) error {
			if all && len(args) > 0 {
				return fault.Usagef("keys rm takes ROLE or --all, not both").Hint("usage: " + cmd.UseLine())
			}
			if all {
				return nil
			}
			return exactArgs(1, "ROLE (or --all)")(cmd, args)
		},
		ValidArgsFunction: firstArgs(1, a.complete(roleNames)),
		RunE: func(cmd *cobra.Command, args []string) error {
			pol, err := a.policy()
			if err != nil {
				return err
			}
			roles := pol.Roles
			if !all {
				role, err := pol.LookupRole(args[0])
				if err != nil {
					return err
				}
				roles = []policy.Role{role}
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			creds := make([]secrets.Credential, len(roles))
			for i, r := range roles {
				creds[i] = secrets.RoleKeyCredential(r.Name, r.EnvVar())
			}
			return secrets.RemoveCredentials(cmd.Context(), store, creds, yes, terminal{a.io}, a.trail())
		},
	}
	c.Flags().BoolVar(&all, "all", false, "remove the key of every role of the policy")
	c.Flags().BoolVarP(&yes, "yes", "y", false, "remove without asking")
	return c
}
