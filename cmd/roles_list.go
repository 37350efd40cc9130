package cmd

import (
	"fmt"

	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
)

func newRolesListCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List roles with their permissions and scopes",
		Long:    "List the policy's roles: how many permissions and scopes each holds, and its key variable." + exitStatus(exitOK, exitUsage),
		Example: "  klrbac roles list\n  klrbac roles list -o json | jq -r '.[].name'",
		Args:    noArgs,
		RunE: a.listing(&out, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runRolesList(a.io, pol, f)
		}),
	}
	out.register(c, listFormats...)
	return c
}

func runRolesList(io *ui.IO, pol *policy.Policy, f ui.Format) error {
	views := make([]policy.RoleDetail, len(pol.Roles))
	for i, r := range pol.Roles {
		views[i] = pol.Detail(r)
	}
	if f != ui.Table {
		return io.Encode(f, views)
	}
	rows := make([][]string, len(views))
	for i, v := range views {
		rows[i] = []string{v.Name, fmt.Sprint(len(v.Permissions)), fmt.Sprint(len(v.Scopes)), yesNo(v.FullAccess), v.KeyEnv, v.Description}
	}
	return io.Table([]string{"ROLE", "PERMISSIONS", "SCOPES", "FULL ACCESS", "KEY ENV", "DESCRIPTION"}, rows)
}
