// Package config finds and reads klrbac's configuration file and resolves each setting with viper:
// flag, then environment, then file, then the built-in default. The policy sections of the same file
// go to package policy, which knows their rules.
package config

import (
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/suggest"
	"github.com/klrbac/klrbac/internal/yamlcheck"
)

// Setting is one configuration key and the places its value may come from. The table Settings is
// the one place a setting is declared: the resolver, `config show` and docs/configuration.md all
// read it.
type Setting struct {
	Key  string // config key, e.g. klaviyo.api_url
	Env  string // environment variable
	Flag string // global flag, if any
	// Default is the value when nothing sets it. A default starting with StateHome is a file in
	// klrbac's state directory, resolved when the configuration is read.
	Default string
	// Help is the setting's meaning in docs/configuration.md (markdown).
	Help  string
	check func(string) error
}

// StateHome stands for klrbac's state directory in a default: $XDG_STATE_HOME/klrbac, by default
// ~/.local/state/klrbac.
const StateHome = "$XDG_STATE_HOME/klrbac"

// Settings lists every setting klrbac reads, in the order `config show` prints them. Adding one is
// one line here (and a typed accessor below, for the code that reads it).
var Settings = []Setting{
	{Key: "klaviyo.api_url", Env: "KLRBAC_API_URL", Flag: "api-url", Default: klaviyo.DefaultAPIURL, Help: "API base; also hosts `/oauth/token` and `/oauth/revoke`", check: checkURL},
	{Key: "klaviyo.auth_url", Env: "KLRBAC_AUTH_URL", Default: "https://www.klaviyo.com", Help: "hosts `/oauth/authorize`", check: checkURL},
	{Key: "klaviyo.revision", Env: "KLRBAC_REVISION", Flag: "revision", Default: klaviyo.DefaultRevision, Help: "the `revision` header sent to Klaviyo", check: checkRevision},
	{Key: "klaviyo.calibration_file", Env: "KLRBAC_CALIBRATION_FILE", Default: StateHome + "/calibration.json", Help: "where `keys validate --calibrate` keeps Klaviyo's check order (see [Calibration](validation.md#calibration))"},
	{Key: "audit.path", Env: "KLRBAC_AUDIT_LOG", Flag: "audit-log", Default: StateHome + "/audit.log", Help: "audit log file"},
	{Key: "audit.dsn", Env: "KLRBAC_AUDIT_DSN", Flag: "audit-dsn", Default: "", Help: "a `postgres://` URL: the [team audit trail](audit-trail.md#team-audit-trail-postgresql) in PostgreSQL instead of `audit.path`; `keyring`: the URL stored by `klrbac audit set-dsn`", check: checkDSN},
	{Key: "audit.checks", Env: "KLRBAC_AUDIT_CHECKS", Default: "all", Help: "which check decisions to audit: `all`, `denied`, `none`", check: oneOf("all", "denied", "none")},
	{Key: "keyring.backend", Env: "KLRBAC_KEYRING", Default: "system", Help: "`system` (the OS keyring) or `off` (keys from variables only, as in CI)", check: oneOf("system", "off")},
	{Key: "keyring.timeout", Env: "KLRBAC_KEYRING_TIMEOUT", Default: secrets.DefaultTimeout.String(), Help: "how long one keyring call may take before klrbac gives up on it", check: checkDuration},
	{Key: "proxy.tokens_file", Env: "KLRBAC_PROXY_TOKENS", Default: StateHome + "/proxy-tokens", Help: "the hashes of `klrbac proxy`'s caller tokens (see [Proxy](proxy.md#proxy-tokens)); unused with `audit.dsn`, whose database keeps them"},
}

// sections are the top-level keys a config file may have, besides the policy's.
var sections = []string{"klaviyo", "audit", "keyring", "oauth", "proxy"}

// extraKeys are keys inside settings sections that other packages decode themselves from Raw.
var extraKeys = map[string][]string{"audit": {"alerts"}, "oauth": {"apps"}, "proxy": {"trusted_proxies"}}

// APIURL is Klaviyo's API base URL (klaviyo.api_url).
func (c *Config) APIURL() string { return c.String("klaviyo.api_url") }

// AuthURL is the base URL of Klaviyo's authorization page (klaviyo.auth_url).
func (c *Config) AuthURL() string { return c.String("klaviyo.auth_url") }

// Revision is the Klaviyo API revision to speak (klaviyo.revision).
func (c *Config) Revision() string { return c.String("klaviyo.revision") }

// CalibrationFile is where calibrations are kept (klaviyo.calibration_file).
func (c *Config) CalibrationFile() string { return c.path("klaviyo.calibration_file") }

