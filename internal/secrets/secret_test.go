package secrets

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const testKey = "pk_0123456789abcdef0123456789abcda1b2"

func TestMask(t *testing.T) {
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
		if got := Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
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

// Every way a Secret can be turned into text must give its mask, never the value.
func TestSecretNeverPrintsItsValue(t *testing.T) {
	s := NewSecret(testKey)
	type holder struct {
		Name string
		Key  Secret
		Ptr  *Secret
	}
	h := holder{Name: "marketer", Key: s, Ptr: &s}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		outputs = append(outputs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	outputs = append(outputs, fmt.Sprint(s), fmt.Sprintln(s, h), s.String(), s.GoString(),
		fmt.Errorf("wrapped: %w", errors.New(fmt.Sprint(s))).Error())
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(j))
	y, err := yaml.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(y))
	text, _ := s.MarshalText()
	outputs = append(outputs, string(text))
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("key", "key", s, "holder", h)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("key", "key", s)
	outputs = append(outputs, logged.String())

	for _, out := range outputs {
		if strings.Contains(out, testKey) || strings.Contains(out, testKey[3:20]) {
			t.Errorf("output reveals the key: %s", out)
		}
	}
	if !strings.Contains(string(j), `"pk_****a1b2"`) {
		t.Errorf("JSON does not carry the mask: %s", j)
	}
	if !strings.Contains(string(y), "pk_****a1b2") {
		t.Errorf("YAML does not carry the mask: %s", y)
	}
	if s.Reveal() != testKey {
		t.Error("Reveal does not return the value")
	}
}
