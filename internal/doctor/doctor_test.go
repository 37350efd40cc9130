package doctor

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/sandbox"
	"github.com/klrbac/klrbac/internal/secrets"
)

const goodKey = "pk_0123456789abcdef0123456789abcda1b2"

type fakeKlaviyo struct {
	down     error
	verdicts map[string]error
}

func (f fakeKlaviyo) Reachable(context.Context) error { return f.down }
func (f fakeKlaviyo) CheckKey(_ context.Context, k secrets.Secret) error {
	return f.verdicts[k.Reveal()]
}

func defaults(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func byName(checks []Check) map[string]Check {
	m := map[string]Check{}
	for _, c := range checks {
		m[c.Name] = c
	}
	return m
}

func TestRun(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/mock-bus")
	t.Setenv("KLRBAC_AUDIT_LOG", filepath.Join(t.TempDir(), "audit.log"))
	keyring.MockInit()
	store := secrets.New(secrets.Options{})
	ctx := context.Background()
	_ = store.Set(ctx, secrets.RoleKeyItem("admin"), secrets.NewSecret(goodKey))
	env := map[string]string{"KLAVIYO_KEY_VIEWER": goodKey, "KLAVIYO_KEY_SERVICE": "Xy9Q7w"}
	checks := Run(ctx, Env{Config: defaults(t), Store: store, Getenv: func(k string) string { return env[k] },
		Klaviyo: fakeKlaviyo{verdicts: map[string]error{goodKey: nil}}, APIURL: "http://klaviyo.test"})
	got := byName(checks)
	for name, want := range map[string]struct {
		ok     bool
		detail string
		fix    string
	}{
		"config":                 {true, "no config file; the built-in policy applies (5 roles, 8 permissions, 0 users)", ""},
		"keyring":                {true, "the OS keyring answers and is unlocked (service klrbac)", ""},
		"key admin":              {true, "keyring, pk_****a1b2 (fingerprint ", ""},
		"key viewer":             {true, "env KLAVIYO_KEY_VIEWER, pk_****a1b2", ""},
		"key marketer":           {false, "none: KLAVIYO_KEY_MARKETER is not set and the keyring holds none", "klrbac keys set marketer"},
		"key service":            {false, "env KLAVIYO_KEY_SERVICE holds ****, which is not a Klaviyo private API key", "replace it"},
		"audit log":              {true, "can be created (it does not exist yet)", ""},
		"klaviyo":                {true, "http://klaviyo.test answers", ""},
		"klaviyo accepts admin":  {true, "pk_****a1b2 from keyring is accepted", ""},
		"klaviyo accepts viewer": {true, "pk_****a1b2 from env KLAVIYO_KEY_VIEWER is accepted", ""},
	} {
		c, ok := got[name]
		if !ok {
			t.Errorf("no check %q", name)
			continue
		}
		if c.OK != want.ok || !strings.Contains(c.Detail, want.detail) || !strings.Contains(c.Fix, want.fix) || (c.OK && c.Fix != "") {
			t.Errorf("%s: %+v, want ok=%v detail %q fix %q", name, c, want.ok, want.detail, want.fix)
		}
	}
	if _, ok := got["klaviyo accepts service"]; ok {
		t.Error("a malformed key was sent to Klaviyo")
	}
	if OK(checks) {
		t.Error("OK with broken checks")
	}
	if strings.Contains(strings.Join(flatten(checks), "\n"), goodKey) {
		t.Error("a check shows a key")
	}
}

func flatten(checks []Check) []string {
	var out []string
	for _, c := range checks {
		out = append(out, c.Detail, c.Fix)
	}
	return out
}

func TestRunWithBrokenConfig(t *testing.T) {
	_, err := config.Parse("bad.yaml", []byte("roles:\n  viewer:\n    permissions: [canReadProfile]\n"), nil)
	if err == nil {
		t.Fatal("bad config parsed")
	}
	checks := Run(context.Background(), Env{ConfigErr: err, Fallback: defaults(t), Store: secrets.New(secrets.Options{Off: true}),
		Getenv: func(string) string { return "" }})
	got := byName(checks)
	if c := got["config"]; c.OK || !strings.Contains(c.Detail, `bad.yaml:3: role viewer: unknown permission "canReadProfile"`) ||
		!strings.HasPrefix(c.Fix, `did you mean "canReadProfiles"?`) {
		t.Errorf("config: %+v", c)
	}
	if c := got["keyring"]; !c.OK || !strings.HasPrefix(c.Detail, "off") {
		t.Errorf("keyring: %+v", c)
	}
	if len(checks) < 7 {
		t.Errorf("the other checks did not run on the fallback: %d checks", len(checks))
	}
	if checks := Run(context.Background(), Env{ConfigErr: err}); len(checks) != 1 {
		t.Errorf("without any configuration only the config check can run: %+v", checks)
	}
}

func TestOnlineUnreachable(t *testing.T) {
	keyring.MockInit()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/mock-bus")
	checks := Run(context.Background(), Env{Config: defaults(t), Store: secrets.New(secrets.Options{}),
		Getenv:  func(k string) string { return map[string]string{"KLAVIYO_KEY_ADMIN": goodKey}[k] },
		Klaviyo: fakeKlaviyo{down: errors.New("connection refused")}, APIURL: "http://klaviyo.test"})
	got := byName(checks)
	if c := got["klaviyo"]; c.OK || c.Detail != "http://klaviyo.test does not answer: connection refused" {
		t.Errorf("klaviyo: %+v", c)
	}
	if _, ok := got["klaviyo accepts admin"]; ok {
		t.Error("keys checked against an unreachable Klaviyo")
	}
}

func TestAuditCheck(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(existing, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path   string
		ok     bool
		detail string
	}{
		{existing, true, existing + " is writable"},
		{filepath.Join(dir, "new", "deeper", "audit.log"), true, "can be created"},
		{dir, false, "is a directory"},
		{filepath.Join(file, "audit.log"), false, "is not a usable directory"},
		{"", false, "no location"},
	} {
		c := auditCheck(tc.path)
		if c.OK != tc.ok || !strings.Contains(c.Detail, tc.detail) || (!c.OK && c.Fix == "") {
			t.Errorf("%q: %+v", tc.path, c)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "x\n" {
		t.Error("the check wrote to the audit log")
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
		t.Error("the check created directories")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("the check left files behind: %v", entries)
	}
}

func TestClientKlaviyo(t *testing.T) {
	var seen http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Header().Set("Content-Type", "application/vnd.api+json")
		if r.URL.Path != "/api/accounts" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		switch r.Header.Get("Authorization") {
		case "Klaviyo-API-Key pk_ok":
			_, _ = w.Write([]byte(`{"data":[]}`))
		case "Klaviyo-API-Key pk_scoped":
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"errors":[{"status":"403","code":"permission_denied","title":"You do not have permission to perform this action."}]}`))
		case "Klaviyo-API-Key pk_cloudflare":
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("cf-mitigated", "challenge")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<html>challenge</html>`))
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":[{"status":"401","code":"authentication_failed","title":"Incorrect authentication credentials."}]}`))
		}
	}))
	defer srv.Close()
	client := func(url string) ClientKlaviyo {
		return ClientKlaviyo{Client: klaviyo.New(klaviyo.Options{APIURL: url, Revision: "2026-07-15", MaxAttempts: 1})}
	}
	k := client(srv.URL)
	ctx := context.Background()
	if err := k.Reachable(ctx); err != nil {
		t.Fatal(err)
	}
	if seen.Get("Authorization") != "" || seen.Get("revision") != "2026-07-15" || seen.Get("Accept") != "application/vnd.api+json" {
		t.Errorf("unauthenticated request headers: %v", seen)
	}
	for key, want := range map[string]string{"pk_ok": "", "pk_scoped": "", "pk_bad": "rejected by Klaviyo (HTTP 401, authentication_failed)",
		"pk_cloudflare": "403"} {
		err := k.CheckKey(ctx, secrets.NewSecret(key))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) || (want == "") != (err == nil) {
			t.Errorf("%s: %v, want %q", key, err, want)
		}
		var rej *RejectedError
		if errors.As(err, &rej) != (key == "pk_bad") {
			t.Errorf("%s: rejected = %v", key, errors.As(err, &rej))
		}
	}
	if err := client("http://127.0.0.1:1").Reachable(ctx); err == nil {
		t.Error("a closed port answered")
	}
}