// AuditPath is the audit log file (audit.path). It fails when neither the settings nor the
// environment locate it.
func (c *Config) AuditPath() (string, error) {
	p := c.path("audit.path")
	if p == "" {
		return "", fault.Configf("no audit log location: neither XDG_STATE_HOME nor HOME is set").
			Hint("set KLRBAC_AUDIT_LOG, audit.path in the config, or pass --audit-log")
	}
	return p, nil
}

// AuditDSN is the team audit trail's postgres:// URL, "keyring" for the one the keyring holds, or ""
// for the file (audit.dsn).
func (c *Config) AuditDSN() string { return c.String("audit.dsn") }

// AuditDSNFromFlag reports whether audit.dsn came from --audit-dsn: on the command line, where a
// password would be in every process listing, so a DSN from there must carry none.
func (c *Config) AuditDSNFromFlag() bool { return c.sourceOf("audit.dsn") == "flag" }

// AuditChecks says which check decisions to audit: all, denied or none (audit.checks).
func (c *Config) AuditChecks() string { return c.String("audit.checks") }

// KeyringOff reports whether the keyring is turned off (keyring.backend: off).
func (c *Config) KeyringOff() bool { return c.String("keyring.backend") == "off" }

// KeyringTimeout bounds each call to the OS keyring (keyring.timeout); settings are validated on load.
func (c *Config) KeyringTimeout() time.Duration {
	d, _ := time.ParseDuration(c.String("keyring.timeout"))
	return d
}

// ProxyTokensFile is where the proxy keeps its callers' token hashes (proxy.tokens_file).
func (c *Config) ProxyTokensFile() string { return c.path("proxy.tokens_file") }

// Options says where to look for configuration.
type Options struct {
	// File is an explicit config file (--config); it must exist.
	File string
	// Flags holds the global flags given on the command line, by name ("api-url"), with their
	// values: they beat every other source.
	Flags map[string]string
}

// Config is the effective configuration.
type Config struct {
	// File is the config file read, or "" when none was found and only defaults apply.
	File   string
	Policy *policy.Policy

	v     *viper.Viper
	flags map[string]string
	// fileValues holds the settings the file sets, as written: handing viper the file to parse would
	// let YAML turn an unquoted revision such as 2026-07-15 into a timestamp.
	fileValues map[string]map[string]any
	raw        map[string]policy.Section
}

// Candidates returns where klrbac looks for a config file, in order, and which of them was named
// explicitly (by --config or KLRBAC_CONFIG).
func Candidates(opts Options) (paths []string, explicit bool) {
	if opts.File != "" {
		return []string{opts.File}, true
	}
	if env := os.Getenv("KLRBAC_CONFIG"); env != "" {
		return []string{env}, true
	}
	paths = []string{"klrbac.yaml"}
	if dir, err := os.UserConfigDir(); err == nil {
		paths = append(paths, filepath.Join(dir, "klrbac", "config.yaml"))
	}
	return paths, false
}

// Find returns the config file to read, or "" when there is none and the defaults apply.
func Find(opts Options) (string, error) {
	paths, explicit := Candidates(opts)
	for _, p := range paths {
		st, err := os.Stat(p)
		switch {
		case err == nil && st.IsDir():
			return "", fault.Configf("config file %s is a directory", p).Hint("point --config or KLRBAC_CONFIG at a YAML file")
		case err == nil:
			return p, nil
		case explicit && errors.Is(err, fs.ErrNotExist):
			return "", fault.Configf("config file %s does not exist", p).Hint("create one with `klrbac config init --config " + p + "`")
		case explicit || !errors.Is(err, fs.ErrNotExist):
			return "", fault.Configf("cannot read config file: %w", err)
		}
	}
	return "", nil
}

// Load finds the config file, reads it and resolves every setting.
func Load(opts Options) (*Config, error) {
	file, err := Find(opts)
	if err != nil {
		return nil, err
	}
	var data []byte
	if file != "" {
		if data, err = readCapped(file); err != nil {
			return nil, err
		}
	}
	return Parse(file, data, opts.Flags)
}

// MaxFileSize caps what klrbac reads as a config file. A policy with hundreds of roles is tens of
// kilobytes; parsing a file of tens of megabytes (a log or a dump named by mistake) took seconds
// and hundreds of megabytes of memory before failing.
const MaxFileSize = 1 << 20

// readCapped reads a config file of at most MaxFileSize bytes. It reads through a limit rather than
// trusting the file's size, which a pipe or a device does not have.
func readCapped(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fault.Configf("cannot read config file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fault.Configf("cannot read config file: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fault.Configf("config file %s is larger than %d KiB, more than a klrbac config can be", file, MaxFileSize>>10).
			Hint("check that --config or KLRBAC_CONFIG names the config file, not a log or a dump")
	}
	return data, nil
}

