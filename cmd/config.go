package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/oauthflow"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
)

func newConfigCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Create, locate, show and validate the config file",
		Long: `Create, locate, show and validate klrbac's config file: the policy (permissions, roles,
users) and settings (klaviyo, audit, keyring, oauth).

klrbac reads the first of: --config FILE, $KLRBAC_CONFIG, ./klrbac.yaml,
$XDG_CONFIG_HOME/klrbac/config.yaml. With none, the embedded default policy applies.
For each setting a flag beats the environment, which beats the file, which beats the
default.` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Args: cobra.NoArgs,
	}
	c.AddCommand(newConfigInitCommand(a), newConfigPathCommand(a), newConfigShowCommand(a), newConfigValidateCommand(a))
	return c
}

func newConfigInitCommand(a *app) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "init [FILE]",
		Short: "Write the default policy as a commented config file",
		Long: `Write the default policy, with comments explaining each part, to FILE (default: --config,
$KLRBAC_CONFIG, else $XDG_CONFIG_HOME/klrbac/config.yaml). The file is created with mode
0600. An existing file is never replaced without --force.

The audit trail records config.init before the file is written; when that record
cannot be written, nothing is written either (exit 3).` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Example: "  klrbac config init ./klrbac.yaml\n  klrbac config init --force",
		Args:    rangeArgs(0, 1, "at most one FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			} else if paths, explicit := config.Candidates(a.configOptions()); explicit {
				path = paths[0]
			} else {
				p, err := config.DefaultPath()
				if err != nil {
					return err
				}
				path = p
			}
			return runConfigInit(cmd.Context(), a, path, force)
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "replace an existing file")
	return c
}

func runConfigInit(ctx context.Context, a *app, path string, force bool) error {
	if _, err := a.config(); err != nil {
		// The file being replaced may be the broken one: audit with the settings that do not come
		// from a file (flags, environment, defaults).
		a.cfg, a.cfgErr = config.Parse("", nil, a.configOptions().Flags)
	}
	// A refusal is decided before the audit entry, so the log never records an init that did not happen.
	if err := config.CheckInit(path, force); err != nil {
		return err
	}
	resource := path
	if abs, err := filepath.Abs(path); err == nil {
		resource = abs
	}
	reason := "writing the default policy"
	if force {
		reason += ", replacing any existing file"
	}
	err := a.trail().Audited(ctx, audit.Entry{Action: "config.init", Resource: resource, Reason: reason}, func() error {
		return config.Init(path, force)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.io.Err, "wrote %s\n", path)
	// A file written where the search does not reach it first is easy to edit in vain.
	candidates, _ := config.Candidates(a.configOptions())
	if !slices.ContainsFunc(candidates, func(c string) bool { return samePath(c, path) }) {
		fmt.Fprintf(a.io.Err, "note: klrbac reads it only when named: --config %s or KLRBAC_CONFIG=%s\n", path, path)
	} else if found, err := config.Find(a.configOptions()); err == nil && !samePath(found, path) {
		fmt.Fprintf(a.io.Err, "note: %s comes first in the search here, so klrbac reads that file, not this one (klrbac config path shows which)\n", found)
	}
	return nil
}

// samePath reports whether two paths name the same file.
func samePath(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// configPathView is the JSON and YAML shape of `config path`.
type configPathView struct {
	File     string   `json:"file" yaml:"file"`
	Explicit bool     `json:"explicit" yaml:"explicit"`
	Searched []string `json:"searched" yaml:"searched"`
}

func newConfigPathCommand(a *app) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "path",
		Short: "Print the config file klrbac reads",
		Long: `Print the path of the config file klrbac reads. When there is none, print nothing on
stdout and say on stderr where klrbac looked.` + exitStatus(exitOK, exitUsage),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := outputFormat(output, listFormats...)
			if err != nil {
				return err
			}
			paths, explicit := config.Candidates(a.configOptions())
			file, err := config.Find(a.configOptions())
			if err != nil {
				return err
			}
			if f != ui.Table {
				return a.io.Encode(f, configPathView{File: file, Explicit: explicit, Searched: paths})
			}
			if file == "" {
				fmt.Fprintf(a.io.Err, "no config file found (searched %s); the embedded default policy applies\n", dash(paths))
				return nil
			}
			fmt.Fprintln(a.io.Out, file)
			return nil
		},
	}
	addOutputFlag(c, &output, listFormats...)
	return c
}

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

// checkStructured checks the settings their own packages read (the alert rules, the OAuth apps),
// which loading the config leaves until a command needs them, so that validate, show and doctor
// judge the whole file.
func checkStructured(cfg *config.Config) error {
	sec, _ := cfg.Raw("audit")
	_, alertsErr := audit.Rules(cfg.File, sec.Value)
	sec, _ = cfg.Raw("oauth")
	_, appsErr := oauthflow.ParseApps(cfg.File, sec.Value)
	return errors.Join(alertsErr, appsErr)
}

func newConfigValidateCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check a config file and report every problem with its line",
		Long: `Check a config file (default: the one klrbac would read) and report every problem, each
with its file:line and a hint, the audit alert rules (audit.alerts) and the OAuth apps
(oauth.apps) included. Nothing is changed.` + exitStatus(exitOK, exitUsage),
		Example: "  klrbac config validate\n  klrbac config validate ./klrbac.yaml",
		Args:    rangeArgs(0, 1, "at most one FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := a.configOptions()
			if len(args) == 1 {
				opts.File = args[0]
			}
			cfg, err := config.Load(opts)
			if err != nil {
				return err
			}
			if err := checkStructured(cfg); err != nil {
				return err
			}
			src := cfg.File
			if src == "" {
				src = "no config file; the embedded default"
			}
			p := cfg.Policy
			fmt.Fprintf(a.io.Out, "%s: valid (%s)\n", src, p.Counts())
			return nil
		},
	}
	return c
}

// shownSetting is a setting's value as config show prints it: the audit DSN without its password.
func shownSetting(key, value string) string {
	if key == "audit.dsn" {
		return audit.RedactDSN(value)
	}
	// Any other URL setting may carry a password too (https://user:pass@host).
	return mask.InText(value)
}
