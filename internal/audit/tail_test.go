package audit

import (
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
)

// --since takes a duration back from now, days included, or a time; anything else is a usage error.
func TestParseSince(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"7d":                   now.AddDate(0, 0, -7),
		"0d":                   now,
		"90m":                  now.Add(-90 * time.Minute),
		"36h":                  now.Add(-36 * time.Hour),
		"2026-05-01":           time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
		"2026-05-01T09:00":     time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC),
		"2026-05-01T09:00:00Z": time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC),
	} {
		if got, err := ParseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-7d", "-1h", "yesterday", "2026-13-01"} {
		if _, err := ParseSince(in, now); fault.KindOf(err) != fault.Usage {
			t.Errorf("ParseSince(%q): %v, want a usage error", in, err)
		}
	}
}
