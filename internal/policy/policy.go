// Package policy is klrbac's role model: permissions that need Klaviyo scopes, roles that hold
// permissions, and users that hold roles. It loads and validates the policy sections of a config file
// and answers "may this role do that?".
package policy

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/suggest"
)

// Permission is something an application may do, and the Klaviyo scopes that needs.
type Permission struct {
	Name        string   `json:"name" yaml:"name"`
	Description string   `json:"description" yaml:"description"`
	Scopes      []string `json:"scopes" yaml:"scopes"`
}

// Role is a set of permissions carried by one Klaviyo key.
type Role struct {
	Name        string   `json:"name" yaml:"name"`
	Description string   `json:"description" yaml:"description"`
	Permissions []string `json:"permissions" yaml:"permissions"`
	// ExtraScopes are scopes the role's key needs beyond its permissions.
	ExtraScopes []string `json:"extra_scopes" yaml:"extra_scopes"`
	// KeyEnv names the environment variable holding the role's key; empty means KLAVIYO_KEY_<ROLE>.
	KeyEnv string `json:"key_env,omitempty" yaml:"key_env,omitempty"`
	// FullAccess roles are expected to hold a full-access key: scopes beyond their needs are no finding.
	FullAccess bool `json:"full_access" yaml:"full_access"`
}

// User maps a person or service identity to a role.
type User struct {
	Name string `json:"name" yaml:"name"`
	Role string `json:"role" yaml:"role"`
}

// Policy is a validated set of permissions, roles and users. Its methods assume validity: every role
// names known permissions and every user a known role.
type Policy struct {
	Permissions []Permission
	Roles       []Role
	Users       []User
	// Source names where the policy came from: a file path or "embedded default".
	Source string

	permIndex map[string]int
	roleIndex map[string]int
	userIndex map[string]int
}

// EmbeddedSource is the Source of the built-in default policy.
const EmbeddedSource = "embedded default"

func (p *Policy) index() {
	p.permIndex = make(map[string]int, len(p.Permissions))
	for i, perm := range p.Permissions {
		p.permIndex[perm.Name] = i
	}
	p.roleIndex = make(map[string]int, len(p.Roles))
	for i, r := range p.Roles {
		p.roleIndex[r.Name] = i
	}
	p.userIndex = make(map[string]int, len(p.Users))
	for i, u := range p.Users {
		p.userIndex[u.Name] = i
	}
}

// Role returns the named role.
func (p *Policy) Role(name string) (Role, bool) {
	i, ok := p.roleIndex[name]
	if !ok {
		return Role{}, false
	}
	return p.Roles[i], true
}

// Permission returns the named permission.
func (p *Policy) Permission(name string) (Permission, bool) {
	i, ok := p.permIndex[name]
	if !ok {
		return Permission{}, false
	}
	return p.Permissions[i], true
}

// User returns the named user.
func (p *Policy) User(name string) (User, bool) {
	i, ok := p.userIndex[name]
	if !ok {
		return User{}, false
	}
	return p.Users[i], true
}

// RoleNames returns the role names in policy order.
func (p *Policy) RoleNames() []string {
	out := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		out[i] = r.Name
	}
	return out
}

// PermissionNames returns the permission names in policy order.
func (p *Policy) PermissionNames() []string {
	out := make([]string, len(p.Permissions))
	for i, perm := range p.Permissions {
		out[i] = perm.Name
	}
	return out
}

// UserNames returns the user names in policy order.
func (p *Policy) UserNames() []string {
	out := make([]string, len(p.Users))
	for i, u := range p.Users {
		out[i] = u.Name
	}
	return out
}

// Holds reports whether role holds permission.
func (r Role) Holds(permission string) bool { return slices.Contains(r.Permissions, permission) }

// EnvVar is the environment variable that holds the role's key.
func (r Role) EnvVar() string {
	if r.KeyEnv != "" {
		return r.KeyEnv
	}
	return DefaultKeyEnv(r.Name)
}

// DefaultKeyEnv is KLAVIYO_KEY_<ROLE>, with the role name upper-cased and hyphens turned into
// underscores so that it is a valid variable name.
func DefaultKeyEnv(role string) string {
	return "KLAVIYO_KEY_" + strings.ToUpper(strings.ReplaceAll(role, "-", "_"))
}

