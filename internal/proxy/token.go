// Package proxy is klrbac's enforcing gateway in front of Klaviyo: a caller's proxy token names a
// user, the policy maps the user to a role, the catalog names the operation a call reaches and the
// scopes it needs, and only a call whose role holds them all goes on to Klaviyo, with the role's key
// in place of the caller's token. Every decision is audited before it is answered.
package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/mask"
)

// TokenPrefix starts every proxy token. No Klaviyo credential starts so (private keys are pk_...,
// public keys six characters), so a leaked token is recognisable as klrbac's and is never mistaken
// for a key.
const TokenPrefix = "klrbac_pt_"

// tokenBytes is the token's randomness: 256 bits, so that a fast hash is enough to store it.
const tokenBytes = 32

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Token is what the store keeps of a caller's token: never the token itself, only its SHA-256.
type Token struct {
	ID       string    `json:"id"`
	User     string    `json:"user"`
	Name     string    `json:"name,omitempty"`
	Hash     string    `json:"hash"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires,omitzero"`
	LastUsed time.Time `json:"last_used,omitzero"`
	Revoked  time.Time `json:"revoked,omitzero"`
}

// State says whether a token is usable at now.
func (t Token) State(now time.Time) string {
	switch {
	case !t.Revoked.IsZero():
		return "revoked"
	case !t.Expires.IsZero() && !now.Before(t.Expires):
		return "expired"
	}
	return "active"
}

// LooksLikeToken reports whether s has the shape of a proxy token.
func LooksLikeToken(s string) bool {
	if !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	rest := s[len(TokenPrefix):]
	if len(rest) != tokenEncoding.EncodedLen(tokenBytes) {
		return false
	}
	_, err := tokenEncoding.DecodeString(strings.ToUpper(rest))
	return err == nil
}

// HashToken is the stored form of a token: hex SHA-256. Tokens carry 256 random bits, so no slow
// password hash is needed to keep a stolen file from giving them away.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func newToken() (token, id string, err error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	idb := make([]byte, 6)
	if _, err := rand.Read(idb); err != nil {
		return "", "", err
	}
	return TokenPrefix + strings.ToLower(tokenEncoding.EncodeToString(b)), "pt-" + hex.EncodeToString(idb), nil
}

// ParseTTL reads a token lifetime: a number of days ("90d") or a Go duration ("12h", "30m").
func ParseTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fault.Usagef("invalid --ttl %q: give a positive lifetime such as 90d, 12h or 30m", s)
	}
	return d, nil
}

// TokenFile keeps proxy tokens in a JSON file, mode 0600, replaced atomically on every change under
// an exclusive lock (PATH.lock), so that commands and running proxies never see half a file.
type TokenFile struct {
	path string
	now  func() time.Time
}

// OpenTokenFile returns the token file at path; nothing is created until a token is.
func OpenTokenFile(path string, now func() time.Time) (*TokenFile, error) {
	if path == "" {
		return nil, fault.Configf("no proxy token file location: neither XDG_STATE_HOME nor HOME is set").
			Hint("set KLRBAC_PROXY_TOKENS or proxy.tokens_file in the config")
	}
	if now == nil {
		now = time.Now
	}
	return &TokenFile{path: path, now: now}, nil
}

// Path is the file's location.
func (f *TokenFile) Path() string { return f.path }

type tokenDoc struct {
	Version int     `json:"version"`
	Tokens  []Token `json:"tokens"`
}