// Parse builds the effective configuration from a config file's contents (nil: no file).
func Parse(file string, data []byte, flags map[string]string) (*Config, error) {
	c := &Config{File: file, flags: flags, fileValues: map[string]map[string]any{}, raw: map[string]policy.Section{}}
	c.v = viper.New()
	for _, s := range Settings {
		c.v.SetDefault(s.Key, defaultOf(s))
		_ = c.v.BindEnv(s.Key, s.Env)
		if v, ok := flags[s.Flag]; ok && s.Flag != "" {
			c.v.Set(s.Key, v)
		}
	}
	if data == nil {
		c.Policy = policy.Default()
		return c, c.check()
	}
	name := file
	doc, err := yamlcheck.Parse(name, data)
	if err != nil {
		return nil, err
	}
	// First, and alone: every later problem would quote the name it is about.
	if err := policy.CheckNames(name, doc); err != nil {
		return nil, err
	}
	top, err := policy.TopLevel(name, doc)
	if err != nil {
		return nil, err
	}
	ps := &yamlcheck.Problems{File: name}
	known := append(slices.Clone(sections), policy.Sections...)
	for _, key := range sortedSectionNames(top) {
		sec := top[key]
		if !slices.Contains(known, key) {
			ps.Add(sec.Key, suggestion(key, known, "known sections: "+strings.Join(known, ", ")), "unknown top-level key %q", key)
			continue
		}
		if slices.Contains(sections, key) {
			c.checkSection(ps, key, sec)
			c.raw[key] = sec
		}
	}
	pol, polErr := policy.FromSections(name, top, policy.Default())
	if err := errors.Join(ps.Err(), polErr); err != nil {
		return nil, err
	}
	c.Policy = pol
	merged := make(map[string]any, len(c.fileValues))
	for k, v := range c.fileValues {
		merged[k] = v
	}
	if err := c.v.MergeConfigMap(merged); err != nil {
		return nil, fault.Configf("%s: %v", name, err)
	}
	return c, c.check()
}

func sortedSectionNames(top map[string]policy.Section) []string {
	names := make([]string, 0, len(top))
	for k := range top {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return top[names[i]].Key.Line < top[names[j]].Key.Line })
	return names
}

// checkSection reports unknown keys and non-scalar values inside a settings section, and notes which
// settings the file sets.
func (c *Config) checkSection(ps *yamlcheck.Problems, section string, sec policy.Section) {
	var known []string
	for _, s := range Settings {
		if strings.HasPrefix(s.Key, section+".") {
			known = append(known, strings.TrimPrefix(s.Key, section+"."))
		}
	}
	known = append(known, extraKeys[section]...)
	ps.Fields(sec.Value, section, known, func(name string, _, v *yaml.Node) {
		if slices.Contains(extraKeys[section], name) {
			return
		}
		key := section + "." + name
		// Not ps.String: a setting left empty is "", for its check to judge.
		if v.Kind != yaml.ScalarNode {
			ps.Add(v, "give "+name+" one value, such as "+key+": "+lookup(key).Default,
				"%s: expected a single value, found %s", key, yamlcheck.KindName(v))
			return
		}
		if c.fileValues[section] == nil {
			c.fileValues[section] = map[string]any{}
		}
		c.fileValues[section][name] = v.Value
		if s := lookup(key); s.check != nil && c.sourceOf(key) == "file" {
			if err := s.check(v.Value); err != nil {
				ps.Add(v, strings.Join(fault.Hints(err), "; "), "%s: %v", key, err)
			}
		}
	})
}

// check validates settings that come from flags or the environment; file values were checked with
// their line numbers.
func (c *Config) check() error {
	var errs []error
	for _, s := range Settings {
		src := c.sourceOf(s.Key)
		if s.check == nil || src == "file" || src == "default" {
			continue
		}
		if err := s.check(c.v.GetString(s.Key)); err != nil {
			errs = append(errs, fault.Configf("%s (from %s): %v", s.Key, c.Source(s.Key), err).Hint(fault.Hints(err)...))
		}
	}
	return errors.Join(errs...)
}

// defaultOf is a setting's default with the state directory resolved; a file default without a state
// directory is "", which the setting's accessor reports.
func defaultOf(s Setting) string {
	rest, ok := strings.CutPrefix(s.Default, StateHome+"/")
	if !ok {
		return s.Default
	}
	dir, err := StateDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, rest)
}

func lookup(key string) Setting {
	for _, s := range Settings {
		if s.Key == key {
			return s
		}
	}
	return Setting{}
}

// String returns a setting's effective value.
func (c *Config) String(key string) string { return c.v.GetString(key) }

// Source says where a setting's value comes from: "flag --x", "env X", "file" or "default".
func (c *Config) Source(key string) string {
	src := c.sourceOf(key)
	s := lookup(key)
	switch src {
	case "flag":
		return "flag --" + s.Flag
	case "env":
		return "env " + s.Env
	}
	return src
}

