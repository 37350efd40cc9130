package policy

import (
	_ "embed"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/suggest"
	"github.com/klrbac/klrbac/internal/yamlcheck"
)

// DefaultYAML is the reference policy as a commented config file: what `klrbac config init` writes.
//
//go:embed default.yaml
var DefaultYAML []byte

// Sections are the top-level keys of a config file that make up the policy.
var Sections = []string{"permissions", "roles", "users"}

//go:generate go run ./internal/gendefault -out default_gen.go

// ParseDefault parses DefaultYAML. Default serves the same policy compiled into the binary
// (default_gen.go, generated from default.yaml), because parsing YAML on every start would cost
// `klrbac check` a noticeable share of its run time; a test keeps the two equal.
func ParseDefault() (*Policy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(DefaultYAML, &doc); err != nil {
		return nil, err
	}
	sections, err := TopLevel(EmbeddedSource, &doc)
	if err != nil {
		return nil, err
	}
	return FromSections(EmbeddedSource, sections, nil)
}

var defaultPolicy = sync.OnceValue(func() *Policy {
	p := compiledDefault
	p.index()
	return &p
})

// Default returns the built-in reference policy: 5 roles, 8 permissions. It is shared; do not modify.
func Default() *Policy { return defaultPolicy() }

// Section is one top-level entry of a config file: its key (for error lines) and its value.
type Section struct{ Key, Value *yaml.Node }

// TopLevel splits a YAML document into its top-level sections, keyed by name, checking that it is a
// mapping with no key given twice. Which keys are allowed is the caller's business.
func TopLevel(file string, doc *yaml.Node) (map[string]Section, error) {
	ps := &yamlcheck.Problems{File: file}
	out := map[string]Section{}
	if doc.Kind == 0 || (doc.Kind == yaml.DocumentNode && len(doc.Content) == 0) {
		return out, nil // an empty file
	}
	root := doc
	if root.Kind == yaml.DocumentNode {
		root = root.Content[0]
	}
	if yamlcheck.IsNull(root) {
		return out, nil
	}
	if root.Kind != yaml.MappingNode {
		ps.Add(root, "a klrbac config file is a mapping of sections such as roles: and permissions:",
			"expected a mapping at the top level, found %s", yamlcheck.KindName(root))
		return nil, ps.Err()
	}
	first := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if line, dup := first[k.Value]; dup {
			ps.Add(k, "merge the two sections into one", "section %q is given twice (first on line %d)", k.Value, line)
			continue
		}
		first[k.Value] = k.Line
		out[k.Value] = Section{Key: k, Value: v}
	}
	return out, ps.Err()
}

// Name rules, checked by hand rather than with regexp so that loading a policy costs no regexp
// compilation at start-up.
var (
	permissionName = nameRule{first: isLetter, rest: func(c byte) bool { return isLetter(c) || isDigit(c) || c == '_' }}
	roleName       = nameRule{first: isLower, rest: func(c byte) bool { return isLower(c) || isDigit(c) || c == '_' || c == '-' }}
	envName        = nameRule{first: func(c byte) bool { return isLetter(c) || c == '_' }, rest: func(c byte) bool { return isLetter(c) || isDigit(c) || c == '_' }}
)

type nameRule struct{ first, rest func(byte) bool }

func (r nameRule) MatchString(s string) bool {
	if s == "" || !r.first(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !r.rest(s[i]) {
			return false
		}
	}
	return true
}

func isLower(c byte) bool  { return 'a' <= c && c <= 'z' }
func isLetter(c byte) bool { return isLower(c) || ('A' <= c && c <= 'Z') }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// FromSections builds and validates a policy from the sections of a config file. A section the file
// does not have is taken from base (nil: empty). Every problem found is returned, each naming its
// line, as fault.Config errors joined together.
func FromSections(file string, sections map[string]Section, base *Policy) (*Policy, error) {
	ps := &yamlcheck.Problems{File: file}
	p := &Policy{Source: file}
	perms, hasPerms := sections["permissions"]
	roles, hasRoles := sections["roles"]
	users, hasUsers := sections["users"]

	if hasPerms {
		p.Permissions = parsePermissions(ps, perms.Value)
	} else if base != nil {
		p.Permissions = base.Permissions
	}
	if hasPerms && !hasRoles && base != nil {
		ps.Add(perms.Key, "define roles: as well, holding the permissions defined here",
			"permissions are defined but roles are not, and the default roles hold the default permissions")
		return nil, ps.ErrAsFound()
	}
	p.index()
	if hasRoles {
		p.Roles = parseRoles(ps, roles.Value, p)
	} else if base != nil {
		p.Roles = base.Roles
	}
	p.index()
	if hasUsers {
		p.Users = parseUsers(ps, users.Value, p)
	} else if base != nil {
		p.Users = base.Users
	}
	if len(p.Roles) == 0 && ps.Len() == 0 {
		ps.Add(roles.Key, "define at least one role under roles:", "the policy has no roles")
	}
	// As found, not in line order: a role's missing permissions come after the misspelt field that
	// explains them, so that `klrbac doctor`, which shows the first problem, shows the cause.
	if err := ps.ErrAsFound(); err != nil {
		return nil, err
	}
	p.index()
	return p, nil
}

