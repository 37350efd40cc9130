package config

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/policy"
)

// Effective is the effective configuration in the shape of a config file, as `config show -o json`
// prints it (docs/schema/config-show.json): every setting under its section, then the policy.
type Effective struct {
	Settings    map[string]map[string]any  `json:"settings"`
	Permissions map[string]PermissionEntry `json:"permissions"`
	Roles       map[string]RoleEntry       `json:"roles"`
	Users       map[string]string          `json:"users"`
}

// PermissionEntry is a permission as a config file writes it.
type PermissionEntry struct {
	Description string   `json:"description" yaml:"description"`
	Scopes      []string `json:"scopes" yaml:"scopes,flow"`
}

// RoleEntry is a role as a config file writes it.
type RoleEntry struct {
	Description string   `json:"description" yaml:"description"`
	FullAccess  bool     `json:"full_access,omitempty" yaml:"full_access,omitempty"`
	KeyEnv      string   `json:"key_env,omitempty" yaml:"key_env,omitempty"`
	Permissions []string `json:"permissions" yaml:"permissions,flow"`
	ExtraScopes []string `json:"extra_scopes,omitempty" yaml:"extra_scopes,omitempty,flow"`
}

// Effective returns the effective configuration for `config show -o json`, with what it shows of
// secrets redacted as in EffectiveYAML.
func (c *Config) Effective() (Effective, error) {
	doc := Effective{Settings: map[string]map[string]any{}, Permissions: map[string]PermissionEntry{},
		Roles: map[string]RoleEntry{}, Users: map[string]string{}}
	setting := func(section, key string, v any) {
		if doc.Settings[section] == nil {
			doc.Settings[section] = map[string]any{}
		}
		doc.Settings[section][key] = v
	}
	for _, s := range Settings {
		section, key, _ := strings.Cut(s.Key, ".")
		setting(section, key, c.shown(s.Key))
	}
	for _, x := range c.Extras() {
		var v any
		if err := redactedCopy(x.Value).Decode(&v); err != nil {
			return Effective{}, err
		}
		setting(x.Section, x.Key, v)
	}
	for _, p := range c.Policy.Permissions {
		doc.Permissions[p.Name] = permissionEntry(p)
	}
	for _, r := range c.Policy.Roles {
		doc.Roles[r.Name] = roleEntry(r)
	}
	for _, u := range c.Policy.Users {
		doc.Users[u.Name] = u.Role
	}
	return doc, nil
}

// EffectiveYAML returns the effective configuration for `config show`: itself a valid config file,
// built node by node so that it keeps the policy's order and can carry a comment naming each
// setting's source.
func (c *Config) EffectiveYAML() *yaml.Node {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	src := "defaults"
	if c.File != "" {
		src = c.File
	}
	doc.HeadComment = "effective klrbac configuration (file: " + src + ")"
	sections := map[string]*yaml.Node{}
	section := func(name string) *yaml.Node {
		m, ok := sections[name]
		if !ok {
			m = &yaml.Node{Kind: yaml.MappingNode}
			sections[name] = m
			doc.Content = append(doc.Content, scalar(name), m)
		}
		return m
	}
	for _, s := range Settings {
		name, key, _ := strings.Cut(s.Key, ".")
		m := section(name)
		// Quoted, so that a revision reads back as a string and not a date.
		v := &yaml.Node{Kind: yaml.ScalarNode, Value: c.shown(s.Key), Style: yaml.DoubleQuotedStyle}
		if from := c.Source(s.Key); from != "default" {
			v.LineComment = "from " + from
		}
		m.Content = append(m.Content, scalar(key), v)
	}
	// Structured settings (alert rules, OAuth apps) as the file wrote them: printed, they keep the
	// shown configuration complete.
	for _, x := range c.Extras() {
		m := section(x.Section)
		m.Content = append(m.Content, scalar(x.Key), redactedCopy(x.Value))
	}
	pol := c.Policy
	perms := &yaml.Node{Kind: yaml.MappingNode}
	for _, p := range pol.Permissions {
		perms.Content = append(perms.Content, scalar(p.Name), encodeNode(permissionEntry(p)))
	}
	roles := &yaml.Node{Kind: yaml.MappingNode}
	for _, r := range pol.Roles {
		roles.Content = append(roles.Content, scalar(r.Name), encodeNode(roleEntry(r)))
	}
	users := &yaml.Node{Kind: yaml.MappingNode}
	for _, u := range pol.Users {
		users.Content = append(users.Content, scalar(u.Name), scalar(u.Role))
	}
	doc.Content = append(doc.Content, scalar("permissions"), perms, scalar("roles"), roles)
	if len(pol.Users) > 0 {
		doc.Content = append(doc.Content, scalar("users"), users)
	}
	return doc
}

// permissionEntry and roleEntry keep empty lists as [] rather than null, so that readers of the
// JSON need no null checks.
func permissionEntry(p policy.Permission) PermissionEntry {
	return PermissionEntry{p.Description, append([]string{}, p.Scopes...)}
}

func roleEntry(r policy.Role) RoleEntry {
	return RoleEntry{r.Description, r.FullAccess, r.KeyEnv, append([]string{}, r.Permissions...), r.ExtraScopes}
}

// shown is a setting's value as config show prints it: the audit DSN without its password, and any
// other URL setting without the password it may carry too (https://user:pass@host).
func (c *Config) shown(key string) string {
	value := c.String(key)
	if key == "audit.dsn" {
		return audit.RedactDSN(value)
	}
	return mask.InText(value)
}

// redactedCopy copies a structured setting with every webhook URL cut to its scheme and host (the
// rest of such URLs often carries a token), credential-shaped values masked, and the user
// information of any other URL masked: config show's output ends up in tickets and logs.
func redactedCopy(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, child := range n.Content {
		c.Content[i] = redactedCopy(child)
		if n.Kind == yaml.MappingNode && i%2 == 1 && child.Kind == yaml.ScalarNode {
			switch {
			case n.Content[i-1].Value == "webhook":
				c.Content[i].Value = mask.URL(child.Value)
			case mask.LooksSecret(child.Value):
				c.Content[i].Value = mask.Secret(child.Value)
			default:
				c.Content[i].Value = mask.InText(child.Value)
			}
		}
	}
	return &c
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

func encodeNode(v any) *yaml.Node {
	var n yaml.Node
	_ = n.Encode(v)
	return &n
}
