package ui

import "testing"

// GitHub Actions reads "::error title=T::MESSAGE": a message may not hold %, CR or LF as such, and
// a property not : or , either, or the annotation breaks or ends early.
func TestAnnotationEscaping(t *testing.T) {
	for _, tc := range []struct{ in, data, prop string }{
		{"plain", "plain", "plain"},
		{"50% off", "50%25 off", "50%25 off"},
		{"a\r\nb", "a%0D%0Ab", "a%0D%0Ab"},
		{"role: a, b", "role: a, b", "role%3A a%2C b"},
		{"%0A", "%250A", "%250A"},
	} {
		if got := escapeData(tc.in); got != tc.data {
			t.Errorf("escapeData(%q) = %q, want %q", tc.in, got, tc.data)
		}
		if got := escapeProperty(tc.in); got != tc.prop {
			t.Errorf("escapeProperty(%q) = %q, want %q", tc.in, got, tc.prop)
		}
	}
	if got := WorkflowCommand("error", "klrbac: x", "a\nb"); got != "::error title=klrbac%3A x::a%0Ab\n" {
		t.Errorf("WorkflowCommand = %q", got)
	}
}
