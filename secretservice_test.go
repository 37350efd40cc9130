package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	dbus "github.com/godbus/dbus/v5"
	"github.com/zalando/go-keyring"
)

// The tests below drive the klrbac binary against a real Secret Service: the one on the session bus
// (make test under dbus-run-session with gnome-keyring, as .ci/run does, or a desktop session). They
// touch only items of roles made up for the run, so a desktop keyring's own klrbac keys are safe.

// needSecretService skips the test, with the reason, when no Secret Service is on the session bus;
// in CI (CI=true) it fails instead, since CI is where it must run.
func needSecretService(t *testing.T) {
	t.Helper()
	if reason := secretServiceMissing(); reason != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no Secret Service to test against: %s (.ci/run starts gnome-keyring-daemon inside dbus-run-session)", reason)
		}
		t.Skipf("no Secret Service to test against: %s (run under dbus-run-session with gnome-keyring-daemon unlocked, as .ci/run does)", reason)
	}
}

func secretServiceMissing() string {
	if runtime.GOOS != "linux" {
		return "the Secret Service tests run on Linux"
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		return "DBUS_SESSION_BUS_ADDRESS is not set"
	}
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return "cannot connect to the session bus: " + err.Error()
	}
	defer conn.Close()
	var owned bool
	if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.freedesktop.secrets").Store(&owned); err != nil {
		return "cannot ask the session bus: " + err.Error()
	}
	if !owned {
		return "nothing owns org.freedesktop.secrets on the session bus"
	}
	return ""
}

