package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/mask"
)

// nodeSDKDir holds Klaviyo's official Node SDK, pinned by package.json and package-lock.json, and
// the script that drives it. `npm ci` installs the SDK there (.ci/run does); node_modules is not
// committed.
var nodeSDKDir = filepath.Join("..", "..", "testdata", "sdk", "node")

// nodeSDKHint says how to get what the Node SDK test needs.
const nodeSDKHint = "install Node.js 18 or later and npm (apt-get install nodejs npm), then run " +
	"`npm ci --no-audit --no-fund` in testdata/sdk/node"

// nodeSDKProblem says why the Node SDK test cannot run here, or "" when it can: node must be on
// PATH, at least version 18, and the SDK installed as pinned.
func nodeSDKProblem(dir string) string {
	node, err := exec.LookPath("node")
	if err != nil {
		return "node is not installed"
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return fmt.Sprintf("node --version failed: %v", err)
	}
	version := strings.TrimSpace(string(out))
	major, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < 18 {
		return fmt.Sprintf("node %s is older than the SDK's minimum, 18", version)
	}
	return sdkInstallProblem(dir)
}

// sdkInstallProblem says what is wrong with the SDK installed in dir, or "": node_modules must
// hold the klaviyo-api version the lock pins, since a stale install would test another SDK than
// the one the docs name.
func sdkInstallProblem(dir string) string {
	pinned, err := lockedVersion(filepath.Join(dir, "package-lock.json"), "klaviyo-api")
	if err != nil {
		return err.Error()
	}
	installed, err := packageVersion(filepath.Join(dir, "node_modules", "klaviyo-api", "package.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, err := exec.LookPath("npm"); err != nil {
			return "klaviyo-api is not installed in testdata/sdk/node, and npm, which installs it, is missing"
		}
		return "klaviyo-api is not installed in testdata/sdk/node"
	case err != nil:
		return err.Error()
	case installed != pinned:
		return fmt.Sprintf("testdata/sdk/node has klaviyo-api %s installed, but package-lock.json pins %s", installed, pinned)
	}
	return ""
}

// needNodeSDK skips when the Node SDK cannot run here, except under CI=true, where .ci/run
// installs it and its absence is a failure.
func needNodeSDK(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(nodeSDKDir)
	if err != nil {
		t.Fatal(err)
	}
	if problem := nodeSDKProblem(dir); problem != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Klaviyo's Node SDK is required under CI=true (.ci/run installs it): %s", problem)
		}
		t.Skipf("skipping: Klaviyo's Node SDK cannot run here: %s; %s", problem, nodeSDKHint)
	}
	return dir
}

// lockedVersion returns the version of a dependency that an npm lockfile (version 2 or 3) pins.
func lockedVersion(lockFile, name string) (string, error) {
	b, err := os.ReadFile(lockFile)
	if err != nil {
		return "", err
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return "", fmt.Errorf("%s: %v", lockFile, err)
	}
	v := lock.Packages["node_modules/"+name].Version
	if v == "" {
		return "", fmt.Errorf("%s pins no %s", lockFile, name)
	}
	return v, nil
}

func packageVersion(packageJSON string) (string, error) {
	b, err := os.ReadFile(packageJSON)
	if err != nil {
		return "", err
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", fmt.Errorf("%s: %v", packageJSON, err)
	}
	return pkg.Version, nil
}

func TestSDKInstallProblemNamesWhatIsMissing(t *testing.T) {
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	write(filepath.Join(dir, "package-lock.json"),
		`{"lockfileVersion":3,"packages":{"":{},"node_modules/klaviyo-api":{"version":"23.0.0"}}}`)
	if p := sdkInstallProblem(dir); !strings.Contains(p, "klaviyo-api is not installed") {
		t.Errorf("no node_modules: %q", p)
	}
	write(filepath.Join(dir, "node_modules", "klaviyo-api", "package.json"), `{"version":"22.0.1"}`)
	if p := sdkInstallProblem(dir); !strings.Contains(p, "22.0.1 installed, but package-lock.json pins 23.0.0") {
		t.Errorf("a stale install: %q", p)
	}
	write(filepath.Join(dir, "node_modules", "klaviyo-api", "package.json"), `{"version":"23.0.0"}`)
	if p := sdkInstallProblem(dir); p != "" {
		t.Errorf("the pinned version installed: %q", p)
	}
}

// sdkProfileEmail is the email through-proxy.js's createProfile sends.
const sdkProfileEmail = "sdk-through-proxy@example.com"

// sdkCall is one SDK call the script makes, and sdkOutcome what it saw.
type sdkCall struct {
	Name    string `json:"name"`
	Session string `json:"session"` // api-key (ApiKeySession) or bearer (OAuthBasicSession)
	Token   string `json:"token"`
	Call    string `json:"call"`
}

type sdkOutcome struct {
	Name    string     `json:"name"`
	Status  int        `json:"status"`
	Body    sdkBody    `json:"body"` // the SDK's deserialized body, for an answer it took as success
	Errors  []apiError `json:"errors"`
	Error   string     `json:"errorName"` // the class of what the SDK threw
	Failure string     `json:"failure"`   // an error without an HTTP answer
}

