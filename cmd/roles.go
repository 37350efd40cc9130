package cmd

import (
	"github.com/spf13/cobra"
)

func newRolesCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "roles",
		Short: "List, show and compare roles",
		Long: `List, show and compare the policy's roles.

A role holds permissions; its Klaviyo key must carry the union of their scopes.` + exitStatus(exitOK, exitUsage),
		Args: noArgs,
	}
	c.AddCommand(newRolesListCommand(a), newRolesShowCommand(a), newRolesDiffCommand(a))
	return c
}
