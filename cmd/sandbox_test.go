package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/sandbox"
	"github.com/klrbac/klrbac/internal/ui"
)

// Ctrl-C and SIGTERM stop the sandbox gracefully, and like every interrupted klrbac command it
// then exits 130.
func TestSandboxInterruptedExits130(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	io := &ui.IO{In: strings.NewReader(""), Out: &out, Err: &errOut}
	envFile := filepath.Join(t.TempDir(), "sandbox.env")
	err := runSandbox(ctx, io, policy.Default(), sandbox.DemoFixture(), sandboxOptions{addr: "127.0.0.1:0", envFile: envFile})
	if code := exitCode(err); code != exitInterrupted {
		t.Errorf("interrupted sandbox: %v, exit %d, want %d", err, code, exitInterrupted)
	}
	if !strings.HasSuffix(errOut.String(), "sandbox: stopped\n") {
		t.Errorf("no clean shutdown before exiting:\n%s", errOut.String())
	}
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Errorf("env file left after the interrupt: %v", err)
	}
}
