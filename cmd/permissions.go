package cmd

import (
	"github.com/spf13/cobra"
)

func newPermissionsCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:     "permissions",
		Aliases: []string{"perms"},
		Short:   "List permissions and the roles × permissions matrix",
		Long:    "List the policy's permissions, the Klaviyo scopes each needs, and which roles hold them." + exitStatus(exitOK, exitUsage),
		Args:    noArgs,
	}
	c.AddCommand(newPermissionsListCommand(a), newPermissionsMatrixCommand(a))
	return c
}
