// Package mask is the one way klrbac shows a credential: a mask that keeps only what Klaviyo's own
// redacted keys keep (pk_****a1b2), and a short fingerprint that tells two credentials apart. Every
// package that could show a key, a client secret or a token goes through it, so there is one rule
// to review and one to test.
//
// Four kinds of text are masked:
//   - anything shaped like a Klaviyo private key, however it was mangled on the way (any case, "_",
//     "-", "%5F", "%2D" or spaces after "pk", glued to the word before or after it);
//   - the user information of a URL ("https://user:password@host"), which holds a password or a token;
//   - anything shaped like a JSON Web Token, the form OAuth providers commonly issue;
//   - every credential this process holds (Known: role keys, client secrets, OAuth tokens), whatever
//     its shape, since Klaviyo documents no format for client secrets or tokens.
//
// InField adds a fourth for free-text fields that klrbac stores (audit reasons, resources): any run
// of 20 or more letters and digits mixing both, the shape of the opaque tokens the sandbox and
// Klaviyo issue. Output in general does not get that rule, because klrbac prints hashes and ids of
// that shape on purpose (audit checkpoints, client ids).
package mask

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// Known credentials: what this process read from the keyring, the environment or a prompt. A
// short list, replaced whole on each change so that readers (every line printed) take no lock.
var (
	knownMu sync.Mutex
	known   atomic.Pointer[knownSet]
)

// knownSet holds each credential as a string for InText and as bytes for the writer's test,
// longest first so that a credential that starts another is not masked inside it first, and in the
// order they came (order) to drop the oldest.
type knownSet struct {
	order []string
	strs  []string
	raw   [][]byte
}

// maxKnown bounds the list: a long-running process (the proxy, the sandbox) sees many tokens, and
// the newest are the ones that can still be printed.
const maxKnown = 64

// minKnown is the shortest credential masked by value: a shorter one would mask ordinary words.
const minKnown = 8

// Known adds a credential this process holds, so that InText masks it wherever it appears, shaped
// like a key or not. Values that cannot be one credential (short, or holding spaces or quotes, such
// as a keyring item holding JSON) are ignored.
func Known(secret string) {
	if len(secret) < minKnown || strings.ContainsAny(secret, " \t\r\n\"'{}") {
		return
	}
	knownMu.Lock()
	defer knownMu.Unlock()
	var list []string
	if p := known.Load(); p != nil {
		if slices.Contains(p.order, secret) {
			return
		}
		list = append(list, p.order...)
	}
	list = append(list, secret)
	if len(list) > maxKnown {
		list = list[len(list)-maxKnown:]
	}
	set := &knownSet{order: list, strs: slices.Clone(list), raw: make([][]byte, len(list))}
	slices.SortStableFunc(set.strs, func(a, b string) int { return len(b) - len(a) })
	for i, s := range set.strs {
		set.raw[i] = []byte(s)
	}
	known.Store(set)
}

// forgetAll empties the known list, for tests.
func forgetAll() {
	knownMu.Lock()
	defer knownMu.Unlock()
	known.Store(nil)
}

