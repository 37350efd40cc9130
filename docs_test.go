package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/policy"
)

// The README is the front door and docs/ the manual: these tests keep the links between them whole
// and the front door short, so that moving a section cannot leave a reader at a dead link.

// markdownLink matches an inline link's target: [text](target).
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// headingAnchor is GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes.
func headingAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// anchorsOf returns the anchors of a Markdown file's headings, outside code blocks.
func anchorsOf(t *testing.T, path string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	fenced := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if !fenced && strings.HasPrefix(line, "#") {
			anchors[headingAnchor(strings.TrimLeft(line, "#"))] = true
		}
	}
	return anchors
}

func manualPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("docs/ holds no pages")
	}
	return append([]string{"README.md"}, pages...)
}

func TestDocsLinksResolve(t *testing.T) {
	checked := 0
	for _, page := range manualPages(t) {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range markdownLink.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			resolved := page
			if file != "" {
				resolved = filepath.Join(filepath.Dir(page), file)
				if _, err := os.Stat(resolved); err != nil {
					t.Errorf("%s: link %q: %v", page, target, err)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(resolved, ".md") && !anchorsOf(t, resolved)[anchor] {
				t.Errorf("%s: link %q: %s has no heading with anchor %q", page, target, resolved, anchor)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("found no links to check: the link pattern no longer matches the pages")
	}
}

// TestREADMEIsAFrontDoor keeps the README to what a newcomer needs: the manual lives in docs/.
func TestREADMEIsAFrontDoor(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(data), "\n"); lines > 300 {
		t.Errorf("README.md has %d lines; keep it to 300 and move the rest to docs/", lines)
	}
	for _, page := range manualPages(t)[1:] {
		if !strings.Contains(string(data), "("+filepath.ToSlash(page)+")") {
			t.Errorf("README.md does not link to %s", page)
		}
	}
}

// TestCIRunsTheREADMEsTestCommand: CI must run exactly what the README tells a newcomer to run.
func TestCIRunsTheREADMEsTestCommand(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	const command = "make test"
	if !regexp.MustCompile(`(?m)^` + command + `\b`).Match(readme) {
		t.Errorf("README.md's quickstart no longer says %q on a line of its own", command)
	}
	if !regexp.MustCompile(`(?m)^\s+` + command + `$`).Match(ci) {
		t.Errorf(".ci/run no longer runs %q, the README's test command", command)
	}
}

// TestREADMEPolicyTableIsTheDefault: the README's table of the built-in policy is the policy, in
// the orientation `klrbac permissions matrix` prints it: a permission per row, a role per column.
func TestREADMEPolicyTableIsTheDefault(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	pol := policy.Default()
	var header []string
	rows := 0
	for _, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		switch {
		case strings.HasPrefix(line, "| permission | ") && !strings.Contains(line, "Klaviyo scopes"):
			header = cells[1:]
		case header != nil && strings.HasPrefix(line, "|---"):
		case header != nil && strings.HasPrefix(line, "| "):
			rows++
			for i, role := range header {
				r, ok := pol.Role(role)
				want := "no"
				if ok && r.Holds(cells[0]) {
					want = "yes"
				}
				if !ok || i+1 >= len(cells) || cells[i+1] != want {
					t.Errorf("README: %s for role %s, want %s", cells[0], role, want)
				}
			}
		default:
			header = nil
		}
	}
	names := make([]string, len(pol.Roles))
	for i, r := range pol.Roles {
		names[i] = r.Name
	}
	if rows != len(pol.Permissions) {
		t.Errorf("the README's policy table has %d permission rows, the policy %d permissions (roles %v)", rows, len(pol.Permissions), names)
	}
}
