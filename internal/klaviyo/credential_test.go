package klaviyo_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/klaviyo"
)

const (
	adminKey  = "pk_aca7bfb2d9ad79ac7d242973a9ed4d4343"
	viewerKey = "pk_2cfe4e666cee9366c8d0c7eaf2911a6936"
)

// TestCredentialNeverShowsItsSecret prints a credential every way Go can.
func TestCredentialNeverShowsItsSecret(t *testing.T) {
	for _, c := range []klaviyo.Credential{klaviyo.PrivateKey(adminKey), klaviyo.BearerToken("eyJhbGciOiJIUzI1NiJ9.secret-token-value")} {
		secret := adminKey
		if c.Kind() == klaviyo.AccessToken {
			secret = "secret-token-value"
		}
		holder := struct {
			Cred klaviyo.Credential
			Ptr  *klaviyo.Credential
			cred klaviyo.Credential // fmt does not call methods on unexported fields
		}{c, &c, c}
		var outs []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
			outs = append(outs, fmt.Sprintf(verb, c), fmt.Sprintf(verb, holder))
		}
		outs = append(outs, fmt.Sprint(c), fmt.Sprintln(c), c.String(), c.GoString())
		js, err := json.Marshal(holder)
		if err != nil {
			t.Fatal(err)
		}
		ym, err := yaml.Marshal(holder)
		if err != nil {
			t.Fatal(err)
		}
		var logBuf bytes.Buffer
		slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("call", "credential", c)
		slog.New(slog.NewTextHandler(&logBuf, nil)).Info("call", "credential", c)
		outs = append(outs, string(js), string(ym), logBuf.String())
		for _, out := range outs {
			if strings.Contains(out, secret) || strings.Contains(out, "a242973a9ed4d43") {
				t.Errorf("%v leaks its secret: %s", c.Kind(), out)
			}
		}
		if !strings.Contains(outs[0], "****") || !strings.Contains(outs[0], "sha256:"+c.Fingerprint()) {
			t.Errorf("%%v shows %q, want the mask and fingerprint", outs[0])
		}
	}
}

func TestMaskAndFingerprint(t *testing.T) {
	for in, want := range map[string]string{
		adminKey: "pk_****4343",
		"pk_DEMO01_132f828851b0025ba948e24a7f4a5b173a": "pk_****173a",
		"pk_short": "pk_****",
	} {
		if got := klaviyo.PrivateKey(in).Mask(); got != want {
			t.Errorf("PrivateKey(%q).Mask() = %q, want %q", in, got, want)
		}
	}
	if got := klaviyo.BearerToken("opaque-access-token-1234").Mask(); got != "****1234" {
		t.Errorf("token mask: %q", got)
	}
	// SHA-256 of the admin key, first 8 hex digits.
	if got := klaviyo.PrivateKey(adminKey).Fingerprint(); got != "8a8ce49a" {
		t.Errorf("fingerprint: %s", got)
	}
	if klaviyo.PrivateKey(adminKey).Fingerprint() == klaviyo.PrivateKey(viewerKey).Fingerprint() {
		t.Error("two keys share a fingerprint")
	}
	if !(klaviyo.Credential{}).IsZero() || klaviyo.PrivateKey(" ").Kind() != klaviyo.APIKey || !klaviyo.PrivateKey(" ").IsZero() {
		t.Error("IsZero")
	}
	if got := (klaviyo.Credential{}).String(); got != "no credential" {
		t.Errorf("zero credential: %q", got)
	}
}
