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
	for _, s := range []string{"pk_short", "xpk_" + strings.Repeat("b", 30), "plain",
		"upkeep", "the pk-supercalifragilisticexpialidocious word", "PK_ABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"a sha256 of 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "hey Jude, obey JSON"} {
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

// TestInTextMangledKeys covers the forms a private key takes when it is pasted, typed or encoded
// carelessly: none may be stored or printed whole.
func TestInTextMangledKeys(t *testing.T) {
	const body = "0123456789abcdef0123456789abcda1b2"
	upper := strings.ToUpper(body)
	for _, tc := range []struct{ in, want string }{
		{"reason xpk_" + body + "y end", "reason xpk_****1b2y end"},
		{"pk%5F" + body, "pk_****a1b2"},
		{"pk%5f" + body, "pk_****a1b2"},
		{"PK_" + upper, "pk_****A1B2"},
		{"Pk_" + body, "pk_****a1b2"},
		{"pk-" + body, "pk_****a1b2"},
		{"pk%2D" + body, "pk_****a1b2"},
		{"key: pk_ " + body + ".", "key: pk_****a1b2."},
		{"pk " + body, "pk_****a1b2"},
		{"pk_Cnry01_" + body, "pk_****a1b2"},
		{"pk%5FCnry01%5F" + body, "pk_****a1b2"},
		{"url?key=pk_" + body + "&x=1", "url?key=pk_****a1b2&x=1"},
	} {
		got := InText(tc.in)
		if got != tc.want {
			t.Errorf("InText(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(strings.ToLower(got), body[:20]) {
			t.Errorf("InText(%q) keeps the key's digits: %q", tc.in, got)
		}
	}
}

func TestInTextJWT(t *testing.T) {
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrbHJiYWMifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
	if got := InText("Bearer " + jwt); got != "Bearer ****"+jwt[len(jwt)-4:] {
		t.Errorf("InText(bearer JWT) = %q", got)
	}
}

func TestKnown(t *testing.T) {
	defer forgetAll()
	secret := "cnry-client-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	token := "9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a39c8b7a6f5e4d3c2b"
	if got := InText("secret " + secret); !strings.Contains(got, secret) {
		t.Fatalf("a secret not yet known was masked by shape: %q", got)
	}
	Known(secret)
	Known(token)
	Known("short")
	Known(`{"access_token":"x"}`)
	if got := InText("secret " + secret + " token " + token); got != "secret ****e1f0 token ****3c2b" {
		t.Errorf("InText with known credentials = %q", got)
	}
	if got := InText("short and sweet"); got != "short and sweet" {
		t.Errorf("a value too short to be a credential was masked: %q", got)
	}
	for i := 0; i < maxKnown+10; i++ {
		Known(strings.Repeat("z", 10) + strings.Repeat("y", i))
	}
	newest := strings.Repeat("z", 10) + strings.Repeat("y", maxKnown+9)
	if got := InText("x " + newest); got != "x ****yyyy" {
		t.Errorf("the newest credential is not masked: %q", got)
	}
	if n := len(known.Load().strs); n != maxKnown {
		t.Errorf("known list holds %d credentials, want %d", n, maxKnown)
	}
}

func TestInField(t *testing.T) {
	defer forgetAll()
	token := "9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a39c8b7a6f5e4d3c2b"
	for _, tc := range []struct{ in, want string }{
		{"pasted " + token + " by mistake", "pasted ****3c2b by mistake"},
		{"cnry-client-0f1e2d3c4b5a69788796a5b4c3d2e1f0", "cnry-client-****e1f0"},
		{"ticket OPS-1234: rotate the marketer key", "ticket OPS-1234: rotate the marketer key"},
		{"POST /api/profiles/01HXYZ", "POST /api/profiles/01HXYZ"},
		{"sha256:0123456789abcdef", "sha256:0123456789abcdef"},
		{"pk_" + strings.Repeat("ab12", 9), "pk_****ab12"},
	} {
		if got := InField(tc.in); got != tc.want {
			t.Errorf("InField(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWriter(t *testing.T) {
	var b strings.Builder
	w := Writer(&b)
	line := "key pk_0123456789abcdef0123456789abcda1b2\n"
	n, err := w.Write([]byte(line))
	if err != nil || n != len(line) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(line))
	}
	if b.String() != "key pk_****a1b2\n" {
		t.Errorf("written %q", b.String())
	}
	if Writer(w) != w {
		t.Error("a masked writer was wrapped twice")
	}
}

// FuzzInText checks the masker's promises on any input: it never panics, leaves text without a
// credential as it was, is idempotent, and never lets a well-formed key through, whatever
// surrounds it.
func FuzzInText(f *testing.F) {
	for _, s := range []string{"", "plain text", "pk_", "xpk_0123456789abcdef0123456789abcda1b2y", "pk%5F", "eyJ.eyJ.",
		"PK-0123456789ABCDEF0123456789ABCDA1B2", "pk_ 0123456789abcdef"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, before, after string) {
		out := InText(before)
		if InText(out) != out {
			t.Errorf("InText is not idempotent on %q: %q then %q", before, out, InText(out))
		}
		if !strings.ContainsAny(strings.ToLower(before), "pe") && out != before {
			t.Errorf("text without p or e changed: %q -> %q", before, out)
		}
		s := before + testKey + after
		if got := InText(s); strings.Contains(got, testKey[3:23]) {
			t.Errorf("a key survived masking in %q: %q", s, got)
		}
	})
}

// BenchmarkInText is the cost of the masker on a line without a credential, which is nearly every
// line klrbac prints.
func BenchmarkInText(b *testing.B) {
	line := strings.Repeat("marketer  ReadProfiles, SendCampaigns, ManageLists, ViewReports  KLAVIYO_KEY_MARKETER  keyring ", 2)
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_ = InText(line)
	}
}

// TestInTextURLUserinfo: a password (or a token used as a user name) in a URL is masked wherever
// the URL is printed: config show, doctor, errors.
func TestInTextURLUserinfo(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://user:hunter2@a.klaviyo.com/api", "https://****@a.klaviyo.com/api"},
		{`api_url: "http://tok@127.0.0.1:8080"`, `api_url: "http://****@127.0.0.1:8080"`},
		{"Get \"https://u:p@x.test/api/accounts\": dial tcp", "Get \"https://****@x.test/api/accounts\": dial tcp"},
		{"mail alice@example.com at https://example.com/a@b", "mail alice@example.com at https://example.com/a@b"},
		{"https://example.com/path?x=1", "https://example.com/path?x=1"},
		{"postgres://klrbac:s3cret@db:5432/audit", "postgres://****@db:5432/audit"},
	} {
		if got := InText(tc.in); got != tc.want {
			t.Errorf("InText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
