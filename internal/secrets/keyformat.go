package secrets

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/klrbac/klrbac/internal/apikey"
	"github.com/klrbac/klrbac/internal/fault"
)

// maxInput bounds what is read as a key or secret: enough for any credential, small enough that
// piping a wrong file in fails at once.
const maxInput = 4096

// Key is a Klaviyo private API key that has the right form.
type Key struct {
	Secret Secret
	// AccountID is the 6-character account id newer keys carry (pk_<account>_<digits>), else "".
	// Keys of one account share its rate limits.
	AccountID string
}

// FormatError says why a value is not the credential expected, without repeating the value.
type FormatError struct {
	Reason string
	Advice string
}

func (e *FormatError) Error() string { return e.Reason }

// Fault classifies e, prefixed with where the value came from (e.g. "KLAVIYO_KEY_MARKETER"), if
// anywhere: an argument-like input is a usage error, a variable a configuration error.
func (e *FormatError) Fault(kind fault.Kind, origin string) *fault.Error {
	msg := e.Reason
	if origin != "" {
		msg = origin + ": " + msg
	}
	return fault.New(kind, "%s", msg).Hint(e.Advice)
}

const keyAdvice = "a private key is " + apikey.PrivateForm + "; copy it from Klaviyo's Settings > API keys"

// ParseKey checks that input, with surrounding whitespace trimmed, is a Klaviyo private API key
// (apikey.ParsePrivate: "pk_" and 34 lowercase hex digits, or "pk_", a 6-character account id, "_"
// and 34 hex digits). Its errors (*FormatError) say what the input looks like instead, with advice
// for someone pasting a key, and never contain it.
func ParseKey(input string) (Key, error) {
	s := strings.TrimSpace(input)
	if err := checkShape(s, "a key"); err != nil {
		return Key{}, err
	}
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "klaviyo-api-key"):
		return Key{}, &FormatError{"this is an Authorization header value, not a key alone",
			"give the key alone, without the Klaviyo-API-Key prefix"}
	case strings.HasPrefix(lower, "bearer "):
		return Key{}, &FormatError{"this looks like an OAuth access token, not a private API key",
			"OAuth tokens are for OAuth apps (klrbac oauth); a role needs a private API key: " + keyAdvice}
	case strings.ContainsFunc(s, isSpaceOrControl):
		return Key{}, &FormatError{"a key has no spaces, line breaks or control characters inside it",
			"give the key alone, on one line"}
	}
	if !strings.HasPrefix(s, apikey.PrivatePrefix) {
		switch {
		case strings.HasPrefix(lower, apikey.PrivatePrefix):
			// PK_... is a private key that went through upper case (a caps-lock, a spreadsheet), not
			// a token: say so, or its owner goes looking for an OAuth app.
			return Key{}, &FormatError{"this looks like a private API key typed in upper case: Klaviyo's keys start with a lowercase pk_",
				"copy the key again from Klaviyo's Settings > API keys rather than retyping it; " + keyAdvice}
		case apikey.IsPublic(s):
			return Key{}, &FormatError{"this looks like a 6-character public key (site id), not a private API key",
				"public keys identify an account in client-side calls and grant nothing; " + keyAdvice}
		case looksLikeToken(s):
			return Key{}, &FormatError{"this looks like an OAuth token, not a private API key",
				"OAuth tokens are for OAuth apps (klrbac oauth); a role needs a private API key: " + keyAdvice}
		}
	}
	p, err := apikey.ParsePrivate(s)
	if err != nil {
		return Key{}, &FormatError{"not a Klaviyo private API key: " + err.Error(), keyAdvice}
	}
	return Key{Secret: NewSecret(s), AccountID: p.Account}, nil
}

// ParseClientSecret checks that input, trimmed, can be an OAuth client secret. Klaviyo documents no
// format for them, so only what cannot be one is refused: nothing, whitespace inside, control
// characters, a private API key pasted by mistake.
func ParseClientSecret(input string) (Secret, error) {
	s := strings.TrimSpace(input)
	if err := checkShape(s, "a client secret"); err != nil {
		return Secret{}, err
	}
	if strings.ContainsFunc(s, isSpaceOrControl) {
		return Secret{}, &FormatError{"a client secret has no spaces, line breaks or control characters inside it",
			"give the secret alone, on one line"}
	}
	if _, err := ParseKey(s); err == nil {
		return Secret{}, &FormatError{"this is a Klaviyo private API key, not an OAuth client secret",
			"store it for a role with `klrbac keys set ROLE`; the client secret is on the OAuth app's page in Klaviyo"}
	}
	if len(s) < 8 {
		return Secret{}, &FormatError{fmt.Sprintf("too short to be an OAuth client secret (%d characters)", len(s)),
			"copy the client secret from the OAuth app's page in Klaviyo"}
	}
	return NewSecret(s), nil
}

func checkShape(s, what string) error {
	switch {
	case s == "":
		return &FormatError{"no " + strings.TrimPrefix(strings.TrimPrefix(what, "a "), "an ") + " given: the input is empty",
			"type or paste it at the prompt, or pipe it on standard input"}
	case len(s) > maxInput:
		return &FormatError{fmt.Sprintf("the input is too long to be %s (%d bytes)", what, len(s)),
			"give the credential alone, not a file holding other text"}
	}
	return nil
}

// looksLikeToken matches long opaque strings of token characters: what an OAuth access or refresh
// token looks like, as opposed to a private key.
func looksLikeToken(s string) bool {
	if len(s) < 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("-._~+/=", rune(c)) {
			return false
		}
	}
	return true
}

func isSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
