package cmd

import (
	"fmt"

	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
)

func newRolesShowCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:               "show ROLE",
		Short:             "Show a role's permissions, scopes, key and users",
		Long:              "Show one role: each permission with its Klaviyo scopes, the scopes its key needs, and who holds it." + exitStatus(exitOK, exitUsage),
		Example:           "  klrbac roles show marketer",
		Args:              exactArgs(1, "ROLE"),
		ValidArgsFunction: firstArgs(1, a.complete(roleNames)),
		RunE: a.listing(&out, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runRolesShow(a.io, pol, args[0], f)
		}),
	}
	out.register(c, listFormats...)
	return c
}

func runRolesShow(io *ui.IO, pol *policy.Policy, name string, f ui.Format) error {
	r, err := pol.LookupRole(name)
	if err != nil {
		return err
	}
	v := pol.Detail(r)
	if f != ui.Table {
		return io.Encode(f, v)
	}
	fmt.Fprintf(io.Out, "role:         %s\n", v.Name)
	fmt.Fprintf(io.Out, "description:  %s\n", v.Description)
	fmt.Fprintf(io.Out, "key env:      %s\n", v.KeyEnv)
	fmt.Fprintf(io.Out, "full access:  %s\n", yesNo(v.FullAccess))
	fmt.Fprintf(io.Out, "users:        %s\n", ui.JoinOrDash(v.Users))
	fmt.Fprintf(io.Out, "scopes:       %s\n\n", ui.JoinOrDash(v.Scopes))
	rows := make([][]string, 0, len(r.Permissions)+1)
	for _, name := range r.Permissions {
		perm, _ := pol.Permission(name)
		rows = append(rows, []string{perm.Name, ui.JoinOrDash(perm.Scopes), perm.Description})
	}
	if len(r.ExtraScopes) > 0 {
		rows = append(rows, []string{"(extra scopes)", ui.JoinOrDash(r.ExtraScopes), "scopes the role needs beyond its permissions"})
	}
	return io.Table([]string{"PERMISSION", "SCOPES", "DESCRIPTION"}, rows)
}
