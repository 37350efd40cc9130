package cmd

import (
	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

func newConfigShowCommand(a *app) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration",
		Long: `Print the effective configuration: every setting after flags, environment and file are
applied, the alert rules and OAuth apps, then the policy. The YAML form is itself a valid
config file, with a comment on each setting that does not come from the default saying
where it comes from. Webhook URLs are shown by scheme and host only, since the rest of
such a URL often carries a token.` + exitStatus(exitOK, exitUsage),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := outputFormat(output, ui.YAML, ui.JSON)
			if err != nil {
				return err
			}
			cfg, err := a.config()
			if err != nil {
				return err
			}
			if err := checkStructured(cfg); err != nil {
				return err
			}
			return runConfigShow(a.io, cfg, f)
		},
	}
	addOutputFlag(c, &output, ui.YAML, ui.JSON)
	return c
}

// effectiveDoc is the config file shape `config show` prints.
type effectiveDoc struct {
	Settings    map[string]map[string]any  `json:"settings"`
	Permissions map[string]permissionEntry `json:"permissions"`
	Roles       map[string]roleEntry       `json:"roles"`
	Users       map[string]string          `json:"users"`
}

type permissionEntry struct {
	Description string   `json:"description" yaml:"description"`
	Scopes      []string `json:"scopes" yaml:"scopes,flow"`
}

type roleEntry struct {
	Description string   `json:"description" yaml:"description"`
	FullAccess  bool     `json:"full_access,omitempty" yaml:"full_access,omitempty"`
	KeyEnv      string   `json:"key_env,omitempty" yaml:"key_env,omitempty"`
	Permissions []string `json:"permissions" yaml:"permissions,flow"`
	ExtraScopes []string `json:"extra_scopes,omitempty" yaml:"extra_scopes,omitempty,flow"`
}

func runConfigShow(io *ui.IO, cfg *config.Config, f ui.Format) error {
	pol := cfg.Policy
	if f == ui.JSON {
		doc := effectiveDoc{Settings: map[string]map[string]any{}, Permissions: map[string]permissionEntry{},
			Roles: map[string]roleEntry{}, Users: map[string]string{}}
		for _, s := range config.Settings {
			section, key := splitKey(s.Key)
			if doc.Settings[section] == nil {
				doc.Settings[section] = map[string]any{}
			}
			doc.Settings[section][key] = shownSetting(s.Key, cfg.String(s.Key))
		}
		for _, x := range cfg.Extras() {
			var v any
			if err := redactedCopy(x.Value).Decode(&v); err != nil {
				return err
			}
			if doc.Settings[x.Section] == nil {
				doc.Settings[x.Section] = map[string]any{}
			}
			doc.Settings[x.Section][x.Key] = v
		}
		for _, p := range pol.Permissions {
			doc.Permissions[p.Name] = permissionEntry{p.Description, nonNil(p.Scopes)}
		}
		for _, r := range pol.Roles {
			doc.Roles[r.Name] = roleEntry{r.Description, r.FullAccess, r.KeyEnv, nonNil(r.Permissions), r.ExtraScopes}
		}
		for _, u := range pol.Users {
			doc.Users[u.Name] = u.Role
		}
		return io.JSON(doc)
	}
	return io.YAML(effectiveYAML(cfg, pol))
}

func splitKey(key string) (section, name string) {
	for i := range key {
		if key[i] == '.' {
			return key[:i], key[i+1:]
		}
	}
	return key, ""
}

// effectiveYAML builds the YAML document node by node so that it keeps the policy's order and can
// carry a comment naming each setting's source.
func effectiveYAML(cfg *config.Config, pol *policy.Policy) *yaml.Node {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	src := "defaults"
	if cfg.File != "" {
		src = cfg.File
	}
	doc.HeadComment = "effective klrbac configuration (file: " + src + ")"
	sections := map[string]*yaml.Node{}
	for _, s := range config.Settings {
		section, key := splitKey(s.Key)
		m, ok := sections[section]
		if !ok {
			m = &yaml.Node{Kind: yaml.MappingNode}
			sections[section] = m
			doc.Content = append(doc.Content, scalar(section), m)
		}
		// Quoted, so that a revision reads back as a string and not a date.
		v := &yaml.Node{Kind: yaml.ScalarNode, Value: shownSetting(s.Key, cfg.String(s.Key)), Style: yaml.DoubleQuotedStyle}
		if from := cfg.Source(s.Key); from != "default" {
			v.LineComment = "from " + from
		}
		m.Content = append(m.Content, scalar(key), v)
	}
	// Structured settings (alert rules, OAuth apps) as the file wrote them: printed, they keep the
	// shown configuration complete.
	for _, x := range cfg.Extras() {
		m, ok := sections[x.Section]
		if !ok {
			m = &yaml.Node{Kind: yaml.MappingNode}
			sections[x.Section] = m
			doc.Content = append(doc.Content, scalar(x.Section), m)
		}
		m.Content = append(m.Content, scalar(x.Key), redactedCopy(x.Value))
	}
	perms := &yaml.Node{Kind: yaml.MappingNode}
	for _, p := range pol.Permissions {
		perms.Content = append(perms.Content, scalar(p.Name), encodeNode(permissionEntry{p.Description, nonNil(p.Scopes)}))
	}
	roles := &yaml.Node{Kind: yaml.MappingNode}
	for _, r := range pol.Roles {
		roles.Content = append(roles.Content, scalar(r.Name), encodeNode(roleEntry{r.Description, r.FullAccess, r.KeyEnv, nonNil(r.Permissions), r.ExtraScopes}))
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