// sdkBody is what the test reads of a JSON:API document: data is a list or one resource.
type sdkBody struct {
	Data  json.RawMessage `json:"data"`
	Links struct {
		Self string `json:"self"`
	} `json:"links"`
}

// sdkProfile is a profile as the SDK deserializes it.
type sdkProfile struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Attributes struct {
		Email string `json:"email"`
	} `json:"attributes"`
	Links struct {
		Self string `json:"self"`
	} `json:"links"`
}

// TestNodeSDKThroughTheProxy runs Klaviyo's official Node SDK, unchanged but for its base path
// and its key, against the proxy in front of the sandbox: allowed calls return the sandbox's
// answers, a refusal reaches the application as the SDK's error with the proxy's JSON:API
// document, and the proxy decides exactly as for any other client. It is the claim the docs make
// to SDK users, tested on the SDK itself rather than on requests shaped like its own.
func TestNodeSDKThroughTheProxy(t *testing.T) {
	dir := needNodeSDK(t)
	r := newRig(t, "")
	alice, _ := r.token("alice", time.Hour) // viewer
	sam, _ := r.token("sam", time.Hour)     // service: profiles:write
	revoked, rec := r.token("alice", time.Hour)
	if _, err := r.file.Revoke(t.Context(), rec.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.tokens.refresh(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	unknown, _, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	secrets := append(append([]string{unknown}, r.secrets...), mapValues(roleKeys)...)

	// What the sandbox itself answers, asked directly with the viewer's key: the SDK must read
	// the same list through the proxy. The sandbox stores no profiles, so the list is told apart
	// by its self link, which names the sandbox's own address, never the proxy's.
	profiles := sandboxList(t, r, "/api/profiles", viewerKey)
	r.forwarded() // the direct call above is not the SDK's

	calls := []sdkCall{
		{"allowed", "api-key", alice, "getProfiles"},
		{"allowed with Bearer", "bearer", alice, "getProfiles"},
		{"allowed write", "api-key", sam, "createProfile"},
		{"denied", "api-key", alice, "createProfile"},
		{"denied by include", "api-key", alice, "getProfilesWithPushTokens"},
		{"unknown token", "api-key", unknown, "getProfiles"},
		{"revoked token", "api-key", revoked, "getProfiles"},
	}
	before := len(r.entries())
	started := time.Now()
	got, output := runNodeSDK(t, dir, r.front.URL, calls, secrets)
	t.Logf("the SDK's %d calls took %s, node's start included", len(calls), time.Since(started).Round(time.Millisecond))
	if len(got) != len(calls) {
		t.Fatalf("the script reported %d calls, want %d:\n%s", len(got), len(calls), output)
	}
	for i, c := range calls {
		if got[i].Name != c.Name || got[i].Failure != "" {
			t.Fatalf("call %q: %+v (not an HTTP answer)\n%s", c.Name, got[i], output)
		}
	}

	for _, o := range got[:2] {
		if o.Status != 200 || o.Errors != nil || string(o.Body.Data) != "[]" || o.Body.Links.Self != profiles.Links.Self {
			t.Errorf("%s: status %d, errors %+v, body %s %+v; the sandbox answers 200, %s %+v",
				o.Name, o.Status, o.Errors, o.Body.Data, o.Body.Links, profiles.Data, profiles.Links)
		}
	}
	// The write went through with its body, and the SDK read the resource the sandbox made of it:
	// an id of the sandbox's, the email sent, and a self link at the sandbox's address.
	var made sdkProfile
	if w := got[2]; w.Status != 201 || w.Errors != nil || json.Unmarshal(w.Body.Data, &made) != nil {
		t.Errorf("%s: status %d, errors %+v, data %s; want 201 and a profile", w.Name, w.Status, w.Errors, w.Body.Data)
	} else if made.Type != "profile" || !strings.HasPrefix(made.ID, "sandbox") || made.Attributes.Email != sdkProfileEmail ||
		made.Links.Self != r.upstream.URL+"/api/profiles/"+made.ID+"/" {
		t.Errorf("%s: the SDK read %+v, not the sandbox's profile made of the call's body", w.Name, made)
	}

	refusals := []struct {
		status       int
		code, detail string
	}{
		{403, "permission_denied", "Role 'viewer' does not have permission: profiles:write (granted by canWriteProfiles)"},
		{403, "permission_denied", "Role 'viewer' does not have permission: push-tokens:read"},
		{401, "not_authenticated", "The proxy token is not known."},
		{401, "not_authenticated", "The proxy token " + rec.ID + " is revoked."},
	}
	for i, want := range refusals {
		o := got[3+i]
		if o.Error != "AxiosError" || o.Status != want.status || len(o.Errors) != 1 {
			t.Errorf("%s: the SDK threw %q with status %d and %d JSON:API errors, want an AxiosError with %d and 1",
				o.Name, o.Error, o.Status, len(o.Errors), want.status)
			continue
		}
		e := o.Errors[0]
		if e.Status != want.status || e.Code != want.code || e.Detail != want.detail || e.ID == "" || e.Title == "" {
			t.Errorf("%s: the SDK's error holds %+v, want status %d, code %s, detail %q", o.Name, e, want.status, want.code, want.detail)
		}
	}

	// Only the allowed calls reached Klaviyo, each with its role's key instead of the token, and
	// with the SDK's own revision and User-Agent: nothing about the SDK was changed but its base
	// path and key.
	fw := r.forwarded()
	wantFw := []struct{ method, key string }{{"GET", viewerKey}, {"GET", viewerKey}, {"POST", serviceKey}}
	if len(fw) != len(wantFw) {
		t.Fatalf("%d of the SDK's requests reached Klaviyo, want the %d allowed", len(fw), len(wantFw))
	}
	for i, up := range fw {
		if up.Method != wantFw[i].method || up.URL.Path != "/api/profiles" {
			t.Errorf("%s %s reached Klaviyo, want %s /api/profiles", up.Method, up.URL.Path, wantFw[i].method)
		}
		if auth := up.Header.Get("Authorization"); auth != "Klaviyo-API-Key "+wantFw[i].key {
			t.Errorf("Klaviyo saw Authorization %q, want %s", mask.Secret(auth), mask.Secret(wantFw[i].key))
		}
		if ua := up.Header.Get("User-Agent"); !strings.HasPrefix(ua, "klaviyo-api-node/") {
			t.Errorf("Klaviyo saw User-Agent %q, want the SDK's", ua)
		}
		if up.Header.Get("Revision") == "" {
			t.Error("the SDK's revision header did not reach Klaviyo")
		}
	}

	es := r.entries()[before:]
	if len(es) != len(calls) {
		t.Fatalf("%d audit entries for the SDK's %d calls", len(es), len(calls))
	}
	for i, want := range []struct {
		user    string
		success bool
	}{{"alice", true}, {"alice", true}, {"sam", true}, {"alice", false}, {"alice", false}, {"anonymous", false}, {"alice", false}} {
		if es[i].UserID != want.user || es[i].Success != want.success {
			t.Errorf("%s: audit entry for %s, success %v; want %s, %v", calls[i].Name, es[i].UserID, es[i].Success, want.user, want.success)
		}
	}
}

// sandboxList asks the sandbox itself, with a role key, for a list document.
func sandboxList(t *testing.T, r *rig, path, key string) sdkBody {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", r.upstream.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Klaviyo-API-Key "+key)
	req.Header.Set("revision", revision)
	req.Header.Set("Accept", "application/vnd.api+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the sandbox answered GET %s with %d", path, resp.StatusCode)
	}
	var doc sdkBody
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Links.Self == "" {
		t.Fatalf("the sandbox's answer to GET %s has no self link", path)
	}
	return doc
}

