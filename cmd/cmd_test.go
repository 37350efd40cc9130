package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/ui"
)

// completions/ must be what `make completions` writes today.
func TestCompletionsAreFresh(t *testing.T) {
	for shell, file := range CompletionShells {
		var b bytes.Buffer
		if err := GenerateCompletion(shell, &b); err != nil {
			t.Fatal(err)
		}
		have, err := os.ReadFile(filepath.Join("..", "completions", file))
		if err != nil {
			t.Fatalf("%s: %v (run `make completions`)", shell, err)
		}
		if !bytes.Equal(have, b.Bytes()) {
			t.Errorf("completions/%s is stale: run `make completions`", file)
		}
	}
}

// The fast path builds one top-level command from the topLevel table's names; the names must be the
// commands' own, or a run would build the wrong command.
func TestTopLevelTableMatchesCommands(t *testing.T) {
	for _, entry := range topLevel {
		c := entry.build(&app{io: &ui.IO{}})
		names := append([]string{c.Name()}, c.Aliases...)
		if !slices.Equal(names, entry.names) {
			t.Errorf("topLevel lists %v, the command has %v", entry.names, names)
		}
	}
	all := NewRootCommand()
	for _, c := range all.Commands() {
		if c.Name() == "help" || c.Name() == "completion" || c.Name() == "exit-codes" {
			continue
		}
		found := false
		for _, entry := range topLevel {
			found = found || entry.names[0] == c.Name()
		}
		if !found {
			t.Errorf("command %s is not in the topLevel table", c.Name())
		}
	}
}

// Every runnable command documents its exit status.
func TestEveryCommandDocumentsExitStatus(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c.Name() != "help" && !strings.Contains(c.Long, "EXIT STATUS") {
			t.Errorf("%s: no EXIT STATUS section in its help", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCommand())
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{fault.Silent(fault.Findings), 1},
		{fault.Usagef("x"), 2},
		{fault.Configf("x"), 2},
		{fault.Unavailablef("x"), 3},
		{errors.New("unexpected"), 3},
		{fmt.Errorf("wait: %w", context.Canceled), 130},
		{errors.Join(fault.Configf("a"), fault.Configf("b")), 2},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// Run in-process, as tests of single commands do: exact stdout, stderr and exit code.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, &ui.IO{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return out.String(), errOut.String(), code
}

func TestRunReportsJoinedProblemsOneByOne(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.yaml")
	if err := os.WriteFile(path, []byte("roles:\n  viewer:\n    permissions: [canReadProfile]\nusers:\n  bob: viewr\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, "--config", path, "roles", "list")
	if code != 2 || stdout != "" {
		t.Fatalf("code %d, stdout %q", code, stdout)
	}
	want := path + `:3: role viewer: unknown permission "canReadProfile"` + "\n" +
		`hint: did you mean "canReadProfiles"?` + "\n"
	if !strings.HasPrefix(stderr, "klrbac: "+want) {
		t.Errorf("stderr:\n%s", stderr)
	}
	if !strings.Contains(stderr, "klrbac: "+path+`:5: user bob: unknown role "viewr"`) {
		t.Errorf("second problem missing:\n%s", stderr)
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	_, stderr, code := run(t, "chek", "admin")
	if code != 2 || !strings.Contains(stderr, `unknown command "chek"`) {
		t.Errorf("code %d, stderr %q", code, stderr)
	}
}
