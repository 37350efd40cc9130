package ui

import (
	"bytes"
	"strings"
	"testing"
)

func TestConfirm(t *testing.T) {
	for answer, want := range map[string]bool{"y\n": true, "yes\n": true, " Y \n": true, "n\n": false, "\n": false, "": false, "yess\n": false} {
		var errOut bytes.Buffer
		in := strings.NewReader(answer + "left for the next reader")
		s := &IO{In: in, Err: &errOut}
		got, err := s.Confirm("Replace it?")
		if err != nil || got != want {
			t.Errorf("%q: %v, %v", answer, got, err)
		}
		if !strings.HasPrefix(errOut.String(), "Replace it? [y/N] ") {
			t.Errorf("question %q", errOut.String())
		}
		if rest := in.Len(); rest != len("left for the next reader") && rest != 0 {
			t.Errorf("%d bytes after the answer were consumed", len("left for the next reader")-rest)
		}
	}
}

func TestReadSecretFromPipe(t *testing.T) {
	var errOut bytes.Buffer
	s := &IO{In: strings.NewReader("pk_value\n"), Err: &errOut}
	got, err := s.ReadSecret("Key: ")
	if err != nil || got != "pk_value\n" {
		t.Fatalf("%q, %v", got, err)
	}
	if errOut.Len() != 0 {
		t.Errorf("prompted without a terminal: %q", errOut.String())
	}
	big := &IO{In: strings.NewReader(strings.Repeat("x", maxSecretInput*2)), Err: &errOut}
	if got, _ := big.ReadSecret(""); len(got) != maxSecretInput {
		t.Errorf("read %d bytes from a large input", len(got))
	}
}
