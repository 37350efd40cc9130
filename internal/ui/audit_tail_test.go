package ui

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klrbac/klrbac/internal/audit"
)

func tailEntry(seq uint64, user, role, action, resource, reason string, success bool) audit.Record {
	return audit.Record{Entry: audit.Entry{Seq: seq, Timestamp: time.Date(2026, 5, 3, 9, 0, int(seq), 0, time.UTC),
		UserID: user, Role: role, Action: action, Resource: resource, Reason: reason, Success: success}}
}

// checkColumns fails unless every line has RESULT's value where the header has RESULT, and fits
// width (0: any).
func checkColumns(t *testing.T, out string, width int) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	at := strings.Index(lines[0], "RESULT")
	if at < 0 {
		t.Fatalf("no header: %q", lines[0])
	}
	at = utf8.RuneCountInString(lines[0][:at])
	for _, l := range lines {
		r := []rune(l)
		if width > 0 && len(r) > width {
			t.Errorf("%d runes, wider than %d: %q", len(r), width, l)
		}
		if len(r) < at+2 {
			t.Fatalf("line too short for its columns: %q", l)
		}
		cell := strings.Fields(string(r[at:]))[0]
		if cell != "RESULT" && cell != "ok" && cell != "failed" && cell != "denied" {
			t.Errorf("RESULT column holds %q: %q", cell, l)
		}
	}
	return lines
}

func TestTailTableFitsTerminal(t *testing.T) {
	records := []audit.Record{
		tailEntry(1, "bob", "viewer", "check", "canReadProfiles", "role viewer holds canReadProfiles", true),
		tailEntry(2, "nightly-sync-service-account@integrations.example.com", "", "oauth.set-secret",
			"oauth-client:customer-data-platform-nightly-sync", "", true),
		tailEntry(3, "alice", "marketer", "keys.set", "role:marketer", "failed: keyring unavailable", false),
	}
	for _, width := range []int{100, 120, 160} {
		var out bytes.Buffer
		p := (&IO{Out: &out, OutTTY: true}).NewAuditTail(Table, false)
		p.table.MaxWidth = width
		p.Batch(records)
		p.Flush()
		lines := checkColumns(t, out.String(), width)
		if !strings.Contains(lines[2], "…") {
			t.Errorf("width %d: the long values are not cut: %q", width, lines[2])
		}
		// Short values are left whole, and the ends of long ones kept.
		if !strings.Contains(lines[3], "  alice  ") || !strings.Contains(lines[3], "  marketer  ") || !strings.Contains(lines[2], "nigh") || !strings.Contains(lines[2], ".com  ") {
			t.Errorf("width %d: values cut needlessly:\n%s", width, out.String())
		}
	}
	// Off a terminal nothing is cut.
	var out bytes.Buffer
	p := (&IO{Out: &out}).NewAuditTail(Table, false)
	p.Batch(records)
	p.Flush()
	checkColumns(t, out.String(), 0)
	if strings.Contains(out.String(), "…") || !strings.Contains(out.String(), "oauth-client:customer-data-platform-nightly-sync") {
		t.Errorf("off a terminal, values were cut:\n%s", out.String())
	}
}

// TestTailFollowKeepsColumns: followed entries keep the widths of the entries printed first, their
// long values cut to fit.
func TestTailFollowKeepsColumns(t *testing.T) {
	for _, width := range []int{0, 120} {
		var out bytes.Buffer
		p := (&IO{Out: &out, OutTTY: width > 0}).NewAuditTail(Table, true)
		p.table.MaxWidth = width
		p.Batch([]audit.Record{tailEntry(1, "bob", "viewer", "check", "canReadProfiles", "", true)})
		long := tailEntry(2, strings.Repeat("u", 60), strings.Repeat("r", 30), "oauth.set-secret", "oauth-client:"+strings.Repeat("x", 80),
			"control\ncharacters\tand a long reason "+strings.Repeat("y", 200), false)
		p.Print(long.Entry, nil)
		p.Flush()
		lines := checkColumns(t, out.String(), width)
		if len(lines) != 3 || !strings.Contains(lines[2], "…") || !strings.Contains(lines[2], "oauth") {
			t.Fatalf("width %d: followed entry:\n%s", width, out.String())
		}
	}
	// Following before any entry was printed uses the minimum widths.
	var out bytes.Buffer
	p := (&IO{Out: &out}).NewAuditTail(Table, true)
	p.Print(tailEntry(1, "bob", "viewer", "check", "canReadProfiles", "", true).Entry, nil)
	p.Print(tailEntry(2, "alice@example.com", "marketer", "keys.set", "role:marketer", "", true).Entry, nil)
	p.Flush()
	checkColumns(t, out.String(), 0)
}
