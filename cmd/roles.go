package cmd

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
)

// roleView is the JSON and YAML shape of a role (documented in docs/json-output.md).
type roleView struct {
	Name        string   `json:"name" yaml:"name"`
	Description string   `json:"description" yaml:"description"`
	Permissions []string `json:"permissions" yaml:"permissions"`
	ExtraScopes []string `json:"extra_scopes" yaml:"extra_scopes"`
	Scopes      []string `json:"scopes" yaml:"scopes"`
	KeyEnv      string   `json:"key_env" yaml:"key_env"`
	FullAccess  bool     `json:"full_access" yaml:"full_access"`
	Users       []string `json:"users" yaml:"users"`
}

func viewRole(p *policy.Policy, r policy.Role) roleView {
	v := roleView{
		Name: r.Name, Description: r.Description, Permissions: nonNil(r.Permissions),
		ExtraScopes: nonNil(r.ExtraScopes), Scopes: nonNil(p.RequiredScopes(r)), KeyEnv: r.EnvVar(),
		FullAccess: r.FullAccess, Users: []string{},
	}
	for _, u := range p.Users {
		if u.Role == r.Name {
			v.Users = append(v.Users, u.Name)
		}
	}
	return v
}

func newRolesCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "roles",
		Short: "List, show and compare roles",
		Long: `List, show and compare the policy's roles.

A role holds permissions; its Klaviyo key must carry the union of their scopes.` + exitStatus(exitOK, exitUsage),
		Args: cobra.NoArgs,
	}
	c.AddCommand(newRolesListCommand(a), newRolesShowCommand(a), newRolesDiffCommand(a))
	return c
}

func newRolesListCommand(a *app) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List roles with their permissions and scopes",
		Long:    "List the policy's roles: how many permissions and scopes each holds, and its key variable." + exitStatus(exitOK, exitUsage),
		Example: "  klrbac roles list\n  klrbac roles list -o json | jq -r '.[].name'",
		Args:    cobra.NoArgs,
		RunE: a.listing(&output, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runRolesList(a.io, pol, f)
		}),
	}
	addOutputFlag(c, &output, listFormats...)
	return c
}

func runRolesList(io *ui.IO, pol *policy.Policy, f ui.Format) error {
	views := make([]roleView, len(pol.Roles))
	for i, r := range pol.Roles {
		views[i] = viewRole(pol, r)
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

func newRolesShowCommand(a *app) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:               "show ROLE",
		Short:             "Show a role's permissions, scopes, key and users",
		Long:              "Show one role: each permission with its Klaviyo scopes, the scopes its key needs, and who holds it." + exitStatus(exitOK, exitUsage),
		Example:           "  klrbac roles show marketer",
		Args:              exactArgs(1, "ROLE"),
		ValidArgsFunction: firstArgs(1, a.completeRoles()),
		RunE: a.listing(&output, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runRolesShow(a.io, pol, args[0], f)
		}),
	}
	addOutputFlag(c, &output, listFormats...)
	return c
}

func runRolesShow(io *ui.IO, pol *policy.Policy, name string, f ui.Format) error {
	r, err := pol.LookupRole(name)
	if err != nil {
		return err
	}
	v := viewRole(pol, r)
	if f != ui.Table {
		return io.Encode(f, v)
	}
	fmt.Fprintf(io.Out, "role:         %s\n", v.Name)
	fmt.Fprintf(io.Out, "description:  %s\n", v.Description)
	fmt.Fprintf(io.Out, "key env:      %s\n", v.KeyEnv)
	fmt.Fprintf(io.Out, "full access:  %s\n", yesNo(v.FullAccess))
	fmt.Fprintf(io.Out, "users:        %s\n", dash(v.Users))
	fmt.Fprintf(io.Out, "scopes:       %s\n\n", dash(v.Scopes))
	rows := make([][]string, 0, len(r.Permissions)+1)
	for _, name := range r.Permissions {
		perm, _ := pol.Permission(name)
		rows = append(rows, []string{perm.Name, dash(perm.Scopes), perm.Description})
	}
	if len(r.ExtraScopes) > 0 {
		rows = append(rows, []string{"(extra scopes)", dash(r.ExtraScopes), "scopes the role needs beyond its permissions"})
	}
	return io.Table([]string{"PERMISSION", "SCOPES", "DESCRIPTION"}, rows)
}

func newRolesDiffCommand(a *app) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "diff ROLE_A ROLE_B",
		Short: "Show the permissions and scopes only one of two roles has",
		Long: `Compare two roles: the permissions and Klaviyo scopes that only one of them has.
Shared ones are left out of the table (and listed in JSON).` + exitStatus(exitOK, exitUsage),
		Example:           "  klrbac roles diff marketer developer",
		Args:              exactArgs(2, "ROLE_A ROLE_B"),
		ValidArgsFunction: firstArgs(2, a.completeRoles()),
		RunE: a.listing(&output, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runRolesDiff(a.io, pol, args[0], args[1], f)
		}),
	}
	addOutputFlag(c, &output, listFormats...)
	return c
}

func runRolesDiff(io *ui.IO, pol *policy.Policy, nameA, nameB string, f ui.Format) error {
	ra, err := pol.LookupRole(nameA)
	if err != nil {
		return err
	}
	rb, err := pol.LookupRole(nameB)
	if err != nil {
		return err
	}
	d := pol.Diff(ra, rb)
	if f != ui.Table {
		return io.Encode(f, d)
	}
	if len(d.OnlyAPerms)+len(d.OnlyBPerms)+len(d.OnlyAScopes)+len(d.OnlyBScopes) == 0 {
		fmt.Fprintf(io.Out, "roles %s and %s grant the same permissions and scopes\n", d.A, d.B)
		return nil
	}
	var rows [][]string
	add := func(kind string, onlyA, onlyB []string) {
		for _, x := range slices.Sorted(slices.Values(append(slices.Clone(onlyA), onlyB...))) {
			rows = append(rows, []string{kind, x, io.Mark(slices.Contains(onlyA, x)), io.Mark(slices.Contains(onlyB, x))})
		}
	}
	add("permission", d.OnlyAPerms, d.OnlyBPerms)
	add("scope", d.OnlyAScopes, d.OnlyBScopes)
	return io.Table([]string{"KIND", "NAME", d.A, d.B}, rows)
}
