package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/yamlcheck"
)

// problemLines renders an error the way the CLI prints it: one "message" line per problem followed
// by its "hint:" lines.
func problemLines(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		out = append(out, e.Error())
		for _, h := range fault.Hints(e) {
			out = append(out, "hint: "+h)
		}
	}
	walk(err)
	return out
}

func TestLoaderErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // every line must appear, in order
	}{
		{"bad-yaml.yaml", []string{"bad-yaml.yaml:2: did not find expected ',' or ']'", "hint: the file is not valid YAML"}},
		{"unknown-scope.yaml", []string{`unknown-scope.yaml:4: permission canReadProfiles: unknown Klaviyo scope "profile:read"`, `hint: did you mean "profiles:read"?`}},
		{"unknown-permission.yaml", []string{`unknown-permission.yaml:5: role viewer: unknown permission "canReadProfile"`, `hint: did you mean "canReadProfiles"?`}},
		{"duplicate-role.yaml", []string{`duplicate-role.yaml:4: roles: "viewer" is defined twice (first on line 2)`}},
		{"duplicate-permission.yaml", []string{`duplicate-permission.yaml:4: permissions: "canReadProfiles" is defined twice (first on line 2)`}},
		{"empty-role.yaml", []string{"empty-role.yaml:4: role viewer has no permissions", "hint: give the role at least one permission, or remove it"}},
		{"role-without-permissions.yaml", []string{"role-without-permissions.yaml:2: role auditor has no permissions"}},
		{"unknown-user-role.yaml", []string{`unknown-user-role.yaml:2: user alice@example.com: unknown role "markter"`, `hint: did you mean "marketer"?`}},
		{"unknown-top-level.yaml", []string{`unknown-top-level.yaml:1: unknown top-level key "rolse"`, `hint: did you mean "roles"?`}},
		{"unknown-role-field.yaml", []string{`unknown-role-field.yaml:3: role viewer: unknown field "permisions"`, `hint: did you mean "permissions"?`, "unknown-role-field.yaml:2: role viewer has no permissions"}},
		{"bad-setting.yaml", []string{`bad-setting.yaml:2: klaviyo: unknown field "api_ur"`, `hint: did you mean "api_url"?`, `bad-setting.yaml:4: audit.checks: "sometimes" is not one of all, denied, none`}},
		{"permissions-without-roles.yaml", []string{"permissions-without-roles.yaml:1: permissions are defined but roles are not"}},
		{"duplicate-section.yaml", []string{`duplicate-section.yaml:3: section "users" is given twice (first on line 1)`}},
		{"second-document.yaml", []string{"second-document.yaml:3: a second YAML document starts here; klrbac reads one", "hint: put everything in one document"}},
		{"empty-user.yaml", []string{"empty-user.yaml:2: users: a user name is empty"}},
		{"case-twin-permissions.yaml", []string{`case-twin-permissions.yaml:4: permission "canreadprofiles" differs from "canReadProfiles" (line 2) only in case`}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("..", "..", "testdata", "policies", tc.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(tc.file, data, nil)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if k := fault.KindOf(err); k != fault.Config {
				t.Errorf("kind = %v, want Config (exit 2)", k)
			}
			got := problemLines(err)
			for j, line := range got {
				if !strings.HasPrefix(line, "hint: ") && (j+1 == len(got) || !strings.HasPrefix(got[j+1], "hint: ")) {
					t.Errorf("problem without a hint: %s", line)
				}
			}
			i := 0
			for _, line := range got {
				if i < len(tc.want) && strings.HasPrefix(line, tc.want[i]) {
					i++
				}
			}
			if i < len(tc.want) {
				t.Errorf("missing %q in:\n%s", tc.want[i], strings.Join(got, "\n"))
			}
		})
	}
}