// Create makes a token for user, valid for ttl, and returns it: the one time it exists in the clear.
func (f *TokenFile) Create(ctx context.Context, user, name string, ttl time.Duration) (string, Token, error) {
	if user == "" {
		return "", Token{}, fault.Usagef("a proxy token needs a user")
	}
	if mask.LooksSecret(user) || mask.LooksSecret(name) {
		return "", Token{}, fault.Usagef("refusing a credential-shaped user or token name: it is not repeated here").
			Hint("give the user name of the policy's users: section, and a plain label for --name")
	}
	secret, id, err := newToken()
	if err != nil {
		return "", Token{}, fault.Unavailablef("cannot make a random token: %w", err)
	}
	now := f.now().UTC().Truncate(time.Second)
	t := Token{ID: id, User: user, Name: name, Hash: HashToken(secret), Created: now, Expires: now.Add(ttl)}
	err = f.update(ctx, func(doc *tokenDoc) error {
		doc.Tokens = append(doc.Tokens, t)
		return nil
	})
	if err != nil {
		return "", Token{}, err
	}
	return secret, t, nil
}

// List returns every token the file keeps, oldest first.
func (f *TokenFile) List(context.Context) ([]Token, error) {
	doc, _, err := f.read()
	if err != nil {
		return nil, err
	}
	return doc.Tokens, nil
}

// Revoke revokes the token with id ref, or else every active token of the user named ref, and
// returns what it revoked. Revoked tokens stay listed, so an audit entry's token can still be named.
func (f *TokenFile) Revoke(ctx context.Context, ref string) ([]Token, error) {
	var out []Token
	err := f.update(ctx, func(doc *tokenDoc) error {
		now := f.now().UTC().Truncate(time.Second)
		byID := slices.IndexFunc(doc.Tokens, func(t Token) bool { return t.ID == ref })
		for i := range doc.Tokens {
			t := &doc.Tokens[i]
			if (byID >= 0 && i == byID) || (byID < 0 && t.User == ref) {
				if t.Revoked.IsZero() {
					t.Revoked = now
					out = append(out, *t)
				}
			}
		}
		if len(out) == 0 {
			if byID >= 0 {
				return fault.Usagef("proxy token %s is already revoked", ref)
			}
			if mask.LooksSecret(ref) || LooksLikeToken(ref) {
				return fault.Usagef("no proxy token or user by that name: it looks like a credential, so it is not repeated here").
					Hint("revoke by the token's id (`klrbac proxy token list` shows them) or by user name")
			}
			return fault.Usagef("no active proxy token has id or user %q", ref).Hint("`klrbac proxy token list` shows them")
		}
		return nil
	})
	return out, err
}

// Touch records when tokens were last used (by id). Tokens revoked or removed since are skipped.
func (f *TokenFile) Touch(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return f.update(ctx, func(doc *tokenDoc) error {
		for i := range doc.Tokens {
			if at, ok := used[doc.Tokens[i].ID]; ok && at.After(doc.Tokens[i].LastUsed) {
				doc.Tokens[i].LastUsed = at.UTC().Truncate(time.Second)
			}
		}
		return nil
	})
}

// stamp identifies a version of the file cheaply, so a running proxy rereads it only when it changed.
type stamp struct {
	mod  time.Time
	size int64
	ino  uint64
}

func (f *TokenFile) read() (tokenDoc, stamp, error) {
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return tokenDoc{Version: 1}, stamp{}, nil
	}
	if err != nil {
		return tokenDoc{}, stamp{}, fault.Unavailablef("cannot read the proxy token file: %w", err)
	}
	var st stamp
	if fi, err := os.Stat(f.path); err == nil {
		st = stampOf(fi)
	}
	var doc tokenDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil || doc.Version != 1 {
		return tokenDoc{}, stamp{}, fault.Unavailablef("the proxy token file %s is damaged: not a klrbac token file", f.path).
			Hint("move it aside and create the tokens again with `klrbac proxy token create`")
	}
	return doc, st, nil
}

func (f *TokenFile) update(ctx context.Context, change func(*tokenDoc) error) error {
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fault.Unavailablef("cannot create the proxy token directory: %w", err)
	}
	lock := flock.New(f.path + ".lock")
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ok, err := lock.TryLockContext(lctx, 20*time.Millisecond)
	if err != nil || !ok {
		return fault.Unavailablef("the proxy token file %s is locked by another klrbac", f.path).
			Hint("retry when the other klrbac is done")
	}
	defer func() { _ = lock.Unlock() }()
	doc, _, err := f.read()
	if err != nil {
		return err
	}
	if err := change(&doc); err != nil {
		return err
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(f.path, append(data, '\n'))
}

