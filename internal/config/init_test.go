package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/audit"
)

// config init writes where --config or KLRBAC_CONFIG point, else to the XDG file.
func TestInitPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	t.Setenv("KLRBAC_CONFIG", "")
	if p, err := InitPath(Options{}); err != nil || p != filepath.Join(dir, "xdg", "klrbac", "config.yaml") {
		t.Errorf("no file named: %q, %v", p, err)
	}
	t.Setenv("KLRBAC_CONFIG", "env.yaml")
	if p, err := InitPath(Options{}); err != nil || p != "env.yaml" {
		t.Errorf("KLRBAC_CONFIG: %q, %v", p, err)
	}
	if p, err := InitPath(Options{File: "flag.yaml"}); err != nil || p != "flag.yaml" {
		t.Errorf("--config: %q, %v", p, err)
	}
}

// A refused init is refused before the trail is opened, and a written one is recorded first.
func TestInitAudited(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "klrbac.yaml")
	if err := os.WriteFile(path, []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opened := false
	log := filepath.Join(dir, "audit.log")
	trail := func() *audit.Trail {
		opened = true
		store, err := audit.Open(log, audit.Options{Actor: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		return audit.NewTrail(store, audit.TrailOptions{Actor: "alice"})
	}
	if err := InitAudited(context.Background(), trail, path, false); err == nil || opened {
		t.Fatalf("refused init: %v, trail opened %v", err, opened)
	}
	if err := InitAudited(context.Background(), trail, path, true); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(log)
	if !strings.Contains(string(data), `"action":"config.init"`) || !strings.Contains(string(data), "replacing any existing file") {
		t.Errorf("audit log:\n%s", data)
	}
}

// A file the search does not reach, or reaches after another, gets a note; the file klrbac reads
// gets none.
func TestUnread(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	t.Setenv("KLRBAC_CONFIG", "")
	xdg := filepath.Join(dir, "xdg", "klrbac", "config.yaml")
	other := filepath.Join(dir, "other.yaml")
	for _, p := range []string{xdg, other} {
		if err := Init(p, false); err != nil {
			t.Fatal(err)
		}
	}
	if note := Unread(Options{}, xdg); note != "" {
		t.Errorf("the file klrbac reads: %q", note)
	}
	if note := Unread(Options{}, other); !strings.Contains(note, "only when named: --config "+other) {
		t.Errorf("a file the search does not reach: %q", note)
	}
	if err := Init("klrbac.yaml", false); err != nil {
		t.Fatal(err)
	}
	if note := Unread(Options{}, xdg); !strings.HasPrefix(note, "klrbac.yaml comes first in the search here") {
		t.Errorf("a file found after another: %q", note)
	}
}