func TestSettingsSectionProblems(t *testing.T) {
	data := []byte("klaviyo:\n  api_url: https://a.example\n  revision: [2026-07-15]\n  api_url: https://b.example\n")
	_, err := Parse("s.yaml", data, nil)
	if fault.KindOf(err) != fault.Config {
		t.Fatalf("kind %v: %v", fault.KindOf(err), err)
	}
	want := []string{
		"s.yaml:3: klaviyo.revision: expected a single value, found a list", "hint: give revision one value, such as klaviyo.revision: " + klaviyo.DefaultRevision,
		`s.yaml:4: klaviyo: "api_url" is defined twice (first on line 2)`, "hint: remove one of them or give it another name",
	}
	if got := problemLines(err); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidFile(t *testing.T) {
	data, err := os.ReadFile("../../testdata/policies/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("valid.yaml", data, nil)
	if err != nil {
		t.Fatalf("valid.yaml: %v", err)
	}
	if got := c.Policy.RoleNames(); strings.Join(got, ",") != "analyst,growth" {
		t.Errorf("roles = %v", got)
	}
	if len(c.Policy.Permissions) != 8 {
		t.Errorf("permissions should come from the default, got %d", len(c.Policy.Permissions))
	}
	if c.String("klaviyo.revision") != "2026-10-15" || c.Source("klaviyo.revision") != "file" {
		t.Errorf("revision = %q from %s; an unquoted date must stay a string", c.String("klaviyo.revision"), c.Source("klaviyo.revision"))
	}
	growth, _ := c.Policy.Role("growth")
	if growth.EnvVar() != "GROWTH_KLAVIYO_KEY" {
		t.Errorf("key env = %q", growth.EnvVar())
	}
	u, err := c.Policy.LookupUser("alice@example.com")
	if err != nil || u.Role != "analyst" {
		t.Errorf("alice → %v, %v", u, err)
	}
}

func TestPrecedence(t *testing.T) {
	file := []byte("klaviyo:\n  api_url: https://file.example\n  revision: \"2026-01-15\"\n")
	flags := map[string]string{}

	c, err := Parse("f.yaml", file, flags)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String("klaviyo.api_url"); got != "https://file.example" || c.Source("klaviyo.api_url") != "file" {
		t.Errorf("file < default: %q from %s", got, c.Source("klaviyo.api_url"))
	}
	if got := c.String("klaviyo.auth_url"); got != "https://www.klaviyo.com" || c.Source("klaviyo.auth_url") != "default" {
		t.Errorf("default: %q from %s", got, c.Source("klaviyo.auth_url"))
	}

	t.Setenv("KLRBAC_API_URL", "https://env.example")
	c, err = Parse("f.yaml", file, flags)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String("klaviyo.api_url"); got != "https://env.example" || c.Source("klaviyo.api_url") != "env KLRBAC_API_URL" {
		t.Errorf("env > file: %q from %s", got, c.Source("klaviyo.api_url"))
	}

	flags["api-url"] = "https://flag.example"
	c, err = Parse("f.yaml", file, flags)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String("klaviyo.api_url"); got != "https://flag.example" || c.Source("klaviyo.api_url") != "flag --api-url" {
		t.Errorf("flag > env: %q from %s", got, c.Source("klaviyo.api_url"))
	}
}

// A DSN is refused a password only where it came from the command line.
func TestAuditDSNFromFlag(t *testing.T) {
	t.Setenv("KLRBAC_AUDIT_DSN", "postgres://env@db/audit")
	c, err := Parse("", nil, map[string]string{})
	if err != nil || c.AuditDSNFromFlag() || c.AuditDSN() != "postgres://env@db/audit" {
		t.Fatalf("from env: %v %v %q", err, c.AuditDSNFromFlag(), c.AuditDSN())
	}
	c, err = Parse("", nil, map[string]string{"audit-dsn": "postgres://flag@db/audit"})
	if err != nil || !c.AuditDSNFromFlag() || c.AuditDSN() != "postgres://flag@db/audit" {
		t.Fatalf("from the flag: %v %v %q", err, c.AuditDSNFromFlag(), c.AuditDSN())
	}
}

func TestBadValueFromEnvNamesItsSource(t *testing.T) {
	t.Setenv("KLRBAC_KEYRING", "maybe")
	_, err := Parse("", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "keyring.backend (from env KLRBAC_KEYRING)") {
		t.Fatalf("err = %v", err)
	}
}

// A malformed postgres:// URL is named for what is wrong with it, never repeated: it may carry a
// password.
func TestMalformedDSNSaysWhatIsWrong(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://klw:s3cr3t@127.0.0.1:notaport/audit": "audit.dsn (from env KLRBAC_AUDIT_DSN): cannot parse the URL: invalid port",
		"postgres://klw:s3cr3t%zz@127.0.0.1/audit":       "audit.dsn (from env KLRBAC_AUDIT_DSN): cannot parse the URL: invalid escape",
		"mysql://klw:s3cr3t@h/db":                        "audit.dsn (from env KLRBAC_AUDIT_DSN): not a postgres:// URL",
	} {
		t.Setenv("KLRBAC_AUDIT_DSN", dsn)
		_, err := Parse("", nil, nil)
		lines := strings.Join(problemLines(err), "\n")
		if err == nil || !strings.Contains(lines, want) || strings.Contains(lines, "s3cr3t") || !strings.Contains(lines, "hint: use postgres://") {
			t.Errorf("%s: err = %v", want, err)
		}
	}
}

func TestSearchPath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	t.Setenv("KLRBAC_CONFIG", "")

	if f, err := Find(Options{}); err != nil || f != "" {
		t.Fatalf("nothing there: %q, %v", f, err)
	}
	xdg := filepath.Join(dir, "xdg", "klrbac", "config.yaml")
	if err := Init(xdg, false); err != nil {
		t.Fatal(err)
	}
	if f, _ := Find(Options{}); f != xdg {
		t.Errorf("found %q, want the XDG file", f)
	}
	if err := os.WriteFile("klrbac.yaml", []byte("users: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if f, _ := Find(Options{}); f != "klrbac.yaml" {
		t.Errorf("found %q, want ./klrbac.yaml before the XDG file", f)
	}
	t.Setenv("KLRBAC_CONFIG", xdg)
	if f, _ := Find(Options{}); f != xdg {
		t.Errorf("found %q, want $KLRBAC_CONFIG", f)
	}
	if f, _ := Find(Options{File: "klrbac.yaml"}); f != "klrbac.yaml" {
		t.Errorf("found %q, want --config over $KLRBAC_CONFIG", f)
	}
	_, err := Find(Options{File: "missing.yaml"})
	if fault.KindOf(err) != fault.Config || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("explicit missing file: %v", err)
	}
}