// runNodeSDK runs the SDK script with calls as its plan, on stdin since it holds tokens, and
// returns each call's outcome and everything the script printed, with every secret masked. No
// secret may reach its output: the SDK's errors carry the caller's Authorization header, and the
// script must keep them to itself.
func runNodeSDK(t *testing.T, dir, base string, calls []sdkCall, secrets []string) ([]sdkOutcome, string) {
	t.Helper()
	plan, err := json.Marshal(map[string]any{"basePath": base, "calls": calls})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "through-proxy.js")
	cmd.Dir = dir
	// PATH alone: the SDK's HTTP client follows HTTP_PROXY and friends, which would send the calls
	// for 127.0.0.1 elsewhere, and NODE_OPTIONS could load code of the machine's into the run.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stdin = bytes.NewReader(plan)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	all := stdout.String() + stderr.String()
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("the script's output holds a secret (fingerprint %s)", mask.Fingerprint(s))
		}
	}
	shown := all
	for _, s := range secrets {
		shown = strings.ReplaceAll(shown, s, mask.Secret(s))
	}
	if runErr != nil {
		t.Fatalf("node through-proxy.js: %v\n%s", runErr, shown)
	}
	var out []sdkOutcome
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var o sdkOutcome
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("the script printed a line that is no outcome (%v):\n%s", err, shown)
		}
		out = append(out, o)
	}
	return out, shown
}

// TestProxyDocsNameThePinnedNodeSDK keeps the docs' claim about which SDK version is tested true
// when the lock moves to another.
func TestProxyDocsNameThePinnedNodeSDK(t *testing.T) {
	pinned, err := lockedVersion(filepath.Join(nodeSDKDir, "package-lock.json"), "klaviyo-api")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile(filepath.Join("..", "..", "docs", "proxy.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Words, not lines: the version may sit at a line break.
	text := " " + strings.Join(strings.Fields(string(docs)), " ") + " "
	if want := " `klaviyo-api` " + pinned + " "; !strings.Contains(text, want) {
		t.Errorf("docs/proxy.md does not say that the tested SDK is%s, the version package-lock.json pins", strings.TrimRight(want, " "))
	}
}