func (c *Config) sourceOf(key string) string {
	s := lookup(key)
	if _, ok := c.flags[s.Flag]; ok && s.Flag != "" {
		return "flag"
	}
	// viper ignores empty variables, so an empty one does not count as a source either.
	if s.Env != "" && os.Getenv(s.Env) != "" {
		return "env"
	}
	section, name, _ := strings.Cut(key, ".")
	if _, ok := c.fileValues[section][name]; ok {
		return "file"
	}
	return "default"
}

// Raw returns a settings section's YAML as written in the file, for packages that decode richer
// structures (audit alerts, OAuth apps) themselves; ok is false when the file has no such section.
func (c *Config) Raw(section string) (policy.Section, bool) {
	s, ok := c.raw[section]
	return s, ok
}

// AlertRules are the audit alert rules in force: audit.DefaultRules, as the file's audit.alerts
// adjusts them.
func (c *Config) AlertRules() ([]audit.Rule, error) {
	sec, _ := c.Raw("audit")
	return audit.Rules(c.File, sec.Value)
}

// StateDir is where klrbac keeps state such as the audit log: $XDG_STATE_HOME/klrbac, by default
// ~/.local/state/klrbac.
func StateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "klrbac"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fault.Configf("cannot locate a state directory: %w", err).Hint("set XDG_STATE_HOME or KLRBAC_AUDIT_LOG")
	}
	return filepath.Join(home, ".local", "state", "klrbac"), nil
}

// DefaultPath is where `klrbac config init` writes when not told otherwise.
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fault.Configf("cannot locate a config directory: %w", err).Hint("pass --config FILE")
	}
	return filepath.Join(dir, "klrbac", "config.yaml"), nil
}

func suggestion(got string, known []string, fallback string) string {
	if h := suggest.Hint(suggest.Closest(got, known, 1)); h != "" {
		return h
	}
	return fallback
}

// checkDSN accepts a postgres:// URL or "keyring". Its error never repeats the value: a DSN
// carries a password.
func checkDSN(s string) error {
	if s == "" || s == "keyring" {
		return nil
	}
	if problem := audit.DSNProblem(s); problem != "" {
		return fault.Configf("%s", problem).Hint("use postgres://USER:PASSWORD@HOST:PORT/DATABASE, or keyring with the DSN stored by `klrbac audit set-dsn`")
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fault.Configf("%q is not an http(s) URL", s).Hint("use a URL such as https://a.klaviyo.com, or the sandbox's http://127.0.0.1:PORT")
	}
	return nil
}

// The pattern compiles on first use: most runs never meet a revision to check.
var revisionPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`) })

func checkRevision(s string) error {
	if !revisionPattern().MatchString(s) {
		return fault.Configf("%q is not a revision such as %s", s, klaviyo.DefaultRevision).Hint("Klaviyo revisions are dates, YYYY-MM-DD; klrbac adds .pre itself for beta operations")
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return fault.Configf("%q is not a valid date", s).Hint("Klaviyo revisions are dates, YYYY-MM-DD, such as " + klaviyo.DefaultRevision)
	}
	return nil
}

func checkDuration(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fault.Configf("%q is not a positive duration", s).Hint("write a duration with its unit, such as 3s or 500ms")
	}
	return nil
}

func oneOf(values ...string) func(string) error {
	return func(s string) error {
		if !slices.Contains(values, s) {
			e := fault.Configf("%q is not one of %s", s, strings.Join(values, ", "))
			if h := suggest.Hint(suggest.Closest(s, values, 1)); h != "" {
				return e.Hint(h)
			}
			return e.Hint("use one of " + strings.Join(values, ", "))
		}
		return nil
	}
}

// ExpandHome turns a leading "~/" into the home directory, as a shell would: config files are
// written by people, and ~/.local/state/... must mean the same file to every command.
func ExpandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// path returns a path setting's effective value with a leading "~/" expanded.
func (c *Config) path(key string) string { return ExpandHome(c.v.GetString(key)) }

// Extra is a structured setting that its own package decodes (audit.alerts, oauth.apps), as the
// file wrote it.
type Extra struct {
	Section, Key string
	Value        *yaml.Node
}

// Extras returns the structured settings the file has, in the order of extraKeys, so that
// `config show` can print a configuration that loses nothing.
func (c *Config) Extras() []Extra {
	var out []Extra
	for _, section := range sections {
		sec, ok := c.raw[section]
		if !ok || sec.Value.Kind != yaml.MappingNode {
			continue
		}
		for _, key := range extraKeys[section] {
			for i := 0; i+1 < len(sec.Value.Content); i += 2 {
				if sec.Value.Content[i].Value == key {
					out = append(out, Extra{Section: section, Key: key, Value: sec.Value.Content[i+1]})
				}
			}
		}
	}
	return out
}