// RequiredScopes is the sorted union of the scopes of the role's permissions and its extra scopes.
func (p *Policy) RequiredScopes(r Role) []string {
	set := map[string]bool{}
	for _, name := range r.Permissions {
		perm, _ := p.Permission(name)
		for _, s := range perm.Scopes {
			set[s] = true
		}
	}
	for _, s := range r.ExtraScopes {
		set[s] = true
	}
	return sortedKeys(set)
}

// Holders returns the roles holding permission, in policy order.
func (p *Policy) Holders(permission string) []string {
	var out []string
	for _, r := range p.Roles {
		if r.Holds(permission) {
			out = append(out, r.Name)
		}
	}
	return out
}

// UsersOf returns the users the policy maps to role, in policy order.
func (p *Policy) UsersOf(role string) []string {
	var out []string
	for _, u := range p.Users {
		if u.Role == role {
			out = append(out, u.Name)
		}
	}
	return out
}

// Holding is who holds a permission: the roles holding it and the users mapped to those roles, in
// policy order. It is the JSON and YAML shape of `who-can`.
type Holding struct {
	Permission string   `json:"permission" yaml:"permission"`
	Scopes     []string `json:"scopes" yaml:"scopes"`
	Roles      []string `json:"roles" yaml:"roles"`
	Users      []string `json:"users" yaml:"users"`
}

// WhoCan says who holds permission; an unknown one is an error with a suggestion (LookupPermission).
func (p *Policy) WhoCan(permission string) (Holding, error) {
	perm, err := p.LookupPermission(permission)
	if err != nil {
		return Holding{}, err
	}
	// Lists stay [] rather than null in JSON, so consumers need no null checks.
	h := Holding{Permission: perm.Name, Scopes: append([]string{}, perm.Scopes...),
		Roles: append([]string{}, p.Holders(perm.Name)...), Users: []string{}}
	for _, u := range p.Users {
		if r, _ := p.Role(u.Role); r.Holds(perm.Name) {
			h.Users = append(h.Users, u.Name)
		}
	}
	return h, nil
}

// RolesNeeding returns the roles whose required scopes include scope, in policy order.
func (p *Policy) RolesNeeding(scope string) []string {
	var out []string
	for _, r := range p.Roles {
		if slices.Contains(p.RequiredScopes(r), scope) {
			out = append(out, r.Name)
		}
	}
	return out
}

// Decision answers whether a role may use a permission, and why.
type Decision struct {
	Role       string `json:"role"`
	Permission string `json:"permission"`
	Allowed    bool   `json:"allowed"`
	Reason     string `json:"reason"`
}

// Decide answers whether role r holds permission. The permission must exist.
func (p *Policy) Decide(r Role, permission string) Decision {
	d := Decision{Role: r.Name, Permission: permission, Allowed: r.Holds(permission)}
	if d.Allowed {
		d.Reason = fmt.Sprintf("role %s holds %s", r.Name, permission)
	} else {
		d.Reason = fmt.Sprintf("role %s does not hold %s", r.Name, permission)
	}
	return d
}

// EndpointDecision answers whether a role's scopes cover a Klaviyo operation.
type EndpointDecision struct {
	Role      string   `json:"role"`
	Operation string   `json:"operation"` // METHOD /template
	Needs     []string `json:"needs"`
	Missing   []string `json:"missing"`
	Allowed   bool     `json:"allowed"`
}

// DecideOperation answers whether role r's required scopes cover every scope op lists. A full-access
// role is still judged by its policy: its key may hold more, but the policy does not grant it.
func (p *Policy) DecideOperation(r Role, op catalog.Operation) EndpointDecision {
	have := p.RequiredScopes(r)
	d := EndpointDecision{Role: r.Name, Operation: op.String(), Needs: slices.Clone(op.Scopes), Missing: []string{}}
	for _, s := range op.Scopes {
		if !slices.Contains(have, s) {
			d.Missing = append(d.Missing, s)
		}
	}
	d.Allowed = len(d.Missing) == 0
	return d
}