func checkScopes(ps *yamlcheck.Problems, scopes []string, nodes []*yaml.Node, what string) []string {
	var ok []string
	for i, s := range scopes {
		if catalog.IsAssignable(s) {
			ok = append(ok, s)
			continue
		}
		hint := suggest.Hint(suggest.Closest(s, catalog.AssignableScopes(), 2))
		if hint == "" {
			hint = "`klrbac scopes list` shows the scopes Klaviyo's operations use"
		}
		ps.Add(nodes[i], hint, "%s: unknown Klaviyo scope %q", what, s)
	}
	return ok
}

func parsePermissions(ps *yamlcheck.Problems, n *yaml.Node) []Permission {
	var out []Permission
	// Names are matched exactly, so two that differ only in case are two permissions that people
	// (and roles' lists) will mix up.
	byFolded := map[string]*yaml.Node{}
	ps.Entries(n, "permissions", func(k, v *yaml.Node) {
		what := "permission " + k.Value
		if !permissionName.MatchString(k.Value) {
			ps.Add(k, "use letters, digits and underscores, starting with a letter, e.g. canReadProfiles",
				"permission name %q is not valid", k.Value)
			return
		}
		if twin, ok := byFolded[strings.ToLower(k.Value)]; ok {
			ps.Add(k, "use one spelling: names are matched exactly, case included",
				"permission %q differs from %q (line %d) only in case", k.Value, twin.Value, twin.Line)
			return
		}
		byFolded[strings.ToLower(k.Value)] = k
		perm := Permission{Name: k.Value}
		seenScopes := false
		ps.Fields(v, what, []string{"description", "scopes"}, func(field string, fk, fv *yaml.Node) {
			switch field {
			case "description":
				perm.Description = ps.String(fv, what+" description")
			case "scopes":
				seenScopes = true
				scopes, nodes := ps.Names(fv, what+" scopes")
				perm.Scopes = checkScopes(ps, scopes, nodes, what)
				if len(scopes) == 0 && len(nodes) == 0 {
					ps.Add(fk, "list the Klaviyo scopes the permission needs", "%s lists no scopes", what)
				}
			}
		})
		if !seenScopes && (v.Kind == yaml.MappingNode || yamlcheck.IsNull(v)) {
			ps.Add(k, "add scopes: [...] with the Klaviyo scopes the permission needs", "%s has no scopes", what)
		}
		out = append(out, perm)
	})
	return out
}

func parseRoles(ps *yamlcheck.Problems, n *yaml.Node, p *Policy) []Role {
	var out []Role
	ps.Entries(n, "roles", func(k, v *yaml.Node) {
		what := "role " + k.Value
		if !roleName.MatchString(k.Value) {
			ps.Add(k, "use lower-case letters, digits, '-' and '_', starting with a letter, e.g. marketer",
				"role name %q is not valid", k.Value)
			return
		}
		r := Role{Name: k.Value}
		var permsKey *yaml.Node
		ps.Fields(v, what, []string{"description", "permissions", "extra_scopes", "key_env", "full_access"},
			func(field string, fk, fv *yaml.Node) {
				switch field {
				case "description":
					r.Description = ps.String(fv, what+" description")
				case "permissions":
					permsKey = fk
					names, nodes := ps.Names(fv, what+" permissions")
					for i, name := range names {
						if _, ok := p.Permission(name); ok {
							r.Permissions = append(r.Permissions, name)
							continue
						}
						hint := suggest.Hint(suggest.Closest(name, p.PermissionNames(), 2))
						if hint == "" {
							hint = "`klrbac permissions list` shows the permissions defined"
						}
						ps.Add(nodes[i], hint, "%s: unknown permission %q", what, name)
					}
					if len(names) == 0 {
						ps.Add(fk, "give the role at least one permission, or remove it", "%s has no permissions", what)
					}
				case "extra_scopes":
					scopes, nodes := ps.Names(fv, what+" extra_scopes")
					r.ExtraScopes = checkScopes(ps, scopes, nodes, what)
				case "key_env":
					r.KeyEnv = ps.String(fv, what+" key_env")
					if r.KeyEnv != "" && !envName.MatchString(r.KeyEnv) {
						ps.Add(fv, "use letters, digits and underscores, e.g. KLAVIYO_KEY_MARKETER",
							"%s: key_env %q is not a valid environment variable name", what, r.KeyEnv)
					}
				case "full_access":
					r.FullAccess = ps.Bool(fv, what+" full_access")
				}
			})
		if permsKey == nil && (v.Kind == yaml.MappingNode || yamlcheck.IsNull(v)) {
			ps.Add(k, "give the role at least one permission under permissions:", "%s has no permissions", what)
		}
		out = append(out, r)
	})
	return out
}

func parseUsers(ps *yamlcheck.Problems, n *yaml.Node, p *Policy) []User {
	var out []User
	ps.Entries(n, "users", func(k, v *yaml.Node) {
		what := "user " + k.Value
		if strings.TrimSpace(k.Value) == "" {
			ps.Add(k, "name the user as check --user will: an email address or login, e.g. alice@example.com: viewer",
				"users: a user name is empty")
			return
		}
		role := ps.String(v, what)
		if role == "" {
			return
		}
		if _, ok := p.Role(role); !ok {
			hint := suggest.Hint(suggest.Closest(role, p.RoleNames(), 2))
			if hint == "" {
				hint = "`klrbac roles list` shows the roles defined"
			}
			ps.Add(v, hint, "%s: unknown role %q", what, role)
			return
		}
		out = append(out, User{Name: k.Value, Role: role})
	})
	return out
}
