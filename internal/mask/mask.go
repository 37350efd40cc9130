// Package mask is the one way klrbac shows a credential: a mask that keeps only what Klaviyo's own
// redacted keys keep (pk_****a1b2), and a short fingerprint that tells two credentials apart. Every
// package that could show a key, a client secret or a token goes through it, so there is one rule
// to review and one to test.
package mask

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
)

// keyPrefix starts every Klaviyo private key.
const keyPrefix = "pk_"

// tail is how many trailing characters a mask keeps, as Klaviyo's redacted keys do. Values shorter
// than minLen keep none: four characters of a short secret give too much away.
const (
	tail   = 4
	minLen = 16
)

// Secret masks a credential: "pk_****" and the last four characters for a private key, "****" and the
// last four for anything else long enough, "****" alone otherwise, and "" for nothing.
func Secret(value string) string {
	v := strings.TrimSpace(value)
	if v == "" {
		return ""
	}
	prefix := ""
	if strings.HasPrefix(v, keyPrefix) {
		prefix = keyPrefix
	}
	if len(v)-len(prefix) < minLen {
		return prefix + "****"
	}
	end := v[len(v)-tail:]
	for i := 0; i < len(end); i++ {
		if end[i] <= ' ' || end[i] >= 0x7f {
			return prefix + "****"
		}
	}
	return prefix + "****" + end
}

// Fingerprint identifies a credential without revealing it: the first 8 hex digits of its SHA-256.
// Two people can compare fingerprints to know they hold the same key; the audit log records it.
func Fingerprint(value string) string {
	v := strings.TrimSpace(value)
	if v == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:4])
}

// InText replaces anything in free text shaped like a Klaviyo private key ("pk_" and at least 20
// letters, digits or underscores) with its mask, so a key pasted into a reason or a resource by
// mistake is never written out.
func InText(s string) string {
	if !strings.Contains(s, keyPrefix) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, keyPrefix)
		if i < 0 {
			break
		}
		j := i + len(keyPrefix)
		for j < len(s) && isKeyChar(s[j]) {
			j++
		}
		if j-(i+len(keyPrefix)) < 20 || (i > 0 && isKeyChar(s[i-1])) {
			b.WriteString(s[:i+len(keyPrefix)])
			s = s[i+len(keyPrefix):]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(keyPrefix + "****")
		b.WriteString(s[j-tail : j])
		s = s[j:]
	}
	b.WriteString(s)
	return b.String()
}

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// LooksSecret reports whether a name given on a command line looks like a credential rather than a
// name: a private key, or a run of 20 or more letters and digits mixing both, as keys, client
// secrets and tokens do. Commands use it to refuse such a name without repeating it, since a
// credential typed in the wrong place must not reach the terminal, the audit log or an item name.
func LooksSecret(s string) bool {
	if i := strings.Index(s, keyPrefix); i >= 0 && len(s)-i-len(keyPrefix) >= 8 {
		return true
	}
	run, letters, digits := 0, false, false
	for i := 0; i <= len(s); i++ {
		if i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9') {
			run++
			letters = letters || s[i] > '9'
			digits = digits || s[i] <= '9'
			continue
		}
		if run >= 20 && letters && digits {
			return true
		}
		run, letters, digits = 0, false, false
	}
	return false
}

// URL shows a URL by its scheme and host only: the paths and queries of webhook URLs often carry
// tokens (Slack's, for one).
func URL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
