// Package secrets keeps klrbac's credentials: each role's Klaviyo private key, each OAuth app's
// client secret and token set. They live in the OS keyring (service "klrbac"), never in a file;
// environment variables override the keyring so CI jobs work without one. Every keyring call is
// bounded by a timeout, because a locked desktop keyring can wait on an unlock prompt forever, and
// every failure is classified with a hint saying what to do.
//
// A credential is only ever shown through package mask: the Secret type renders as its mask whichever
// way it is printed or encoded.
package secrets

import (
	"fmt"
	"log/slog"

	"github.com/klrbac/klrbac/internal/mask"
)

// Secret holds a credential. Printing, logging or encoding it (fmt with any verb, JSON, YAML, text,
// slog) yields its mask; only Reveal returns the value, for the one place that must send it.
type Secret struct{ value string }

// NewSecret wraps value, and tells package mask about it (mask.Known), so that it is masked in
// anything klrbac prints or records even where its shape gives it away to no rule: Klaviyo documents
// no format for client secrets and tokens.
func NewSecret(value string) Secret {
	mask.Known(value)
	return Secret{value: value}
}

// Reveal returns the credential itself: for an Authorization header or the keyring, nothing else.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether s holds nothing.
func (s Secret) IsZero() bool { return s.value == "" }

// Masked is the value's mask (see package mask).
func (s Secret) Masked() string { return mask.Secret(s.value) }

// Fingerprint is the value's fingerprint (see package mask).
func (s Secret) Fingerprint() string { return mask.Fingerprint(s.value) }

// Described shows a credential the only way klrbac shows one, "pk_****a1b2 (fingerprint
// 0c1d2e3f)", and no credential as "none".
func (s Secret) Described() string { return s.described(" (fingerprint ", ")") }

// Noted is Described for text already in brackets: "pk_****a1b2, fingerprint 0c1d2e3f".
func (s Secret) Noted() string { return s.described(", fingerprint ", "") }

func (s Secret) described(before, after string) string {
	if s.IsZero() {
		return "none"
	}
	return s.Masked() + before + s.Fingerprint() + after
}

// Equal reports whether two secrets hold the same value.
func (s Secret) Equal(o Secret) bool { return s.value == o.value }

func (s Secret) String() string   { return s.Masked() }
func (s Secret) GoString() string { return fmt.Sprintf("secrets.Secret(%q)", s.Masked()) }

// Format makes every fmt verb (%v, %s, %q, %x, %#v, ...) print the mask.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.Masked())
	case 'v':
		if f.Flag('#') {
			_, _ = f.Write([]byte(s.GoString()))
			return
		}
		_, _ = f.Write([]byte(s.Masked()))
	default:
		_, _ = f.Write([]byte(s.Masked()))
	}
}

// MarshalJSON encodes the mask.
func (s Secret) MarshalJSON() ([]byte, error) { return fmt.Appendf(nil, "%q", s.Masked()), nil }

// MarshalText encodes the mask (YAML encoders and others fall back to it).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.Masked()), nil }

// MarshalYAML encodes the mask.
func (s Secret) MarshalYAML() (any, error) { return s.Masked(), nil }

// LogValue logs the mask.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.Masked()) }
