package cmd

import (
	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
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

func newPermissionsListCommand(a *app) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List permissions with their scopes and the roles holding them",
		Long:    "List each permission, the Klaviyo scopes it needs and the roles that hold it." + exitStatus(exitOK, exitUsage),
		Args:    cobra.NoArgs,
		RunE: a.listing(&output, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runPermissionsList(a.io, pol, f)
		}),
	}
	addOutputFlag(c, &output, listFormats...)
	return c
}

func runPermissionsList(io *ui.IO, pol *policy.Policy, f ui.Format) error {
	views := make([]permissionView, len(pol.Permissions))
	for i, p := range pol.Permissions {
		views[i] = permissionView{Name: p.Name, Description: p.Description, Scopes: nonNil(p.Scopes), Roles: nonNil(pol.Holders(p.Name))}
	}
	if f != ui.Table {
		return io.Encode(f, views)
	}
	rows := make([][]string, len(views))
	for i, v := range views {
		rows[i] = []string{v.Name, dash(v.Scopes), dash(v.Roles)}
	}
	return io.Table([]string{"PERMISSION", "SCOPES", "ROLES"}, rows)
}

// matrixView is the JSON and YAML shape of the permissions matrix.
type matrixView struct {
	Roles       []string                   `json:"roles" yaml:"roles"`
	Permissions []string                   `json:"permissions" yaml:"permissions"`
	Allowed     map[string]map[string]bool `json:"allowed" yaml:"allowed"` // role → permission → held
}

func newPermissionsMatrixCommand(a *app) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "matrix",
		Short: "Show which role holds which permission",
		Long: `Show the roles × permissions matrix: one row per permission, one column per role.
A terminal shows ✔ and ✖; a pipe or file gets yes and no.` + exitStatus(exitOK, exitUsage),
		Args: cobra.NoArgs,
		RunE: a.listing(&output, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runPermissionsMatrix(a.io, pol, f)
		}),
	}
	addOutputFlag(c, &output, listFormats...)
	return c
}

func runPermissionsMatrix(io *ui.IO, pol *policy.Policy, f ui.Format) error {
	if f != ui.Table {
		m := matrixView{Roles: pol.RoleNames(), Permissions: pol.PermissionNames(), Allowed: map[string]map[string]bool{}}
		for _, r := range pol.Roles {
			m.Allowed[r.Name] = map[string]bool{}
			for _, p := range pol.Permissions {
				m.Allowed[r.Name][p.Name] = r.Holds(p.Name)
			}
		}
		return io.Encode(f, m)
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

// whoCanView is the JSON and YAML shape of who-can.
type whoCanView struct {
	Permission string   `json:"permission" yaml:"permission"`
	Scopes     []string `json:"scopes" yaml:"scopes"`
	Roles      []string `json:"roles" yaml:"roles"`
	Users      []string `json:"users" yaml:"users"`
}

func newWhoCanCommand(a *app) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:               "who-can PERMISSION",
		Short:             "List the roles and users holding a permission",
		Long:              "List the roles that hold a permission, and the users mapped to those roles." + exitStatus(exitOK, exitUsage),
		Example:           "  klrbac who-can canDeleteProfiles",
		Args:              exactArgs(1, "PERMISSION"),
		ValidArgsFunction: firstArgs(1, a.completePermissions()),
		RunE: a.listing(&output, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runWhoCan(a.io, pol, args[0], f)
		}),
	}
	addOutputFlag(c, &output, listFormats...)
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
		var users []string
		for _, u := range pol.Users {
			if u.Role == role {
				users = append(users, u.Name)
			}
		}
		rows = append(rows, []string{role, dash(users)})
	}
	if len(rows) == 0 {
		io.Err.Write([]byte("no role holds " + perm.Name + "\n"))
		return nil
	}
	return io.Table([]string{"ROLE", "USERS"}, rows)
}
