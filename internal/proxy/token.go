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
	// The base32 alphabet in either case, checked without decoding: this runs on every call.
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '2' && c <= '7':
		default:
			return false
		}
	}
	return true
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

// NewToken makes a token for user, valid for ttl from now, and the record a store keeps of it. It
// refuses what a store must not keep: no user, or a credential where a name belongs.
func NewToken(user, name string, ttl time.Duration, now time.Time) (string, Token, error) {
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
	now = now.UTC().Truncate(time.Second)
	return secret, Token{ID: id, User: user, Name: name, Hash: HashToken(secret), Created: now, Expires: now.Add(ttl)}, nil
}

// ToRevoke picks what revoking ref takes among tokens: the token with id ref, or else every token of
// the user named ref that is not revoked yet. It says why when that is nothing, without repeating a
// ref shaped like a credential.
func ToRevoke(tokens []Token, ref string) ([]int, error) {
	byID := slices.IndexFunc(tokens, func(t Token) bool { return t.ID == ref })
	var out []int
	for i, t := range tokens {
		if ((byID >= 0 && i == byID) || (byID < 0 && t.User == ref)) && t.Revoked.IsZero() {
			out = append(out, i)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if byID >= 0 {
		return nil, fault.Usagef("proxy token %s is already revoked", ref)
	}
	if mask.LooksSecret(ref) || LooksLikeToken(ref) {
		return nil, fault.Usagef("no proxy token or user by that name: it looks like a credential, so it is not repeated here").
			Hint("revoke by the token's id (`klrbac proxy token list` shows them) or by user name")
	}
	return nil, fault.Usagef("no active proxy token has id or user %q", ref).Hint("`klrbac proxy token list` shows them")
}

// TokenStore keeps proxy tokens, as hashes: the file, or the team audit trail's database, which
// several proxies share. Every method is safe for concurrent use, also across processes.
type TokenStore interface {
	// Create makes a token for user, valid for ttl, and returns it: the one time it exists in the clear.
	Create(ctx context.Context, user, name string, ttl time.Duration) (string, Token, error)
	// List returns every token kept, oldest first.
	List(ctx context.Context) ([]Token, error)
	// Revoke revokes what ToRevoke picks and returns it. Revoked tokens stay listed, so that an
	// audit entry's token can still be named.
	Revoke(ctx context.Context, ref string) ([]Token, error)
	// Touch records when tokens (by id) were last used.
	Touch(ctx context.Context, used map[string]time.Time) error
	// Version changes whenever a token is created or revoked: a running proxy polls it, cheaply, and
	// lists the tokens again only when it changed.
	Version(ctx context.Context) (string, error)
	// Where names the store in messages: a file's path, a database without its password.
	Where() string
}

var _ TokenStore = (*TokenFile)(nil)

// Create makes a token for user, valid for ttl, and returns it: the one time it exists in the clear.
func (f *TokenFile) Create(ctx context.Context, user, name string, ttl time.Duration) (string, Token, error) {
	secret, t, err := NewToken(user, name, ttl, f.now())
	if err != nil {
		return "", Token{}, err
	}
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
	doc, err := f.read()
	if err != nil {
		return nil, err
	}
	return doc.Tokens, nil
}

// Revoke revokes the token with id ref, or else every active token of the user named ref, and
// returns what it revoked.
func (f *TokenFile) Revoke(ctx context.Context, ref string) ([]Token, error) {
	var out []Token
	err := f.update(ctx, func(doc *tokenDoc) error {
		pick, err := ToRevoke(doc.Tokens, ref)
		if err != nil {
			return err
		}
		now := f.now().UTC().Truncate(time.Second)
		for _, i := range pick {
			doc.Tokens[i].Revoked = now
			out = append(out, doc.Tokens[i])
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

// Where is the file's path.
func (f *TokenFile) Where() string { return f.path }

// stamp identifies a version of the file cheaply, so a running proxy rereads it only when it changed.
type stamp struct {
	mod  time.Time
	size int64
	ino  uint64
}

// Version is the file's stamp: its modification time, size and inode, which an atomic replacement
// changes even within the modification time's resolution. No file yet is a version too.
func (f *TokenFile) Version(context.Context) (string, error) {
	fi, err := os.Stat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "none", nil
	}
	if err != nil {
		return "", fault.Unavailablef("cannot read the proxy token file: %w", err)
	}
	st := stampOf(fi)
	return fmt.Sprintf("%d/%d/%d", st.mod.UnixNano(), st.size, st.ino), nil
}

func (f *TokenFile) read() (tokenDoc, error) {
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return tokenDoc{Version: 1}, nil
	}
	if err != nil {
		return tokenDoc{}, fault.Unavailablef("cannot read the proxy token file: %w", err)
	}
	var doc tokenDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil || doc.Version != 1 {
		return tokenDoc{}, fault.Unavailablef("the proxy token file %s is damaged: not a klrbac token file", f.path).
			Hint("move it aside and create the tokens again with `klrbac proxy token create`")
	}
	return doc, nil
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
	doc, err := f.read()
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

// Tokens is a running proxy's view of its token store: looked up in memory, listed again whenever
// the store's version changes (polled every interval), so a revocation takes effect within it.
type Tokens struct {
	store TokenStore

	mu      sync.RWMutex
	byHash  map[string]Token
	version string
	err     error

	usedMu sync.Mutex
	used   map[string]time.Time
}

// NewTokens lists the store's tokens once.
func NewTokens(ctx context.Context, store TokenStore) (*Tokens, error) {
	t := &Tokens{store: store, used: map[string]time.Time{}}
	if err := t.refresh(ctx, true); err != nil {
		return nil, err
	}
	return t, nil
}

// Store is the store the tokens come from.
func (t *Tokens) Store() TokenStore { return t.store }

func (t *Tokens) refresh(ctx context.Context, force bool) error {
	// The version is read before the list, so that a change in between is listed again next time.
	v, err := t.store.Version(ctx)
	if err == nil && !force {
		t.mu.RLock()
		same := v == t.version && t.err == nil
		t.mu.RUnlock()
		if same {
			return nil
		}
	}
	var list []Token
	if err == nil {
		list, err = t.store.List(ctx)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		// A store that cannot be read lets nobody in until it can: revocations must not be lost.
		t.byHash, t.version, t.err = nil, "", err
		return err
	}
	t.byHash = make(map[string]Token, len(list))
	for _, tok := range list {
		t.byHash[tok.Hash] = tok
	}
	t.version, t.err = v, nil
	return nil
}

// Watch polls the store's version every interval, and lists the tokens again when it changed, until
// ctx ends; last-use times are written back every flushEvery and when ctx ends.
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
			if err := t.refresh(ctx, false); err != nil && onError != nil && ctx.Err() == nil {
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
	if err := t.store.Touch(ctx, used); err != nil && onError != nil {
		onError(fmt.Errorf("last-use times not saved: %w", err))
	}
}

// Err is why the token store could not be read when last polled, nil when it could.
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