// InText replaces every credential in free text with its mask: private keys in any case and with
// any common separator, JSON Web Tokens, and the credentials this process holds (Known). It is
// meant for every line klrbac prints, so text without a credential costs one pass over it and no
// allocation.
func InText(s string) string {
	if p := known.Load(); p != nil {
		for _, k := range p.strs {
			if strings.Contains(s, k) {
				s = strings.ReplaceAll(s, k, Secret(k))
			}
		}
	}
	if strings.Contains(s, "://") {
		s = urlUserinfo(s)
	}
	if !mayHoldShape(s) {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i+1 < len(s); i++ {
		var end int
		var masked string
		switch c := s[i]; {
		case (c == 'p' || c == 'P') && (s[i+1] == 'k' || s[i+1] == 'K'):
			end, masked = privateKeyAt(s, i)
		case c == 'e' && strings.HasPrefix(s[i:], "eyJ"):
			end, masked = jwtAt(s, i)
		}
		if end == 0 {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:i])
		b.WriteString(masked)
		last, i = end, end-1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// InField masks a free-text field klrbac stores or shows as data (an audit reason, a resource): what
// InText masks, and any run of 20 or more letters and digits mixing both, the shape of an opaque
// OAuth token or client secret that this process never held.
func InField(s string) string {
	s = InText(s)
	start, letters, digits := -1, false, false
	var b strings.Builder
	last := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && isAlnum(s[i]) {
			if start < 0 {
				start, letters, digits = i, false, false
			}
			letters = letters || s[i] > '9'
			digits = digits || s[i] <= '9'
			continue
		}
		if start >= 0 && i-start >= 20 && letters && digits && !alreadyMasked(s, start) {
			b.WriteString(s[last:start])
			b.WriteString("****" + s[i-tail:i])
			last = i
		}
		start = -1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// alreadyMasked reports whether the run at start is the tail of a mask InText wrote ("****a1b2"):
// such a run is never 20 long, but a mask glued to the next word could be.
func alreadyMasked(s string, start int) bool { return start >= 4 && s[start-4:start] == "****" }

// urlUserinfo masks the user information of every URL in s ("https://user:password@host" becomes
// "https://****@host"): it holds a password, or a token given as a user name.
func urlUserinfo(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; ; {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			break
		}
		start := i + j + 3
		end := start
		for end < len(s) && !strings.ContainsRune("/?#@ \t\r\n\"'<>`", rune(s[end])) {
			end++
		}
		if end < len(s) && s[end] == '@' && end > start && s[start:end] != "****" {
			b.WriteString(s[last:start])
			b.WriteString("****")
			last = end
		}
		i = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// mayHoldShape is InText's quick test, run on every line klrbac prints: whether s holds "pk" in any
// case or "eyJ". It searches for the rarer letter with the standard library's vectorised search
// rather than looking at every byte.
func mayHoldShape(s string) bool {
	if strings.Contains(s, "eyJ") {
		return true
	}
	for _, k := range []byte{'k', 'K'} {
		for rest, off := s, 0; ; {
			i := strings.IndexByte(rest, k)
			if i < 0 {
				break
			}
			if at := off + i; at > 0 && (s[at-1] == 'p' || s[at-1] == 'P') {
				return true
			}
			rest, off = rest[i+1:], off+i+1
		}
	}
	return false
}

// privateKeyAt looks for a private key whose "pk" starts at i: "pk" in any case, one to four
// separators ("_", "-", a space, a tab, "%5F" or "%2D"), then a body of at least 20 letters and
// digits (underscores, hyphens and escaped ones between them allowed), with at least one digit.
// The digit keeps ordinary words out: "pk-" before a long word is not a key, while 34 random hex
// digits hold no digit once in about 10^14 keys. It returns the end of the key and its mask, or 0.
func privateKeyAt(s string, i int) (int, string) {
	j := i + 2
	for seps := 0; seps < 4 && j < len(s); seps++ {
		if n := separatorAt(s, j); n > 0 {
			j += n
			continue
		}
		break
	}
	if j == i+2 {
		return 0, ""
	}
	alnum, digits, end := 0, 0, j
	tailStart := j
	for k := j; k < len(s); {
		switch c := s[k]; {
		case isAlnum(c):
			alnum++
			if c <= '9' {
				digits++
			}
			k++
			end = k
			continue
		case c == '_' || c == '-':
			k++
			continue
		case c == '%':
			if n := separatorAt(s, k); n == 3 {
				k += n
				continue
			}
		}
		break
	}
	if alnum < 20 || digits == 0 {
		return 0, ""
	}
	// The mask keeps the last four letters or digits, as Secret does for a clean key.
	kept := make([]byte, 0, tail)
	for k := end - 1; k >= tailStart && len(kept) < tail; k-- {
		if isAlnum(s[k]) {
			kept = append(kept, s[k])
		}
	}
	for l, r := 0, len(kept)-1; l < r; l, r = l+1, r-1 {
		kept[l], kept[r] = kept[r], kept[l]
	}
	return end, keyPrefix + "****" + string(kept)
}

// separatorAt returns the length of the separator at j ("_", "-", " ", "\t", "%5F", "%2D", any
// case), or 0.
func separatorAt(s string, j int) int {
	switch s[j] {
	case '_', '-', ' ', '\t':
		return 1
	case '%':
		if j+2 < len(s) {
			h := strings.ToUpper(s[j+1 : j+3])
			if h == "5F" || h == "2D" {
				return 3
			}
		}
	}
	return 0
}

// jwtAt looks for a JSON Web Token starting at i: three base64url segments joined by dots, the
// first (its header) starting "eyJ", each at least 8 characters long.
func jwtAt(s string, i int) (int, string) {
	k := i
	for seg := 0; seg < 3; seg++ {
		start := k
		for k < len(s) && (isAlnum(s[k]) || s[k] == '-' || s[k] == '_') {
			k++
		}
		if k-start < 8 {
			return 0, ""
		}
		if seg < 2 {
			if k >= len(s) || s[k] != '.' {
				return 0, ""
			}
			k++
		}
	}
	return k, Secret(s[i:k])
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// LooksSecret reports whether a name (a role, a user, a variable name, an app, anything given where
// klrbac expects a name) looks like a credential rather than a name: a private key in any of the
// forms InText masks, a JSON Web Token, a credential this process holds, or a run of 20 or more
// letters and digits mixing both, as keys, client secrets and tokens are. Callers refuse such a
// name without repeating it, since a credential typed in the wrong place must not reach the
// terminal, the audit log or an item name.
func LooksSecret(s string) bool {
	if i := strings.Index(s, keyPrefix); i >= 0 && len(s)-i-len(keyPrefix) >= 8 {
		return true
	}
	if InText(s) != s {
		return true
	}
	run, letters, digits := 0, false, false
	for i := 0; i <= len(s); i++ {
		if i < len(s) && isAlnum(s[i]) {
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

// mayHoldURL is the writer's quick test for a URL with user information.
func mayHoldURL(p []byte) bool {
	i := bytes.Index(p, []byte("://"))
	return i >= 0 && bytes.IndexByte(p[i:], '@') >= 0
}

// Writer returns w with every write masked by InText: klrbac's stdout and stderr, so that a
// credential reaches neither whichever code path printed it. A credential split across two writes
// is not seen; klrbac writes whole lines.
func Writer(w io.Writer) io.Writer {
	if _, ok := w.(*writer); ok {
		return w
	}
	return &writer{w}
}

type writer struct{ w io.Writer }

func (m *writer) Write(p []byte) (int, error) {
	if !mayHold(p) {
		return m.w.Write(p)
	}
	s := string(p)
	if out := InText(s); out != s {
		if _, err := io.WriteString(m.w, out); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return m.w.Write(p)
}

// mayHold is the writer's test, on the bytes as written so that text without a credential costs
// no copy: whether p holds "pk" in any case, "eyJ", or a known credential.
func mayHold(p []byte) bool {
	if bytes.Contains(p, []byte("eyJ")) || mayHoldURL(p) {
		return true
	}
	for _, k := range []byte{'k', 'K'} {
		for off := 0; ; {
			i := bytes.IndexByte(p[off:], k)
			if i < 0 {
				break
			}
			if at := off + i; at > 0 && (p[at-1] == 'p' || p[at-1] == 'P') {
				return true
			}
			off += i + 1
		}
	}
	if k := known.Load(); k != nil {
		for _, s := range k.raw {
			if bytes.Contains(p, s) {
				return true
			}
		}
	}
	return false
}

// Unwrap returns the writer under the mask, for the rare output that shows a credential on purpose
// (`klrbac oauth token`) and for terminal checks.
func (m *writer) Unwrap() io.Writer { return m.w }
