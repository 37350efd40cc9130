package cmd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/klrbac/klrbac/internal/audit"
)

// TestMain lets testscript run klrbac in-process as the "klrbac" command of the scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"klrbac": func() { os.Exit(Execute()) },
	})
}

// TestScripts runs the command-line tests in testdata/script: each reads like a terminal session,
// with the exact output and exit status expected.
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams(t))
}

func scriptParams(t *testing.T) testscript.Params {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return testscript.Params{
		Dir:                 filepath.Join(root, "testdata", "script"),
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": cmdExits,
			"perm":  cmdPerm,
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
			for _, v := range []string{"KLRBAC_CONFIG", "KLRBAC_API_URL", "KLRBAC_AUTH_URL", "KLRBAC_REVISION", "KLRBAC_AUDIT_LOG", "KLRBAC_AUDIT_CHECKS", "KLRBAC_KEYRING", "KLRBAC_KEYRING_TIMEOUT"} {
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
			return os.MkdirAll(env.WorkDir+"/home", 0o700)
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