// RolesAllowed returns the roles whose required scopes cover op (DecideOperation), in policy order.
func (p *Policy) RolesAllowed(op catalog.Operation) []string {
	var out []string
	for _, r := range p.Roles {
		if p.DecideOperation(r, op).Allowed {
			out = append(out, r.Name)
		}
	}
	return out
}

// RoleDiff lists what only one of two roles has.
type RoleDiff struct {
	A            string   `json:"a"`
	B            string   `json:"b"`
	OnlyAPerms   []string `json:"only_a_permissions"`
	OnlyBPerms   []string `json:"only_b_permissions"`
	OnlyAScopes  []string `json:"only_a_scopes"`
	OnlyBScopes  []string `json:"only_b_scopes"`
	SharedPerms  []string `json:"shared_permissions"`
	SharedScopes []string `json:"shared_scopes"`
}

// Diff compares two roles' permissions and required scopes.
func (p *Policy) Diff(a, b Role) RoleDiff {
	d := RoleDiff{A: a.Name, B: b.Name}
	d.OnlyAPerms, d.OnlyBPerms, d.SharedPerms = partition(a.Permissions, b.Permissions)
	d.OnlyAScopes, d.OnlyBScopes, d.SharedScopes = partition(p.RequiredScopes(a), p.RequiredScopes(b))
	return d
}

func partition(a, b []string) (onlyA, onlyB, both []string) {
	onlyA, onlyB, both = []string{}, []string{}, []string{}
	for _, x := range a {
		if slices.Contains(b, x) {
			both = append(both, x)
		} else {
			onlyA = append(onlyA, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			onlyB = append(onlyB, x)
		}
	}
	return onlyA, onlyB, both
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// LookupRole returns the named role, or a usage error suggesting the closest role names.
func (p *Policy) LookupRole(name string) (Role, error) {
	if r, ok := p.Role(name); ok {
		return r, nil
	}
	return Role{}, unknown("role", name, p.RoleNames(), "klrbac roles list")
}

// LookupPermission returns the named permission, or a usage error suggesting the closest names.
func (p *Policy) LookupPermission(name string) (Permission, error) {
	if perm, ok := p.Permission(name); ok {
		return perm, nil
	}
	return Permission{}, unknown("permission", name, p.PermissionNames(), "klrbac permissions list")
}

// LookupUser returns the named user, or a usage error suggesting the closest names.
func (p *Policy) LookupUser(name string) (User, error) {
	if u, ok := p.User(name); ok {
		return u, nil
	}
	if len(p.Users) == 0 && !mask.LooksSecret(name) {
		return User{}, fault.Usagef("unknown user %s: the policy (%s) maps no users", Quote(name), p.Source).
			Hint("map users to roles under users: in the config file")
	}
	return User{}, unknown("user", name, p.UserNames(), "klrbac config show")
}

func unknown(what, name string, names []string, listCmd string) error {
	if mask.LooksSecret(name) {
		return fault.Usagef("unknown %s: the name given looks like a credential, so it is not repeated here", what).
			Hint("klrbac never takes a key or secret as an argument: give the " + what + " name, and pass secrets on standard input")
	}
	e := fault.Usagef("unknown %s %s", what, Quote(name))
	if h := suggest.Hint(suggest.Closest(name, names, 3)); h != "" {
		return e.Hint(h)
	}
	return e.Hint("`" + listCmd + "` shows them")
}

// maxQuoted is the most of an unknown name a message repeats: enough to recognise a typo, not a
// screenful of whatever was pasted.
const maxQuoted = 64

// Quote quotes a name given by a user for a message, cut short when it is long: "abc…" (100000
// bytes). A 100 kB name echoed in full buries the message and fills CI logs.
func Quote(name string) string {
	if len(name) <= maxQuoted {
		return strconv.Quote(name)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return strconv.Quote(name[:cut]+"…") + fmt.Sprintf(" (%d bytes)", len(name))
}

// Counts says how big the policy is, for one-line summaries: "5 roles, 8 permissions, 1 user".
func (p *Policy) Counts() string {
	count := func(n int, noun string) string {
		if n != 1 {
			noun += "s"
		}
		return fmt.Sprintf("%d %s", n, noun)
	}
	return count(len(p.Roles), "role") + ", " + count(len(p.Permissions), "permission") + ", " + count(len(p.Users), "user")
}
