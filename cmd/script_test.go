package cmd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
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
