package klaviyo

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/klrbac/klrbac/internal/mask"
)

// CredentialKind says how a credential authenticates to Klaviyo.
type CredentialKind int

const (
	// NoCredential is the zero Credential: the request carries no Authorization header.
	NoCredential CredentialKind = iota
	// APIKey is a private API key, sent as "Authorization: Klaviyo-API-Key pk_...".
	APIKey
	// AccessToken is an OAuth access token, sent as "Authorization: Bearer ...".
	AccessToken
)

func (k CredentialKind) String() string {
	switch k {
	case APIKey:
		return "private key"
	case AccessToken:
		return "access token"
	}
	return "no credential"
}

// Credential is a secret that authenticates a request. It keeps the secret to itself: every way of
// printing, formatting, logging or marshalling it shows a mask and a fingerprint, never the secret.
//
// The secret is kept inside a function: fmt's reflection, which skips String and Format on
// unexported fields of an enclosing struct, prints a function as an address and never calls it.
type Credential struct {
	kind CredentialKind
	get  func() string
}

func hold(secret string) func() string { return func() string { return secret } }

// PrivateKey returns a credential for a Klaviyo private API key (pk_...).
func PrivateKey(key string) Credential {
	return Credential{kind: APIKey, get: hold(strings.TrimSpace(key))}
}

// BearerToken returns a credential for an OAuth access token.
func BearerToken(token string) Credential {
	return Credential{kind: AccessToken, get: hold(strings.TrimSpace(token))}
}

func (c Credential) secret() string {
	if c.get == nil {
		return ""
	}
	return c.get()
}

// Kind says whether c is a private key, an access token or nothing.
func (c Credential) Kind() CredentialKind { return c.kind }

// IsZero reports whether c carries no secret.
func (c Credential) IsZero() bool { return c.kind == NoCredential || c.secret() == "" }

// Mask shows c the way klrbac prints secrets: pk_****a1b2 for a key, ****a1b2 for a token.
func (c Credential) Mask() string { return mask.Secret(c.secret()) }

// Fingerprint is a short SHA-256 fingerprint of the secret: enough to tell two secrets apart, of
// no use in recovering either.
func (c Credential) Fingerprint() string { return mask.Fingerprint(c.secret()) }

// String returns the mask and the fingerprint, e.g. "pk_****a1b2 sha256:1f2e3d4c".
func (c Credential) String() string {
	if c.IsZero() {
		return "no credential"
	}
	return c.Mask() + " sha256:" + c.Fingerprint()
}

// GoString keeps %#v from printing the struct's fields.
func (c Credential) GoString() string { return "klaviyo.Credential{" + c.String() + "}" }

// Format makes every fmt verb print the mask, so %v, %+v, %#v, %s, %q and %x alike are safe.
func (c Credential) Format(f fmt.State, verb rune) {
	switch verb {
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, c.GoString())
			return
		}
		fmt.Fprint(f, c.String())
	case 'q':
		fmt.Fprintf(f, "%q", c.String())
	default:
		fmt.Fprint(f, c.String())
	}
}

// MarshalText keeps JSON, YAML and text encoders from writing the secret.
func (c Credential) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// LogValue keeps log/slog from writing the secret.
func (c Credential) LogValue() slog.Value { return slog.StringValue(c.String()) }

// authorization is the Authorization header value: the only place the secret leaves c.
func (c Credential) authorization() string {
	switch c.kind {
	case APIKey:
		return "Klaviyo-API-Key " + c.secret()
	case AccessToken:
		return "Bearer " + c.secret()
	}
	return ""
}
