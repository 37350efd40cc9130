package cmd

import (
	"fmt"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
)

func newScopesListCommand(a *app) *cobra.Command {
	var out outputFlag
	var all bool
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List scopes with their access, operation count and the roles needing them",
		Long: `List the scopes Klaviyo's stable operations use: read or write, how many operations need each,
and which roles' keys need it. --all adds the scopes a private key can hold that no stable
operation uses (such as credentials:read).` + exitStatus(exitOK, exitUsage),
		Args: noArgs,
		RunE: a.listing(&out, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runScopesList(a.io, pol, all, f)
		}),
	}
	c.Flags().BoolVar(&all, "all", false, "include every scope a private key can hold")
	out.register(c, listFormats...)
	return c
}

func runScopesList(io *ui.IO, pol *policy.Policy, all bool, f ui.Format) error {
	var views []scopeView
	used := map[string]bool{}
	for _, s := range catalog.Scopes() {
		used[s.Name] = true
		views = append(views, scopeView{Scope: s.Name, Access: string(s.Access), Operations: s.Operations, Roles: nonNil(pol.RolesNeeding(s.Name))})
	}
	if all {
		for _, s := range catalog.AssignableScopes() {
			if !used[s] {
				views = append(views, scopeView{Scope: s, Access: string(catalog.AccessOf(s)), Roles: nonNil(pol.RolesNeeding(s))})
			}
		}
	}
	if f != ui.Table {
		return io.Encode(f, views)
	}
	rows := make([][]string, len(views))
	for i, v := range views {
		rows[i] = []string{v.Scope, v.Access, fmt.Sprint(v.Operations), ui.JoinOrDash(v.Roles)}
	}
	return io.Table([]string{"SCOPE", "ACCESS", "OPERATIONS", "ROLES"}, rows)
}
