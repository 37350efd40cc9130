package proxy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/mask"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func newTokenFile(t *testing.T) (*TokenFile, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 7, 20, 12, 0, 0, 0, time.UTC)}
	f, err := OpenTokenFile(filepath.Join(t.TempDir(), "state", "proxy-tokens"), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return f, clock
}

func TestTokenFileKeepsOnlyHashes(t *testing.T) {
	f, _ := newTokenFile(t)
	secret, tok, err := f.Create(context.Background(), "alice", "crm", 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, TokenPrefix) || !LooksLikeToken(secret) {
		t.Fatalf("token %s lacks the proxy token shape", mask.Secret(secret))
	}
	if strings.HasPrefix(secret, "pk_") || len(secret) < 50 {
		t.Fatalf("token %s could pass for a Klaviyo key or is short", mask.Secret(secret))
	}
	data, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), secret) || strings.Contains(string(data), secret[len(TokenPrefix):]) {
		t.Fatal("the token file holds the token itself")
	}
	if !strings.Contains(string(data), HashToken(secret)) {
		t.Fatal("the token file lacks the token's hash")
	}
	st, err := os.Stat(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", st.Mode().Perm())
	}
	if tok.User != "alice" || tok.Name != "crm" || !tok.Expires.Equal(tok.Created.Add(90*24*time.Hour)) {
		t.Fatalf("token record %+v", tok)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(f.Path()), ".proxy-tokens.*"))
	if len(leftovers) > 0 {
		t.Fatalf("temporary files left behind: %v", leftovers)
	}
}

func TestTokensSeeRevocationAndExpiry(t *testing.T) {
	f, clock := newTokenFile(t)
	ctx := context.Background()
	a1, t1, _ := f.Create(ctx, "alice", "", time.Hour)
	a2, _, _ := f.Create(ctx, "alice", "", 2*time.Hour)
	b1, _, _ := f.Create(ctx, "bob", "", time.Hour)
	live, err := NewTokens(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	state := func(secret string) string {
		tok, ok, err := live.Lookup(secret, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return "unknown"
		}
		return tok.State(clock.Now())
	}
	if s := state(a1); s != "active" {
		t.Fatalf("fresh token: %s", s)
	}
	if s := state(TokenPrefix + strings.Repeat("a", 52)); s != "unknown" {
		t.Fatalf("made-up token: %s", s)
	}
	if _, err := f.Revoke(ctx, t1.ID); err != nil {
		t.Fatal(err)
	}
	if err := live.refresh(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if s := state(a1); s != "revoked" {
		t.Fatalf("revoked by id: %s", s)
	}
	if s := state(a2); s != "active" {
		t.Fatalf("alice's other token after revoking one by id: %s", s)
	}
	if got, err := f.Revoke(ctx, "alice"); err != nil || len(got) != 1 {
		t.Fatalf("revoke by user: %v, %d revoked", err, len(got))
	}
	_ = live.refresh(context.Background(), false)
	if s := state(a2); s != "revoked" {
		t.Fatalf("revoked by user: %s", s)
	}
	clock.t = clock.t.Add(time.Hour)
	if s := state(b1); s != "expired" {
		t.Fatalf("token past its ttl: %s", s)
	}
	if _, err := f.Revoke(ctx, "nobody"); err == nil {
		t.Fatal("revoking an unknown user succeeded")
	}
	if _, err := f.Revoke(ctx, a1); err == nil || strings.Contains(err.Error(), a1) {
		t.Fatalf("revoking by the token itself: %v", err)
	}
}

func TestTokenLastUseIsWrittenBack(t *testing.T) {
	f, clock := newTokenFile(t)
	ctx := context.Background()
	secret, tok, _ := f.Create(ctx, "alice", "", time.Hour)
	live, _ := NewTokens(context.Background(), f)
	clock.t = clock.t.Add(time.Minute)
	if _, ok, _ := live.Lookup(secret, clock.Now()); !ok {
		t.Fatal("token not found")
	}
	live.flush(ctx, func(err error) { t.Error(err) })
	list, _ := f.List(ctx)
	if len(list) != 1 || list[0].ID != tok.ID || !list[0].LastUsed.Equal(clock.Now()) {
		t.Fatalf("after use: %+v", list)
	}
}

func TestDamagedTokenFileLetsNobodyIn(t *testing.T) {
	f, clock := newTokenFile(t)
	secret, _, _ := f.Create(context.Background(), "alice", "", time.Hour)
	live, _ := NewTokens(context.Background(), f)
	if err := os.WriteFile(f.Path(), []byte("<html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = live.refresh(context.Background(), false)
	if _, ok, err := live.Lookup(secret, clock.Now()); ok || err == nil {
		t.Fatalf("lookup with a damaged file: ok=%v err=%v", ok, err)
	}
}

func TestParseTTL(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "12h": 12 * time.Hour, "30m": 30 * time.Minute} {
		if got, err := ParseTTL(in); err != nil || got != want {
			t.Errorf("ParseTTL(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0d", "-1h", "soon", "5"} {
		if _, err := ParseTTL(in); err == nil {
			t.Errorf("ParseTTL(%q) accepted", in)
		}
	}
}