var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// TestMain removes the binary buildKlrbac built.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildKlrbac builds the binary under test, once for all the tests.
func buildKlrbac(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "klrbac-itest-")
		if built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "klrbac")
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if out, err := exec.Command(goTool, "build", "-o", built.bin, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

type run struct {
	code           int
	stdout, stderr string
}

// klrbacRunner runs the binary with a scratch home and config, and extra variables.
type klrbacRunner struct {
	t    *testing.T
	bin  string
	base []string
}

func (k *klrbacRunner) run(stdin string, extraEnv []string, args ...string) run {
	k.t.Helper()
	return k.runVia(k.bin, extraEnv, stdin, args...)
}

// runVia runs program (klrbac, or a wrapper that runs it) with the runner's environment.
func (k *klrbacRunner) runVia(program string, extraEnv []string, stdin string, args ...string) run {
	k.t.Helper()
	cmd := exec.Command(program, args...)
	cmd.Env = append(append([]string{}, k.base...), extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := run{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		k.t.Fatalf("%s %s: %v", program, strings.Join(args, " "), err)
	}
	return r
}

func (k *klrbacRunner) expect(r run, code int, stderrHas string) {
	k.t.Helper()
	if r.code != code || !strings.Contains(r.stderr, stderrHas) {
		k.t.Fatalf("exit %d, stderr %q; want exit %d and %q (stdout %q)", r.code, r.stderr, code, stderrHas, r.stdout)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newRunner prepares a scratch home and a policy whose two roles exist only for this run.
func newRunner(t *testing.T, bin string) (k *klrbacRunner, roleA, roleB string) {
	tag := randomHex(4)
	roleA, roleB = "itest-"+tag+"-a", "itest-"+tag+"-b"
	home := t.TempDir()
	cfg := filepath.Join(home, "klrbac.yaml")
	policy := fmt.Sprintf("roles:\n  %s:\n    permissions: [canReadProfiles]\n  %s:\n    permissions: [canViewReports]\n", roleA, roleB)
	if err := os.WriteFile(cfg, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KLRBAC_") && !strings.HasPrefix(kv, "KLAVIYO_") && !strings.HasPrefix(kv, "HOME=") {
			base = append(base, kv)
		}
	}
	base = append(base, "HOME="+home, "KLRBAC_CONFIG="+cfg, "KLRBAC_AUDIT_LOG="+filepath.Join(home, "audit.log"),
		"KLRBAC_KEYRING_TIMEOUT=20s")
	return &klrbacRunner{t: t, bin: bin, base: base}, roleA, roleB
}

type listedKey struct {
	Role, Source, Key, Fingerprint string
}

func listKeys(t *testing.T, k *klrbacRunner, env ...string) map[string]listedKey {
	t.Helper()
	r := k.run("", env, "keys", "list", "-o", "json")
	k.expect(r, 0, "")
	var keys []listedKey
	if err := json.Unmarshal([]byte(r.stdout), &keys); err != nil {
		t.Fatalf("keys list -o json: %v\n%s", err, r.stdout)
	}
	out := map[string]listedKey{}
	for _, key := range keys {
		out[key.Role] = key
	}
	return out
}

func TestSecretServiceKeysLifecycle(t *testing.T) {
	needSecretService(t)
	k, roleA, roleB := newRunner(t, buildKlrbac(t))
	first := "pk_" + randomHex(17)
	second := "pk_" + randomHex(17)
	itemA := "role:" + roleA
	t.Cleanup(func() {
		_ = keyring.Delete("klrbac", itemA)
		_ = keyring.Delete("klrbac", "role:"+roleB)
	})

	// Nothing stored yet.
	keys := listKeys(t, k)
	if keys[roleA].Source != "none" || keys[roleB].Source != "none" {
		t.Fatalf("before: %+v", keys)
	}

	// set: the key lands in the Secret Service under service klrbac, item role:<name>.
	r := k.run(first+"\n", nil, "keys", "set", roleA)
	k.expect(r, 0, "stored the key of role "+roleA+" in the keyring: pk_****"+first[len(first)-4:])
	if got, err := keyring.Get("klrbac", itemA); err != nil || got != first {
		t.Fatalf("Secret Service item %s: %v (holds the key: %v)", itemA, err, got == first)
	}

	// list and resolve: the keyring is the source until the role's variable overrides it.
	keys = listKeys(t, k)
	if a := keys[roleA]; a.Source != "keyring" || a.Key != "pk_****"+first[len(first)-4:] || len(a.Fingerprint) != 8 {
		t.Fatalf("after set: %+v", a)
	}
	envVar := "KLAVIYO_KEY_" + strings.ToUpper(strings.ReplaceAll(roleA, "-", "_"))
	keys = listKeys(t, k, envVar+"="+second)
	if a := keys[roleA]; a.Source != "env" || a.Key != "pk_****"+second[len(second)-4:] {
		t.Fatalf("with %s set: %+v", envVar, a)
	}
	r = k.run("", nil, "doctor")
	if !strings.Contains(r.stdout, "yes keyring: the OS keyring answers and is unlocked") ||
		!strings.Contains(r.stdout, "yes key "+roleA+": keyring, pk_****"+first[len(first)-4:]) {
		t.Fatalf("doctor:\n%s", r.stdout)
	}

	// overwrite: refused without --force off a terminal, done with it.
	r = k.run(second+"\n", nil, "keys", "set", roleA)
	k.expect(r, 2, "refusing to replace the key of role "+roleA)
	r = k.run(second+"\n", nil, "keys", "set", roleA, "--force")
	k.expect(r, 0, "it replaces pk_****"+first[len(first)-4:])
	if got, _ := keyring.Get("klrbac", itemA); got != second {
		t.Fatal("--force did not replace the stored key")
	}

	// remove.
	r = k.run("", nil, "keys", "rm", roleA)
	k.expect(r, 2, "refusing to remove")
	r = k.run("", nil, "keys", "rm", "--all", "--yes")
	k.expect(r, 0, "removed the key of role "+roleA)
	if _, err := keyring.Get("klrbac", itemA); !errors.Is(err, keyring.ErrNotFound) {
		t.Fatalf("after rm: %v", err)
	}
	if keys := listKeys(t, k); keys[roleA].Source != "none" {
		t.Fatalf("after rm: %+v", keys[roleA])
	}

	for _, out := range []string{first, second} {
		for _, args := range [][]string{{"keys", "list"}, {"doctor"}} {
			r := k.run("", nil, args...)
			if strings.Contains(r.stdout+r.stderr, out) {
				t.Fatalf("%v prints a key", args)
			}
		}
	}
}

// Without a reachable bus, a write fails with the class named, exit 3, and nothing is stored. This
// needs no Secret Service, so it runs everywhere; where one is running, it also checks that the
// failed write left nothing in it.
func TestSecretServiceAbsent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the D-Bus keyring is Linux's")
	}
	k, roleA, _ := newRunner(t, buildKlrbac(t))
	key := "pk_" + randomHex(17)

	r := k.run(key+"\n", []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(t.TempDir(), "no-bus")}, "keys", "set", roleA)
	k.expect(r, 3, "cannot connect to the D-Bus session bus")
	k.expect(r, 3, "hint: run klrbac in a desktop session")

	r = k.run(key+"\n", []string{"DBUS_SESSION_BUS_ADDRESS=", "XDG_RUNTIME_DIR=" + t.TempDir()}, "keys", "set", roleA)
	k.expect(r, 3, "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)")

	r = k.run("", []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"}, "keys", "list")
	k.expect(r, 3, "cannot read the keyring: cannot connect to the D-Bus session bus")

	if secretServiceMissing() != "" {
		return
	}
	if _, err := keyring.Get("klrbac", "role:"+roleA); !errors.Is(err, keyring.ErrNotFound) {
		t.Fatalf("a failed write left an item: %v", err)
	}
}

// A bus with no Secret Service on it: a private dbus-daemon that can start no services.
func TestSecretServiceNotRunning(t *testing.T) {
	daemon := needTool(t, "dbus-daemon")
	k, roleA, _ := newRunner(t, buildKlrbac(t))
	dir := t.TempDir()
	conf := filepath.Join(dir, "bus.conf")
	socket := filepath.Join(dir, "bus")
	if err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=`+socket+`</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600); err != nil {
		t.Fatal(err)
	}
	bus := exec.Command(daemon, "--config-file="+conf, "--nofork", "--nopidfile")
	if err := bus.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Process.Kill(); _ = bus.Wait() })
	waitFor(t, func() bool { _, err := os.Stat(socket); return err == nil })

	r := k.run("pk_"+randomHex(17)+"\n", []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + socket}, "keys", "set", roleA)
	k.expect(r, 3, "no Secret Service is running on the session bus")
	k.expect(r, 3, "hint: start one (gnome-keyring-daemon inside dbus-run-session")
}

// A keyring that is there but locked: a fresh gnome-keyring nobody unlocked, in a session of its
// own so that the shared keyring is not disturbed.
func TestSecretServiceLocked(t *testing.T) {
	session := needTool(t, "dbus-run-session")
	gkd := needTool(t, "gnome-keyring-daemon")
	k, roleA, _ := newRunner(t, buildKlrbac(t))
	home := t.TempDir()
	script := `"$1" --start --components=secrets >/dev/null 2>&1; shift; exec "$@"`
	r := k.runVia(session, []string{"HOME=" + home, "XDG_DATA_HOME=" + home, "XDG_RUNTIME_DIR="}, "pk_"+randomHex(17)+"\n",
		"--", "sh", "-c", script, "sh", gkd, k.bin, "keys", "set", roleA)
	k.expect(r, 3, "the keyring is locked")
	k.expect(r, 3, "hint: unlock the keyring")
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is not installed (.ci/run installs it)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for range 200 {
		if ok() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("gave up waiting")
}
