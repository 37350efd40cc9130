package warn

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestPrintfMasks(t *testing.T) {
	var b strings.Builder
	err := errors.New("keyring said: bad value pk_0123456789abcdef0123456789abcda1b2 for https://u:p4ss@example.com")
	Printf(&b, "could not store the key: %v", err)
	want := "klrbac: warning: could not store the key: keyring said: bad value pk_****a1b2 for https://****@example.com\n"
	if got := b.String(); got != want {
		t.Errorf("Printf wrote %q, want %q", got, want)
	}
}

// TestEveryWarningGoesThroughPrintf guards the rule this package exists for: no Go file writes the
// warning prefix by hand. A hand-written one would print whatever its arguments hold, unmasked.
func TestEveryWarningGoesThroughPrintf(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..")
	prefix := regexp.MustCompile(`"klrbac: warning:`)
	var found []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "third_party" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == filepath.Dir(here) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if prefix.MatchString(line) {
				rel, _ := filepath.Rel(root, path)
				found = append(found, rel+":"+strconv.Itoa(i+1))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Errorf("%d warnings written by hand, bypassing warn.Printf:\n  %s", len(found), strings.Join(found, "\n  "))
	}
}
