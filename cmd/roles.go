package cmd

import (
	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/policy"
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
	return roleView{
		Name: r.Name, Description: r.Description, Permissions: nonNil(r.Permissions),
		ExtraScopes: nonNil(r.ExtraScopes), Scopes: nonNil(p.RequiredScopes(r)), KeyEnv: r.EnvVar(),
		FullAccess: r.FullAccess, Users: nonNil(p.UsersOf(r.Name)),
	}
}

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