// writeFileAtomic replaces path with data so that a reader, or a crash, sees the old file or the new
// one, never a mix: a private temporary file in the same directory, synced, then renamed over it.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fault.Unavailablef("cannot write the proxy token file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.Write(data)
		if err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fault.Unavailablef("cannot write the proxy token file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Tokens is a running proxy's view of the token file: looked up in memory, reread whenever the file
// changes (checked every interval), so a revocation takes effect within it.
type Tokens struct {
	file *TokenFile

	mu     sync.RWMutex
	byHash map[string]Token
	stamp  stamp
	err    error

	usedMu sync.Mutex
	used   map[string]time.Time
}

// NewTokens loads the file once.
func NewTokens(file *TokenFile) (*Tokens, error) {
	t := &Tokens{file: file, used: map[string]time.Time{}}
	if err := t.refresh(true); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Tokens) refresh(force bool) error {
	if !force {
		fi, err := os.Stat(t.file.path)
		var st stamp
		if err == nil {
			st = stampOf(fi)
		}
		t.mu.RLock()
		same := st == t.stamp && t.err == nil
		t.mu.RUnlock()
		if same {
			return nil
		}
	}
	doc, st, err := t.file.read()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		// A file that cannot be read lets nobody in until it can: revocations must not be lost.
		t.byHash, t.err = nil, err
		return err
	}
	t.byHash = make(map[string]Token, len(doc.Tokens))
	for _, tok := range doc.Tokens {
		t.byHash[tok.Hash] = tok
	}
	t.stamp, t.err = st, nil
	return nil
}

// Watch rereads the file whenever it changes, every interval, until ctx ends; last-use times are
// written back every flushEvery and when ctx ends.
func (t *Tokens) Watch(ctx context.Context, interval, flushEvery time.Duration, onError func(error)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	lastFlush := time.Now()
	for {
		select {
		case <-ctx.Done():
			t.flush(context.WithoutCancel(ctx), onError)
			return
		case <-tick.C:
			if err := t.refresh(false); err != nil && onError != nil {
				onError(err)
			}
			if time.Since(lastFlush) >= flushEvery {
				t.flush(ctx, onError)
				lastFlush = time.Now()
			}
		}
	}
}

func (t *Tokens) flush(ctx context.Context, onError func(error)) {
	t.usedMu.Lock()
	used := t.used
	t.used = map[string]time.Time{}
	t.usedMu.Unlock()
	if err := t.file.Touch(ctx, used); err != nil && onError != nil {
		onError(fmt.Errorf("last-use times not saved: %w", err))
	}
}

// Err is why the token file could not be read at its last change, nil when it could.
func (t *Tokens) Err() error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.err
}

// Lookup finds the token a caller presented. It answers the stored record even when the token is
// expired or revoked, so that the caller is told which; ok is false for a token nobody issued.
func (t *Tokens) Lookup(presented string, now time.Time) (Token, bool, error) {
	h := HashToken(presented)
	t.mu.RLock()
	tok, ok := t.byHash[h]
	err := t.err
	t.mu.RUnlock()
	if err != nil {
		return Token{}, false, err
	}
	// The map lookup is by hash; comparing again in constant time costs nothing and keeps the check
	// honest should the index ever be keyed otherwise.
	if !ok || subtle.ConstantTimeCompare([]byte(tok.Hash), []byte(h)) != 1 {
		return Token{}, false, nil
	}
	if tok.State(now) == "active" {
		t.usedMu.Lock()
		t.used[tok.ID] = now
		t.usedMu.Unlock()
	}
	return tok, true, nil
}
