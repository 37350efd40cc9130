package cmd

import (
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
)

func newWhoCanCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:               "who-can PERMISSION",
		Short:             "List the roles and users holding a permission",
		Long:              "List the roles that hold a permission, and the users mapped to those roles." + exitStatus(exitOK, exitUsage),
		Example:           "  klrbac who-can canDeleteProfiles",
		Args:              exactArgs(1, "PERMISSION"),
		ValidArgsFunction: firstArgs(1, a.complete(permissionNames)),
		RunE: a.listing(&out, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runWhoCan(a.io, pol, args[0], f)
		}),
	}
	out.register(c, listFormats...)
	return c
}

func runWhoCan(io *ui.IO, pol *policy.Policy, name string, f ui.Format) error {
	v, err := pol.WhoCan(name)
	if err != nil {
		return err
	}
	if f != ui.Table {
		return io.Encode(f, v)
	}
	rows := make([][]string, 0, len(v.Roles))
	for _, role := range v.Roles {
		rows = append(rows, []string{role, ui.JoinOrDash(pol.UsersOf(role))})
	}
	if len(rows) == 0 {
		io.Err.Write([]byte("no role holds " + v.Permission + "\n"))
		return nil
	}
	return io.Table([]string{"ROLE", "USERS"}, rows)
}
