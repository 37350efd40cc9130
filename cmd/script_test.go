package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/spf13/pflag"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/oauthflow"
	"github.com/klrbac/klrbac/internal/pgtest"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/sandbox"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/ui"
)

// Variables through which the scripts' harness configures the klrbac processes it starts. klrbac
// itself never reads them: only the test binary's entry point below does.
const (
	// testKeyringEnv names the file the test binary's fake keyring lives in.
	testKeyringEnv = "KLRBAC_TEST_KEYRING_FILE"
	// testKeyringFaultEnv makes the fake keyring fail the way a real one does (see fakeFaults).
	testKeyringFaultEnv = "KLRBAC_TEST_KEYRING_FAULT"
	// testNoPacingEnv turns the Klaviyo client's pacing off, for scripts that are not about it and
	// run against a sandbox started with --no-rate-limits.
	testNoPacingEnv = "KLRBAC_TEST_NO_PACING"
	// testPacingMarginEnv widens the margin the pacer leaves per rate window for the delay between
	// sending a call and its arrival: for scripts about pacing, which run beside many others, under
	// the race detector, on a machine of two CPUs, where that delay outgrows the 50 ms that covers a
	// network's jitter. What they test is the pacing, not how busy the machine is.
	testPacingMarginEnv = "KLRBAC_TEST_PACING_MARGIN"
	// testNoWaitEnv makes the Klaviyo client retry at once instead of waiting, for scripts about
	// what a retry decides (faults, a Klaviyo that does not answer), not about how long it waits.
	testNoWaitEnv = "KLRBAC_TEST_NO_WAIT"
	// testDefaultRedirectEnv replaces the default redirect URI (port 8765) with one on a free port,
	// in klrbac and in the demo client of the scripts' sandbox, so that scripts and test runs side by
	// side never contend for port 8765.
	testDefaultRedirectEnv = "KLRBAC_TEST_DEFAULT_REDIRECT_URI"
	// testCaptureEnv names a directory where every klrbac run appends its stdout and stderr, for
	// the canary scan.
	testCaptureEnv = "KLRBAC_TEST_CAPTURE"
)

// TestMain lets testscript run klrbac in-process as the "klrbac" command of the scripts.
func TestMain(m *testing.M) {
	// pgtest.Wrap stops the PostgreSQL cluster the team audit trail's tests may have started.
	testscript.Main(pgtest.Wrap(testRun{m}), map[string]func(){
		"klrbac": func() {
			os.Exit(testKlrbac(func(streams *ui.IO) int { return Run(context.Background(), os.Args[1:], streams) }))
		},
		// leak is a deliberately broken program, for proving that the canary scan catches leaks.
		"leak": func() { os.Exit(testKlrbac(runLeak)) },
		// saveurl is the scripts' $BROWSER: it writes the URL it is asked to open to a file.
		"saveurl": func() { os.Exit(runSaveURL()) },
		// pasteback is the person at the terminal of an `oauth login --manual`.
		"pasteback": func() { os.Exit(runPasteBack()) },
	})
}

// testRun runs the tests, more of them at once than go test's default of one per CPU unless
// -parallel says how many: the scripts spend most of their time waiting, on the klrbac processes they
// start, on sandboxes and on time itself (pacing, timeouts, a real browser), and with one script per
// CPU a script that waits holds a CPU's turn that the others could use. Afterwards it removes the
// klrbac that klrbacBinary may have built.
type testRun struct{ m *testing.M }

func (r testRun) Run() int {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", strconv.Itoa(max(8, 4*runtime.GOMAXPROCS(0)))); err != nil {
			panic(err)
		}
	}
	defer builtKlrbac.remove()
	return r.m.Run()
}

