package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const testKey = "pk_0123456789abcdef0123456789abcda1b2"

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

// A credential is shown as its mask and fingerprint, in brackets or after a comma, and no
// credential as "none".
func TestSecretDescribedAndNoted(t *testing.T) {
	s := NewSecret(testKey)
	fp := s.Fingerprint()
	if got, want := s.Described(), "pk_****a1b2 (fingerprint "+fp+")"; got != want {
		t.Errorf("Described() = %q, want %q", got, want)
	}
	if got, want := s.Noted(), "pk_****a1b2, fingerprint "+fp; got != want {
		t.Errorf("Noted() = %q, want %q", got, want)
	}
	if got := (Secret{}).Described(); got != "none" {
		t.Errorf("no secret: Described() = %q", got)
	}
	if got := (Secret{}).Noted(); got != "none" {
		t.Errorf("no secret: Noted() = %q", got)
	}
}
