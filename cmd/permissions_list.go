package cmd

import (
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
)

func newPermissionsListCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List permissions with their scopes and the roles holding them",
		Long:    "List each permission, the Klaviyo scopes it needs and the roles that hold it." + exitStatus(exitOK, exitUsage),
		Args:    noArgs,
		RunE: a.listing(&out, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runPermissionsList(a.io, pol, f)
		}),
	}
	out.register(c, listFormats...)
	return c
}

func runPermissionsList(io *ui.IO, pol *policy.Policy, f ui.Format) error {
	views := pol.PermissionDetails()
	if f != ui.Table {
		return io.Encode(f, views)
	}
	rows := make([][]string, len(views))
	for i, v := range views {
		rows[i] = []string{v.Name, ui.JoinOrDash(v.Scopes), ui.JoinOrDash(v.Roles)}
	}
	return io.Table([]string{"PERMISSION", "SCOPES", "ROLES"}, rows)
}
