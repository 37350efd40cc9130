package secrets

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/mask"

	"github.com/klrbac/klrbac/internal/fault"
)

func TestParseKeyAccepts(t *testing.T) {
	for _, tc := range []struct{ in, value, account string }{
		{testKey, testKey, ""},
		{"  " + testKey + "\r\n", testKey, ""},
		{"pk_Ab12Cd_0123456789abcdef0123456789abcd9f9f", "pk_Ab12Cd_0123456789abcdef0123456789abcd9f9f", "Ab12Cd"},
		{"pk_XYZ789_ffffffffffffffffffffffffffffffffff", "pk_XYZ789_ffffffffffffffffffffffffffffffffff", "XYZ789"},
	} {
		k, err := ParseKey(tc.in)
		if err != nil {
			t.Errorf("ParseKey(%q): %v", tc.in, err)
			continue
		}
		if k.Secret.Reveal() != tc.value || k.AccountID != tc.account {
			t.Errorf("ParseKey(%q) = (%q, account %q), want (%q, %q)", tc.in, k.Secret.Reveal(), k.AccountID, tc.value, tc.account)
		}
	}
}

func TestParseKeyRejects(t *testing.T) {
	for _, tc := range []struct{ name, in, reason string }{
		{"empty", "   \n", "no key given: the input is empty"},
		{"public key", "Xy9Q7w", "6-character public key"},
		{"oauth token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "looks like an OAuth token"},
		{"bearer header", "Bearer abcdefghijklmnopqrstuvwxyz0123456789", "looks like an OAuth access token"},
		{"authorization header", "Klaviyo-API-Key " + testKey, "Authorization header value"},
		{"short digits", "pk_0123456789abcdef", "expected 34 hexadecimal digits after pk_ (or after the account id), got 16 characters"},
		{"long digits", testKey + "00", "got 36 characters"},
		{"upper case", "pk_0123456789ABCDEF0123456789ABCDA1B2", "must be lowercase hexadecimal"},
		{"all upper case", "PK_0123456789ABCDEF0123456789ABCDA1B2", "a private API key typed in upper case"},
		{"all upper case, account id", "PK_AB12CD_0123456789ABCDEF0123456789ABCDA1B2", "a private API key typed in upper case"},
		{"not hex", "pk_0123456789abcdef0123456789abcdzzzz", "expected 34 hexadecimal digits"},
		{"bad account id", "pk_Ab-2Cd_0123456789abcdef0123456789abcd9f9f", "the account id after pk_ must be 6 letters or digits"},
		{"two lines", testKey + "\n" + testKey, "no spaces, line breaks or control characters"},
		{"inner space", "pk_0123456789abcdef 0123456789abcdefa1b2", "no spaces, line breaks or control characters"},
		{"secret key of another service", "sk_live_0123456789", "private keys start with pk_"},
		{"too long", strings.Repeat("a", maxInput+1), "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKey(tc.in)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Advice == "" {
				t.Errorf("error %v carries no advice", err)
			}
			f := fe.Fault(fault.Usage, "standard input")
			if fault.KindOf(f) != fault.Usage || !strings.HasPrefix(f.Error(), "standard input: ") {
				t.Errorf("Fault = %v (kind %v)", f, fault.KindOf(f))
			}
			if s := strings.TrimSpace(tc.in); len(s) >= 6 && (strings.Contains(err.Error(), s) || strings.Contains(fe.Advice, s)) {
				t.Errorf("error repeats the input: %v / %s", err, fe.Advice)
			}
		})
	}
}

func TestParseClientSecret(t *testing.T) {
	s, err := ParseClientSecret("  cs_0123456789abcdefXYZ\n")
	if err != nil || s.Reveal() != "cs_0123456789abcdefXYZ" {
		t.Fatalf("ParseClientSecret = %q, %v", s.Reveal(), err)
	}
	for _, tc := range []struct{ in, reason string }{
		{"", "no client secret given"},
		{"short", "too short"},
		{"two words here", "no spaces"},
		{testKey, "private API key, not an OAuth client secret"},
	} {
		_, err := ParseClientSecret(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("ParseClientSecret(%q) = %v, want %q", tc.in, err, tc.reason)
		}
	}
}

// FuzzParseKey: whatever the input, ParseKey does not panic, an accepted key has exactly the
// documented form, and an error never repeats the input.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{testKey, "pk_Ab12Cd_0123456789abcdef0123456789abcd9f9f", "Xy9Q7w", "", " ",
		"pk_", "pk__", "Bearer x", "Klaviyo-API-Key pk_1", "pk_0123456789ABCDEF0123456789ABCDA1B2", "\x00pk_\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		k, err := ParseKey(in)
		if err != nil {
			if k != (Key{}) {
				t.Fatal("error with a key")
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error of type %T", err)
			}
			// 16 characters: shorter inputs can be words of the fixed messages themselves.
			if s := strings.TrimSpace(in); len(s) >= 16 && strings.Contains(err.Error()+" "+fe.Advice, s) {
				t.Fatalf("error repeats the input: %v", err)
			}
			return
		}
		v := k.Secret.Reveal()
		if v != strings.TrimSpace(in) || !strings.HasPrefix(v, "pk_") {
			t.Fatalf("accepted %q as %q", in, v)
		}
		switch m := newKeyForm.FindStringSubmatch(v); {
		case oldKeyForm.MatchString(v):
			if k.AccountID != "" {
				t.Fatalf("accepted %q with account %q", v, k.AccountID)
			}
		case m != nil:
			if k.AccountID != m[1] {
				t.Fatalf("accepted %q with account %q", v, k.AccountID)
			}
		default:
			t.Fatalf("accepted %q", v)
		}
		if m := mask.Secret(v); m != "pk_****"+v[len(v)-4:] {
			t.Fatalf("Mask(%q) = %q", v, m)
		}
	})
}

// The two forms of a private key, written independently of the parser, as the fuzz test's oracle.
var (
	oldKeyForm = regexp.MustCompile(`^pk_[0-9a-f]{34}$`)
	newKeyForm = regexp.MustCompile(`^pk_([A-Za-z0-9]{6})_[0-9a-f]{34}$`)
)

func FuzzParseClientSecret(f *testing.F) {
	for _, s := range []string{"cs_0123456789abcdefXYZ", "", testKey, "a b", "\t\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseClientSecret(in)
		if err != nil {
			if !s.IsZero() {
				t.Fatal("error with a secret")
			}
			if v := strings.TrimSpace(in); len(v) >= 16 && strings.Contains(err.Error(), v) {
				t.Fatalf("error repeats the input: %v", err)
			}
			return
		}
		if s.Reveal() != strings.TrimSpace(in) || len(s.Reveal()) < 8 {
			t.Fatalf("accepted %q as %q", in, s.Reveal())
		}
	})
}
