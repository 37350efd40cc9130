package cmd

import (
	"github.com/spf13/cobra"
)

// permissionView is the JSON and YAML shape of a permission (documented in docs/json-output.md).
type permissionView struct {
	Name        string   `json:"name" yaml:"name"`
	Description string   `json:"description" yaml:"description"`
	Scopes      []string `json:"scopes" yaml:"scopes"`
	Roles       []string `json:"roles" yaml:"roles"`
}

func newPermissionsCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:     "permissions",
		Aliases: []string{"perms"},
		Short:   "List permissions and the roles × permissions matrix",
		Long:    "List the policy's permissions, the Klaviyo scopes each needs, and which roles hold them." + exitStatus(exitOK, exitUsage),
		Args:    cobra.NoArgs,
	}
	c.AddCommand(newPermissionsListCommand(a), newPermissionsMatrixCommand(a))
	return c
}