// testKlrbac is klrbac as the scripts run it: with the fake keyring in place of the OS keyring, and
// its output copied to the capture directory.
func testKlrbac(run func(*ui.IO) int) int {
	if path := os.Getenv(testKeyringEnv); path != "" {
		fake := &fileKeyring{path: path, fault: os.Getenv(testKeyringFaultEnv)}
		keyringBackend = fake
	}
	if os.Getenv(testNoPacingEnv) != "" {
		newPacer = func() *klaviyo.Pacer { return nil }
	}
	if d, err := time.ParseDuration(os.Getenv(testPacingMarginEnv)); err == nil {
		newPacer = func() *klaviyo.Pacer { return klaviyo.NewPacer(klaviyo.PacerOptions{Margin: d}) }
	}
	if u := os.Getenv(testDefaultRedirectEnv); u != "" {
		defaultRedirectURI = u
	}
	if os.Getenv(testNoWaitEnv) != "" {
		clientSleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	}
	streams := ui.System()
	if dir := os.Getenv(testCaptureEnv); dir != "" {
		stdout := "stdout"
		switch {
		case len(os.Args) >= 3 && os.Args[1] == "oauth" && os.Args[2] == "token":
			stdout = tokenCapture
		case len(os.Args) >= 2 && os.Args[1] == "sandbox":
			stdout = sandboxCapture
		}
		for _, s := range []struct {
			w    *io.Writer
			name string
		}{{&streams.Out, stdout}, {&streams.Err, "stderr"}} {
			f, err := os.OpenFile(filepath.Join(dir, s.name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				panic(err)
			}
			defer f.Close()
			*s.w = io.MultiWriter(*s.w, f)
		}
	}
	return run(streams)
}

// TestScripts runs the command-line tests in testdata/script: each reads like a terminal session,
// with the exact output and exit status expected.
func TestScripts(t *testing.T) {
	// A parallel test, so that the other parallel tests (those that start klrbac processes of
	// their own) run beside the scripts rather than after the last of them.
	t.Parallel()
	testscript.Run(t, scriptParams(t, filepath.Join("testdata", "script")))
}

func scriptParams(t *testing.T, dir string) testscript.Params {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return testscript.Params{
		Dir:                 filepath.Join(root, dir),
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":       cmdExits,
			"keyring":     cmdKeyring,
			"fakeklaviyo": cmdFakeKlaviyo,
			"secretfile":  cmdSecretFile,
			"perm":        cmdPerm,
			// audit log damage, for audit verify
			"editline":  cmdEditLine,
			"dropline":  cmdDropLine,
			"swaplines": cmdSwapLines,
			"cutbytes":  cmdCutBytes,
			"sandbox":   cmdSandbox,
			"fetch":     cmdFetch,
			"waitfile":  cmdWaitFile,
			"loadenv":   cmdLoadEnv,
			// OAuth: a browser standing in for a person, a real one, and the tokens' use
			"browse":       cmdBrowse,
			"chromium":     cmdChromium,
			"callapi":      cmdCallAPI,
			"tokenset":     cmdTokenSet,
			"sandboxcount": cmdSandboxCount,
			"freeport":     cmdFreePort,
			"expandenv":    cmdExpandEnv,
			// -o json views against their documented schemas
			"jsonschema": cmdJSONSchema,
		},
		Condition: scriptCondition,
		Setup: func(env *testscript.Env) error {
			// A clean slate: no config, keyring or audit state from the machine running the tests.
			// (testscript passes none of the machine's variables on; blanking one sets it, empty,
			// which klrbac reports as such, so the role key variables are left unset.)
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Setenv("XDG_CONFIG_HOME", env.WorkDir+"/home/.config")
			env.Setenv("XDG_STATE_HOME", env.WorkDir+"/home/.local/state")
			env.Setenv("NO_COLOR", "")
			env.Setenv("REPO", root)
			for _, v := range []string{"KLRBAC_CONFIG", "KLRBAC_API_URL", "KLRBAC_AUTH_URL", "KLRBAC_REVISION", "KLRBAC_AUDIT_LOG",
				"KLRBAC_AUDIT_CHECKS", "KLRBAC_PROXY_TOKENS", "KLRBAC_KEYRING", "KLRBAC_KEYRING_TIMEOUT", testKeyringFaultEnv, secrets.ClientSecretEnv,
				"KLAVIYO_OAUTH_CLIENT_ID", "KLRBAC_SANDBOX_PID", "BROWSER",
				"KLRBAC_CALIBRATION_FILE", testNoPacingEnv, testNoWaitEnv, testDefaultRedirectEnv} {
				env.Setenv(v, "")
			}
			// Who acts, for the audit trail: the same user everywhere, never the CI's.
			env.Setenv("USER", "tester")
			env.Setenv("LOGNAME", "tester")
			env.Setenv("KLRBAC_ACTOR", "")
			for _, ci := range audit.CIIdentities {
				env.Setenv(ci.Env, "")
			}
			// klrbac runs as the race-enabled test binary, which otherwise sleeps a second on exit.
			env.Setenv("GORACE", "atexit_sleep_ms=0 "+os.Getenv("GORACE"))
			if err := os.MkdirAll(env.WorkDir+"/home", 0o700); err != nil {
				return err
			}
			env.Values[sandboxKey{}] = &scriptSandbox{}
			env.Values[chromiumKey{}] = new(context.Context)
			env.Values[schemaSeenKey{}] = schemaSeen{}
			return setupCanaries(env)
		},
	}
}

