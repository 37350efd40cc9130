package policy

// RoleDetail is a role with what the policy makes of it: the scopes its key needs, the variable
// that holds the key, and the users mapped to it. It is the JSON and YAML shape of a role in `roles
// list` and `roles show` (documented in docs/json-output.md).
type RoleDetail struct {
	Name        string   `json:"name" yaml:"name"`
	Description string   `json:"description" yaml:"description"`
	Permissions []string `json:"permissions" yaml:"permissions"`
	ExtraScopes []string `json:"extra_scopes" yaml:"extra_scopes"`
	Scopes      []string `json:"scopes" yaml:"scopes"`
	KeyEnv      string   `json:"key_env" yaml:"key_env"`
	FullAccess  bool     `json:"full_access" yaml:"full_access"`
	Users       []string `json:"users" yaml:"users"`
}

// Detail is role r as `roles list` and `roles show` give it.
func (p *Policy) Detail(r Role) RoleDetail {
	// Lists stay [] rather than null in JSON, so consumers need no null checks.
	return RoleDetail{
		Name: r.Name, Description: r.Description, Permissions: append([]string{}, r.Permissions...),
		ExtraScopes: append([]string{}, r.ExtraScopes...), Scopes: append([]string{}, p.RequiredScopes(r)...),
		KeyEnv: r.EnvVar(), FullAccess: r.FullAccess, Users: append([]string{}, p.UsersOf(r.Name)...),
	}
}

// PermissionDetail is a permission with the roles holding it: the JSON and YAML shape of a
// permission in `permissions list` (documented in docs/json-output.md).
type PermissionDetail struct {
	Name        string   `json:"name" yaml:"name"`
	Description string   `json:"description" yaml:"description"`
	Scopes      []string `json:"scopes" yaml:"scopes"`
	Roles       []string `json:"roles" yaml:"roles"`
}

// PermissionDetails are the policy's permissions, in order, each with the roles holding it.
func (p *Policy) PermissionDetails() []PermissionDetail {
	out := make([]PermissionDetail, len(p.Permissions))
	for i, perm := range p.Permissions {
		out[i] = PermissionDetail{Name: perm.Name, Description: perm.Description,
			Scopes: append([]string{}, perm.Scopes...), Roles: append([]string{}, p.Holders(perm.Name)...)}
	}
	return out
}

// Matrix is which role holds which permission: the JSON and YAML shape of `permissions matrix`.
type Matrix struct {
	Roles       []string                   `json:"roles" yaml:"roles"`
	Permissions []string                   `json:"permissions" yaml:"permissions"`
	Allowed     map[string]map[string]bool `json:"allowed" yaml:"allowed"` // role → permission → held
}

// Matrix says, for every role and permission of the policy, whether the role holds it.
func (p *Policy) Matrix() Matrix {
	m := Matrix{Roles: p.RoleNames(), Permissions: p.PermissionNames(), Allowed: map[string]map[string]bool{}}
	for _, r := range p.Roles {
		m.Allowed[r.Name] = map[string]bool{}
		for _, perm := range p.Permissions {
			m.Allowed[r.Name][perm.Name] = r.Holds(perm.Name)
		}
	}
	return m
}
