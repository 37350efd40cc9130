// Package apikey is the form of Klaviyo's API keys, defined once for every place klrbac reads one
// (the keyring and environment, the sandbox's fixtures): private keys, "pk_" and 34 lowercase
// hexadecimal digits or, since mid-2026, "pk_", the account's 6-character id, "_" and 34 digits;
// and public keys, the account's 6-character id itself (its site id). It depends on nothing but
// the standard library's string handling, so any package may use it.
package apikey

import (
	"strconv"
	"strings"
)

const (
	// PrivatePrefix starts every private key.
	PrivatePrefix = "pk_"
	// PublicLen is the length of a public key, which is also the account's id.
	PublicLen = 6
	// privateDigits is the count of hexadecimal digits that end a private key.
	privateDigits = 34
)

// PrivateForm describes a private key's two forms, for hints.
const PrivateForm = "pk_ followed by 34 lowercase hexadecimal digits (newer keys: pk_, a 6-character account id, _ and 34 digits)"

// Private is what a well-formed private key says about itself.
type Private struct {
	// Account is the account id a newer key carries (pk_<account>_<digits>); "" in older keys.
	// Keys of one account share its rate limits.
	Account string
}

// FormatError says why a value is not a private key. It never contains the value.
type FormatError struct{ Reason string }

func (e *FormatError) Error() string { return e.Reason }

// ParsePrivate checks s, exactly as given, against the two forms of a private key.
func ParsePrivate(s string) (Private, error) {
	body, ok := strings.CutPrefix(s, PrivatePrefix)
	if !ok {
		return Private{}, &FormatError{"private keys start with " + PrivatePrefix}
	}
	switch {
	case len(body) == privateDigits && lowerHex(body):
		return Private{}, nil
	case len(body) == PublicLen+1+privateDigits && body[PublicLen] == '_' &&
		IsPublic(body[:PublicLen]) && lowerHex(body[PublicLen+1:]):
		return Private{Account: body[:PublicLen]}, nil
	}
	digits := body
	if len(body) > PublicLen && body[PublicLen] == '_' {
		digits = body[PublicLen+1:]
		if !IsPublic(body[:PublicLen]) {
			return Private{}, &FormatError{"the account id after " + PrivatePrefix + " must be 6 letters or digits"}
		}
	}
	// Folded to lower case, digits that pass were typed in upper case; others are not hexadecimal.
	if len(digits) == privateDigits && lowerHex(strings.ToLower(digits)) {
		return Private{}, &FormatError{"its digits must be lowercase hexadecimal"}
	}
	return Private{}, &FormatError{"expected " + strconv.Itoa(privateDigits) + " hexadecimal digits after " + PrivatePrefix +
		" (or after the account id), got " + strconv.Itoa(len(digits)) + " characters"}
}

// IsPrivate reports whether s is a well-formed private key.
func IsPrivate(s string) bool {
	_, err := ParsePrivate(s)
	return err == nil
}

// IsPublic reports whether s has the form of a public key, which is also an account's id: 6
// letters and digits.
func IsPublic(s string) bool {
	if len(s) != PublicLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// lowerHex reports whether s is all lowercase hexadecimal digits.
func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
