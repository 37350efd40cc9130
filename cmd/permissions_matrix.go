package cmd

import (
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
)

func newPermissionsMatrixCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "matrix",
		Short: "Show which role holds which permission",
		Long: `Show the roles × permissions matrix: one row per permission, one column per role.
A terminal shows ✔ and ✖; a pipe or file gets yes and no.` + exitStatus(exitOK, exitUsage),
		Args: noArgs,
		RunE: a.listing(&out, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runPermissionsMatrix(a.io, pol, f)
		}),
	}
	out.register(c, listFormats...)
	return c
}

func runPermissionsMatrix(io *ui.IO, pol *policy.Policy, f ui.Format) error {
	if f != ui.Table {
		return io.Encode(f, pol.Matrix())
	}
	header := append([]string{"PERMISSION"}, pol.RoleNames()...)
	rows := make([][]string, len(pol.Permissions))
	for i, p := range pol.Permissions {
		row := []string{p.Name}
		for _, r := range pol.Roles {
			row = append(row, io.Mark(r.Holds(p.Name)))
		}
		rows[i] = row
	}
	return io.Table(header, rows)
}