// cmdExits runs a program like exec and checks its exact exit status, which exec's "!" cannot:
//
//	exits 2 klrbac check viewr canReadProfiles
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: %q is not an exit status", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

// cmdPerm checks a file's permission bits:
//
//	perm home/.local/state/klrbac/audit.log 0600
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	if err != nil {
		ts.Fatalf("perm: %q is not an octal mode", args[1])
	}
	st, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := uint64(st.Mode().Perm()); (got == want) == neg {
		ts.Fatalf("%s has mode %#o, want %s%#o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// cmdSandbox starts an in-process sandbox on loopback for the rest of the script and points klrbac
// at it: KLRBAC_API_URL, KLRBAC_AUTH_URL, KLAVIYO_KEY_<ROLE> for each key named after a role of the
// default policy, KLAVIYO_OAUTH_CLIENT_ID and _SECRET; SANDBOX_ADDR is its host:port. It takes klrbac sandbox's fixture and fault
// flags, and stops when the script ends:
//
//	sandbox
//	sandbox --fixture fixture.yaml --fault-unavailable 0.5
func cmdSandbox(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: sandbox [--fixture FILE] [fault flags]")
	}
	fs := pflag.NewFlagSet("sandbox", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fixture := fs.String("fixture", "", "fixture file")
	var faults faultFlags
	faults.register(fs)
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		ts.Fatalf("sandbox: %v; usage: sandbox [--fixture FILE] [fault flags]", err)
	}
	path := ""
	if *fixture != "" {
		path = ts.MkAbs(*fixture)
	}
	fx, err := sandbox.LoadFixture(path)
	ts.Check(err)
	ts.Check(faults.overrides().Apply(fx))
	if u := ts.Getenv(testDefaultRedirectEnv); u != "" {
		redirectDefaultPort(fx, u)
	}
	issued, _ := ts.Value(issuedKey{}).(*issuedSecrets)
	if issued != nil && path != "" {
		issued.input(path)
	}
	if issued != nil {
		// The fixture's keys and client secrets are credentials too: klrbac must show them only
		// masked, so the script's canary scan looks for them as it does for the canaries.
		for _, acct := range fx.Accounts {
			for _, k := range acct.Keys {
				issued.add("fixture key", k.Secret)
			}
			for _, c := range acct.OAuthClients {
				issued.add("fixture client secret", c.ClientSecret)
			}
		}
	}
	srv := sandbox.New(fx, sandbox.Options{Issued: func(kind, v string) {
		if issued != nil {
			issued.add(kind, v)
		}
	}})
	ts.Check(srv.Start("127.0.0.1:0"))
	setScriptSandbox(ts, srv)
	ts.Defer(func() { _ = srv.Close() })
	// A second sandbox in a script replaces the first: none of its keys may linger.
	pol := policy.Default()
	for _, name := range pol.RoleNames() {
		r, _ := pol.Role(name)
		ts.Setenv(r.EnvVar(), "")
	}
	ts.Setenv("KLAVIYO_OAUTH_CLIENT_ID", "")
	ts.Setenv("KLAVIYO_OAUTH_CLIENT_SECRET", "")
	for _, e := range sandbox.Env(srv.URL(), fx, pol, 0) {
		ts.Setenv(e.Name, e.Value)
	}
	ts.Setenv("SANDBOX_ADDR", strings.TrimPrefix(srv.URL(), "http://"))
}

// redirectDefaultPort moves the redirect URIs a fixture registers on the default redirect URI's
// port (the demo client's 127.0.0.1 and localhost ones) to the port of uri, as klrbac under
// testDefaultRedirectEnv uses it.
func redirectDefaultPort(fx *sandbox.Fixture, uri string) {
	def, _ := url.Parse(oauthflow.DefaultRedirectURI)
	to, err := url.Parse(uri)
	if err != nil {
		panic(err)
	}
	for i := range fx.Accounts {
		for j := range fx.Accounts[i].OAuthClients {
			c := &fx.Accounts[i].OAuthClients[j]
			for k, r := range c.RedirectURIs {
				if u, err := url.Parse(r); err == nil && u.Port() == def.Port() {
					u.Host = net.JoinHostPort(u.Hostname(), to.Port())
					c.RedirectURIs[k] = u.String()
				}
			}
		}
	}
}

// cmdFetch makes one HTTP request and prints the status line and the body to stdout, for scripts
// that check what a sandbox answers. Headers are NAME=VALUE arguments after the URL:
//
//	fetch GET $KLRBAC_API_URL/api/accounts Authorization='Klaviyo-API-Key '$KLAVIYO_KEY_ADMIN revision=2026-07-15
func cmdFetch(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: fetch METHOD URL [HEADER=VALUE...]")
	}
	req, err := http.NewRequestWithContext(context.Background(), args[0], args[1], nil)
	ts.Check(err)
	for _, h := range args[2:] {
		k, v, ok := strings.Cut(h, "=")
		if !ok {
			ts.Fatalf("fetch: header %q is not NAME=VALUE", h)
		}
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		if !neg {
			ts.Fatalf("fetch: %v", err)
		}
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%d\n%s\n", resp.StatusCode, body)
	if neg {
		ts.Fatalf("fetch: got an answer (%d), want none", resp.StatusCode)
	}
}

// cmdWaitFile waits up to ten seconds for a file to exist, the readiness signal of a background
// `klrbac sandbox --env-file`:
//
//	waitfile sandbox.env
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfile: %s did not appear within 10s", args[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cmdLoadEnv sets the variables of a file of shell exports, as `. FILE` would:
//
//	loadenv sandbox.env
func cmdLoadEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: loadenv FILE")
	}
	for _, line := range strings.Split(ts.ReadFile(args[0]), "\n") {
		name, value, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "export "), "=")
		if !ok {
			continue
		}
		if unq, err := unquoteShell(value); err == nil {
			value = unq
		} else {
			ts.Fatalf("loadenv: %s: %v", name, err)
		}
		ts.Setenv(name, value)
	}
}

// unquoteShell undoes the quoting of sandbox.WriteEnv.
func unquoteShell(s string) (string, error) {
	if !strings.HasPrefix(s, "'") {
		return s, nil
	}
	if !strings.HasSuffix(s, "'") || len(s) < 2 {
		return "", errors.New("unterminated quote")
	}
	return strings.ReplaceAll(s[1:len(s)-1], `'\''`, "'"), nil
}
