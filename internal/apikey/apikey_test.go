package apikey_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/apikey"
)

const (
	oldKey = "pk_0123456789abcdef0123456789abcda1b2"
	newKey = "pk_Ab12Cd_0123456789abcdef0123456789abcd9f9f"
)

func TestParsePrivateAccepts(t *testing.T) {
	for key, account := range map[string]string{oldKey: "", newKey: "Ab12Cd", "pk_XYZ789_ffffffffffffffffffffffffffffffffff": "XYZ789"} {
		p, err := apikey.ParsePrivate(key)
		if err != nil || p.Account != account || !apikey.IsPrivate(key) {
			t.Errorf("ParsePrivate(%q) = %+v, %v; want account %q", key, p, err, account)
		}
	}
}

func TestParsePrivateSaysWhy(t *testing.T) {
	for _, tc := range []struct{ in, reason string }{
		{"", "private keys start with pk_"},
		{"sk_live_0123456789", "private keys start with pk_"},
		{" " + oldKey, "private keys start with pk_"},
		{"pk_0123456789abcdef", "expected 34 hexadecimal digits after pk_ (or after the account id), got 16 characters"},
		{oldKey + "00", "got 36 characters"},
		{"pk_0123456789ABCDEF0123456789ABCDA1B2", "its digits must be lowercase hexadecimal"},
		{"pk_Ab12Cd_0123456789ABCDEF0123456789ABCD9F9F", "its digits must be lowercase hexadecimal"},
		{"pk_0123456789abcdef0123456789abcdzzzz", "expected 34 hexadecimal digits"},
		{"pk_Ab-2Cd_0123456789abcdef0123456789abcd9f9f", "the account id after pk_ must be 6 letters or digits"},
		{oldKey + "\n", "got 35 characters"},
	} {
		_, err := apikey.ParsePrivate(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.reason) || apikey.IsPrivate(tc.in) {
			t.Errorf("ParsePrivate(%q) = %v, want an error saying %q", tc.in, err, tc.reason)
		}
	}
}

func TestIsPublic(t *testing.T) {
	for s, want := range map[string]bool{"DEMO01": true, "ab12CD": true, "DEMO0": false, "DEMO012": false, "DEMO-1": false, "": false, "DEMO0é": false} {
		if apikey.IsPublic(s) != want {
			t.Errorf("IsPublic(%q) = %v, want %v", s, !want, want)
		}
	}
}

var (
	oldForm = regexp.MustCompile(`^pk_[0-9a-f]{34}$`)
	newForm = regexp.MustCompile(`^pk_([A-Za-z0-9]{6})_[0-9a-f]{34}$`)
)

// FuzzParsePrivate checks the parser against the two forms written as regular expressions, and
// that no reason repeats the input.
func FuzzParsePrivate(f *testing.F) {
	for _, s := range []string{oldKey, newKey, "", "pk_", "pk_Ab12Cd_", "pk_0123456789ABCDEF0123456789ABCDA1B2", "Xy9Q7w", "pk_\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := apikey.ParsePrivate(in)
		m := newForm.FindStringSubmatch(in)
		switch {
		case err == nil && oldForm.MatchString(in):
			if p.Account != "" {
				t.Fatalf("%q: account %q in an old-form key", in, p.Account)
			}
		case err == nil && m != nil:
			if p.Account != m[1] {
				t.Fatalf("%q: account %q, want %q", in, p.Account, m[1])
			}
		case err == nil:
			t.Fatalf("accepted %q", in)
		case oldForm.MatchString(in) || m != nil:
			t.Fatalf("rejected %q: %v", in, err)
		case len(in) >= 8 && strings.Contains(err.Error(), in):
			t.Fatalf("the reason repeats the input: %v", err)
		}
	})
}
