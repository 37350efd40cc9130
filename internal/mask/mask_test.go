package mask

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

const testKey = "pk_0123456789abcdef0123456789abcda1b2"

func TestSecret(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{testKey, "pk_****a1b2"},
		{"  " + testKey + "\n", "pk_****a1b2"},
		{"pk_Ab12Cd_0123456789abcdef0123456789abcd9f9f", "pk_****9f9f"},
		{"pk_short", "pk_****"},
		{"client-secret-0123456789-wxyz", "****wxyz"},
		{"tiny", "****"},
		{"0123456789abcdef\u00e9", "****"},
		{"", ""},
	} {
		if got := Secret(tc.in); got != tc.want {
			t.Errorf("Secret(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	sum := sha256.Sum256([]byte(testKey))
	want := hex.EncodeToString(sum[:])[:8]
	if got := Fingerprint(testKey); got != want {
		t.Errorf("Fingerprint = %q, want %q", got, want)
	}
	if got := Fingerprint(" " + testKey + "\n"); got != want {
		t.Errorf("Fingerprint ignores surrounding whitespace: got %q, want %q", got, want)
	}
	if Fingerprint("pk_0123456789abcdef0123456789abcda1b3") == want {
		t.Error("different keys share a fingerprint")
	}
	if Fingerprint("") != "" {
		t.Error("nothing has a fingerprint")
	}
}

func TestInText(t *testing.T) {
	for _, s := range []string{"pk_short", "xpk_" + strings.Repeat("b", 30), "plain"} {
		if got := InText(s); got != s {
			t.Errorf("InText(%q) = %q, want unchanged", s, got)
		}
	}
	if got := InText("a pk_abc123_" + strings.Repeat("f", 34) + "."); got != "a pk_****ffff." {
		t.Errorf("account-prefixed key: %q", got)
	}
	if got := InText("keys " + testKey + " and " + testKey); got != "keys pk_****a1b2 and pk_****a1b2" {
		t.Errorf("two keys: %q", got)
	}
}

func TestLooksSecret(t *testing.T) {
	for _, s := range []string{testKey, "pk_Ab12Cd_0123456789abcdef0123456789abcd9f9f", "deadbeefsecretvalue0123456789abcdef",
		"my-app-" + "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA", "x pk_0123456789"} {
		if !LooksSecret(s) {
			t.Errorf("LooksSecret(%q) = false", s)
		}
	}
	for _, s := range []string{"marketer", "data-team", "default", "reporting-integration-app", "canReadProfiles",
		"alice@example.com", "pk_", "abcdefghijklmnopqrstuvwxyz", "01234567890123456789012"} {
		if LooksSecret(s) {
			t.Errorf("LooksSecret(%q) = true", s)
		}
	}
}

func TestURL(t *testing.T) {
	if got := URL("https://hooks.slack.com/services/T000/B000/XXXX?token=abc"); got != "https://hooks.slack.com/…" {
		t.Errorf("URL = %q", got)
	}
	if got := URL("not a url"); got != "(invalid URL)" {
		t.Errorf("URL(invalid) = %q", got)
	}
}