// A server that answers everything with an HTML 200 (a captive portal, a wrong host) neither
// answers as Klaviyo nor accepts any key.
func TestClientKlaviyoLiar(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>portal</html>"))
	}))
	defer ts.Close()
	k := ClientKlaviyo{Client: klaviyo.New(klaviyo.Options{APIURL: ts.URL, Revision: "2026-07-15", MaxAttempts: 1})}
	var nk *NotKlaviyoError
	if err := k.Reachable(context.Background()); !errors.As(err, &nk) || !strings.Contains(err.Error(), "HTML page") {
		t.Errorf("Reachable: %v, want not Klaviyo", err)
	}
	if err := k.CheckKey(context.Background(), secrets.NewSecret(goodKey)); !errors.As(err, &nk) {
		t.Errorf("CheckKey: %v, want not Klaviyo", err)
	}
}

// A host that takes connections and never answers (the sandbox's black hole) ends the online
// checks within their bound, naming the host, however long each call would wait.
func TestOnlineBlackHoleIsBounded(t *testing.T) {
	keyring.MockInit()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/mock-bus")
	fx := sandbox.DemoFixture()
	fx.Faults.Liar = sandbox.LiarBlackHole
	ts := httptest.NewServer(sandbox.New(fx, sandbox.Options{}))
	defer ts.Close()
	k := NewClientKlaviyo(klaviyo.Options{APIURL: ts.URL, HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	start := time.Now()
	checks := Run(context.Background(), Env{Config: defaults(t), Store: secrets.New(secrets.Options{}),
		Getenv:  func(k string) string { return map[string]string{"KLAVIYO_KEY_ADMIN": goodKey}[k] },
		Klaviyo: k, APIURL: ts.URL, OnlineTimeout: 500 * time.Millisecond})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the online checks took %s, bound 500ms", took)
	}
	if c := byName(checks)["klaviyo"]; c.OK || c.Detail != ts.URL+" did not answer within 500ms" || !strings.Contains(c.Fix, "never answers") {
		t.Errorf("klaviyo: %+v", c)
	}
}
