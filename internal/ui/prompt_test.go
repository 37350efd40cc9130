package ui

import (
	"bytes"
	"context"
	"errors"
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

// The keys of a line typed in raw mode. (Pseudo-terminal input written before the prompt switches
// to raw mode is handled by the line discipline first, so the command-line scripts cannot type
// Ctrl-C or Ctrl-D at the prompt; this covers them.)
func TestReadHiddenLine(t *testing.T) {
	for _, tc := range []struct {
		typed string
		want  string
		err   error
	}{
		{"pk_abc\r", "pk_abc", nil},
		{"pk_abc\n", "pk_abc", nil},
		{"pk_abx\x7fc\r", "pk_abc", nil},
		{"wrong\x15pk_abc\r", "pk_abc", nil},
		{"pk_a\x1b\tbc\r", "pk_abc", nil},
		{"\x04", "", nil},
		{"pk_ab\x04", "pk_ab", nil},
		{"", "", nil},
		{"pk_ab\x03", "", context.Canceled},
	} {
		got, err := readHiddenLine(strings.NewReader(tc.typed))
		if got != tc.want || !errors.Is(err, tc.err) && err != tc.err {
			t.Errorf("%q: %q, %v; want %q, %v", tc.typed, got, err, tc.want, tc.err)
		}
	}
}
