package cmd

import (
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
)

// whoCanView is the JSON and YAML shape of who-can.
type whoCanView struct {
	Permission string   `json:"permission" yaml:"permission"`
	Scopes     []string `json:"scopes" yaml:"scopes"`
	Roles      []string `json:"roles" yaml:"roles"`
	Users      []string `json:"users" yaml:"users"`
}

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
	perm, err := pol.LookupPermission(name)
	if err != nil {
		return err
	}
	v := whoCanView{Permission: perm.Name, Scopes: nonNil(perm.Scopes), Roles: nonNil(pol.Holders(perm.Name)), Users: []string{}}
	for _, u := range pol.Users {
		if r, _ := pol.Role(u.Role); r.Holds(perm.Name) {
			v.Users = append(v.Users, u.Name)
		}
	}
	if f != ui.Table {
		return io.Encode(f, v)
	}
	rows := make([][]string, 0, len(v.Roles))
	for _, role := range v.Roles {
		rows = append(rows, []string{role, ui.JoinOrDash(pol.UsersOf(role))})
	}
	if len(rows) == 0 {
		io.Err.Write([]byte("no role holds " + perm.Name + "\n"))
		return nil
	}
	return io.Table([]string{"ROLE", "USERS"}, rows)
}