func TestInitRefusesToOverwriteAndWritesPrivately(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "klrbac.yaml")
	if err := Init(path, false); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	if err := os.WriteFile(path, []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = Init(path, false)
	if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second init: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "# mine\n" {
		t.Error("the refused init changed the file")
	}
	if err := Init(path, true); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != string(policy.DefaultYAML) {
		t.Error("--force did not write the default policy")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("leftover temporary files: %v", entries)
	}
}

func TestInitWritesALoadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "klrbac.yaml")
	if err := Init(path, false); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Options{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Policy.Roles) != 5 || len(c.Policy.Permissions) != 8 {
		t.Errorf("got %d roles, %d permissions", len(c.Policy.Roles), len(c.Policy.Permissions))
	}
}

func TestEmptyFileMeansDefaults(t *testing.T) {
	for _, data := range [][]byte{{}, []byte("# nothing\n"), []byte("---\n")} {
		c, err := Parse("empty.yaml", data, nil)
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		if len(c.Policy.Roles) != 5 {
			t.Errorf("%q: %d roles", data, len(c.Policy.Roles))
		}
	}
}

// FuzzParse feeds arbitrary bytes to the config and policy loader: it must return a valid config or
// a classified error, never panic.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../../testdata/policies/*.yaml")
	for _, s := range seeds {
		data, _ := os.ReadFile(s)
		f.Add(data)
	}
	f.Add(policy.DefaultYAML)
	f.Add([]byte("roles: [a, b]\n"))
	f.Add([]byte("users:\n  x: &a admin\n  y: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data, nil)
		if err != nil {
			if fault.KindOf(err) == fault.Unclassified {
				var pe *yamlcheck.Problem
				if !errors.As(err, &pe) {
					t.Fatalf("unclassified error: %v", err)
				}
			}
			return
		}
		for _, r := range c.Policy.Roles {
			if len(r.Permissions) == 0 {
				t.Fatalf("accepted role %s with no permissions", r.Name)
			}
			for _, p := range r.Permissions {
				if _, ok := c.Policy.Permission(p); !ok {
					t.Fatalf("accepted role %s with unknown permission %s", r.Name, p)
				}
			}
		}
	})
}

