package cmd

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/config"
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
	// testCaptureEnv names a directory where every klrbac run appends its stdout and stderr, for
	// the canary scan.
	testCaptureEnv = "KLRBAC_TEST_CAPTURE"
)

// TestMain lets testscript run klrbac in-process as the "klrbac" command of the scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"klrbac": func() {
			os.Exit(testKlrbac(func(streams *ui.IO) int { return Run(context.Background(), os.Args[1:], streams) }))
		},
		// leak is a deliberately broken program, for proving that the canary scan catches leaks.
		"leak": func() { os.Exit(testKlrbac(runLeak)) },
	})
}

// testKlrbac is klrbac as the scripts run it: with the fake keyring in place of the OS keyring, and
// its output copied to the capture directory.
func testKlrbac(run func(*ui.IO) int) int {
	if path := os.Getenv(testKeyringEnv); path != "" {
		fake := &fileKeyring{path: path, fault: os.Getenv(testKeyringFaultEnv)}
		openSecrets = func(cfg *config.Config) secrets.Store { return secrets.OpenWith(cfg, fake) }
	}
	streams := ui.System()
	if dir := os.Getenv(testCaptureEnv); dir != "" {
		for _, s := range []struct {
			w    *io.Writer
			name string
		}{{&streams.Out, "stdout"}, {&streams.Err, "stderr"}} {
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
		},
		Setup: func(env *testscript.Env) error {
			// A clean slate: no config, keyring or audit state from the machine running the tests.
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Setenv("XDG_CONFIG_HOME", env.WorkDir+"/home/.config")
			env.Setenv("XDG_STATE_HOME", env.WorkDir+"/home/.local/state")
			env.Setenv("NO_COLOR", "")
			env.Setenv("REPO", root)
			for _, v := range []string{"KLRBAC_CONFIG", "KLRBAC_API_URL", "KLRBAC_AUTH_URL", "KLRBAC_REVISION", "KLRBAC_AUDIT_LOG",
				"KLRBAC_AUDIT_CHECKS", "KLRBAC_KEYRING", "KLRBAC_KEYRING_TIMEOUT", testKeyringFaultEnv, secrets.ClientSecretEnv,
				"KLAVIYO_KEY_ADMIN", "KLAVIYO_KEY_MARKETER", "KLAVIYO_KEY_DEVELOPER", "KLAVIYO_KEY_VIEWER", "KLAVIYO_KEY_SERVICE"} {
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
