package suggest

import (
	"slices"
	"testing"
)

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "abc", 0}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"profile:read", "profiles:read", 1}} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestClosest(t *testing.T) {
	roles := []string{"admin", "marketer", "developer", "viewer", "service"}
	scopes := []string{"profiles:read", "profiles:write", "lists:read", "lists:write"}
	for _, tc := range []struct {
		in    string
		names []string
		want  []string
	}{
		{"viewr", roles, []string{"viewer"}},
		{"ADMIN", roles, []string{"admin"}},
		{"markter", roles, []string{"marketer"}},
		{"zzzzzz", roles, nil},
		{"profile:read", scopes, []string{"profiles:read"}},
		{"profiles", scopes, []string{"profiles:read", "profiles:write"}},
	} {
		if got := Closest(tc.in, tc.names, 3); !slices.Equal(got, tc.want) {
			t.Errorf("Closest(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestHint(t *testing.T) {
	if got := Hint(nil); got != "" {
		t.Errorf("no candidates: %q", got)
	}
	if got := Hint([]string{"viewer"}); got != `did you mean "viewer"?` {
		t.Errorf("one: %q", got)
	}
	if got := Hint([]string{"a", "b"}); got != `did you mean one of "a", "b"?` {
		t.Errorf("two: %q", got)
	}
}