// TestCredentialWhereANameBelongs: a key, token or secret pasted where the config file wants a name
// is refused (exit 2) with its line and a hint, and never repeated: not in the message, not in a
// hint, not in any other problem the file has.
func TestCredentialWhereANameBelongs(t *testing.T) {
	const key = "pk_0123456789abcdef0123456789abcdef42"
	const token = "9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a39c8b7a6f5e4d3c2b"
	for _, tc := range []struct {
		name, yaml string
		line       string
	}{
		{"key_env", "roles:\n  viewer:\n    permissions: [canReadProfiles]\n    key_env: " + key + "\n", "c.yaml:4: roles.viewer.key_env: "},
		{"key_env upper case", "roles:\n  viewer:\n    permissions: [canReadProfiles]\n    key_env: " + strings.ToUpper(key) + "\n", "c.yaml:4: roles.viewer.key_env: "},
		{"role name", "roles:\n  " + key + ":\n    permissions: [canReadProfiles]\n", "c.yaml:2: roles: "},
		{"permission name", "permissions:\n  " + token + ":\n    scopes: [profiles:read]\nroles:\n  viewer:\n    permissions: [x]\n", "c.yaml:2: permissions: "},
		{"permission in a role", "roles:\n  viewer:\n    permissions: [canReadProfiles, " + key + "]\n", "c.yaml:3: roles.viewer.permissions: "},
		{"extra scope", "roles:\n  viewer:\n    permissions: [canReadProfiles]\n    extra_scopes: [" + token + "]\n", "c.yaml:4: roles.viewer.extra_scopes: "},
		{"user name", "users:\n  " + token + ": viewer\n", "c.yaml:2: users: "},
		{"user's role", "users:\n  alice@example.com: " + key + "\n", "c.yaml:2: users.alice@example.com: "},
		{"oauth app name", "oauth:\n  apps:\n    " + token + ":\n      client_id: abc\n", "c.yaml:3: oauth.apps: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.yaml), nil)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if k := fault.KindOf(err); k != fault.Config {
				t.Errorf("kind = %v, want Config (exit 2)", k)
			}
			got := strings.Join(problemLines(err), "\n")
			for _, secret := range []string{key, strings.ToUpper(key), token, key[3:20], token[:20]} {
				if strings.Contains(got, secret) {
					t.Fatalf("the credential is repeated:\n%s", got)
				}
			}
			if !strings.Contains(got, tc.line+"this looks like a credential (a key, token or secret) where a name belongs, so it is not repeated here") {
				t.Errorf("want a problem starting %q, got:\n%s", tc.line, got)
			}
			if !strings.Contains(got, "hint: ") {
				t.Errorf("no hint:\n%s", got)
			}
		})
	}
}

func TestKeyringSettings(t *testing.T) {
	cfg, err := Parse("", []byte("keyring:\n  backend: \"off\"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.KeyringOff() {
		t.Fatal("keyring.backend off did not turn the keyring off")
	}
	t.Setenv("KLRBAC_KEYRING", "off")
	t.Setenv("KLRBAC_KEYRING_TIMEOUT", "250ms")
	cfg, err = Parse("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.KeyringOff() {
		t.Error("KLRBAC_KEYRING=off did not turn the keyring off")
	}
	if cfg.KeyringTimeout() != 250*time.Millisecond {
		t.Errorf("timeout %s, want the configured 250ms", cfg.KeyringTimeout())
	}
}

// docs/configuration.md is generated from the table of settings: a setting added, removed or
// reworded without regenerating it fails here.
func TestConfigurationDocIsFresh(t *testing.T) {
	got, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatalf("%v; run go generate ./internal/config", err)
	}
	if string(got) != string(Reference()) {
		t.Error("docs/configuration.md is stale: run go generate ./internal/config")
	}
	for _, s := range Settings {
		if !strings.Contains(string(got), "| `"+s.Key+"` | `"+s.Env+"` |") {
			t.Errorf("docs/configuration.md does not document %s", s.Key)
		}
	}
}

// TestConfigFileSizeIsCapped: a file far larger than any policy is refused before it is parsed.
func TestConfigFileSizeIsCapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	data := []byte("roles:\n  viewer:\n    description: \"" + strings.Repeat("x", MaxFileSize) + "\"\n    permissions: [canReadProfiles]\n")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(Options{File: path})
	if fault.KindOf(err) != fault.Config || !strings.Contains(fmt.Sprint(err), "larger than 1024 KiB") {
		t.Fatalf("Load = %v, want a config error about the size", err)
	}
	if len(fault.Hints(err)) == 0 {
		t.Error("no hint")
	}
	small := filepath.Join(t.TempDir(), "small.yaml")
	if err := os.WriteFile(small, data[:0], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Options{File: small}); err != nil {
		t.Errorf("an empty file: %v", err)
	}
}

// The alert rules are the defaults as the file's audit.alerts adjusts them, with problems on their
// lines.
func TestAlertRules(t *testing.T) {
	cfg, err := Parse("klrbac.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defaults, err := cfg.AlertRules()
	if err != nil || len(defaults) == 0 {
		t.Fatalf("no file: %d rules, %v", len(defaults), err)
	}
	cfg, err = Parse("klrbac.yaml", []byte("audit:\n  alerts:\n    - name: a\n      command: \"notify --all\"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.AlertRules(); err == nil || !strings.Contains(err.Error(), "klrbac.yaml:4:") {
		t.Errorf("a broken rule: %v", err)
	}
}
