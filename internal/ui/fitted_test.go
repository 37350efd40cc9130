package ui

import (
	"testing"
	"unicode/utf8"
)

func TestCutMiddle(t *testing.T) {
	for _, c := range []struct {
		s    string
		w    int
		want string
	}{
		{"marketer", 8, "marketer"}, {"marketer", 7, "mar…ter"}, {"oauth-client:crm", 10, "oauth…:crm"}, {"héllo wörld", 5, "hé…ld"},
	} {
		if got := cutMiddle(c.s, c.w); got != c.want || utf8.RuneCountInString(got) > c.w {
			t.Errorf("cutMiddle(%q, %d) = %q, want %q", c.s, c.w, got, c.want)
		}
	}
	if got := cutEnd("keyring unavailable", 8); got != "keyring…" {
		t.Errorf("cutEnd = %q", got)
	}
}
