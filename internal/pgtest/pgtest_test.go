package pgtest

import "testing"

func TestMajorVersion(t *testing.T) {
	for v, want := range map[string]int{"15.14 (Debian 15.14-0+deb12u1)": 15, "9.6.24": 9, "17beta1": 17, "16": 16, "": 0} {
		if got := majorVersion(v); got != want {
			t.Errorf("majorVersion(%q) = %d, want %d", v, got, want)
		}
	}
}
