package pgtokens

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/pgtest"
	"github.com/klrbac/klrbac/internal/proxy"
	"github.com/klrbac/klrbac/internal/sandbox"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// open is one machine's view of the database: a pool of its own, as another proxy or an admin's
// klrbac has.
func open(t *testing.T, dsn string, now func() time.Time) (*pgstore.Store, *Store) {
	t.Helper()
	db, err := pgstore.Open(dsn, pgstore.Options{Host: "test-host"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db, Open(db, Options{Now: now})
}

func query[T any](t *testing.T, dsn, sql string) []T {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[T])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTokensInPostgreSQL(t *testing.T) {
	dsn := pgtest.DSN(t)
	now := time.Date(2026, 7, 20, 12, 0, 0, 0, time.UTC)
	db, s := open(t, dsn, func() time.Time { return now })
	ctx := context.Background()
	a1, t1, err := s.Create(ctx, "alice", "crm", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a2, _, err := s.Create(ctx, "alice", "", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, "bob", "", time.Hour); err != nil {
		t.Fatal(err)
	}
	if !proxy.LooksLikeToken(a1) || t1.Hash != proxy.HashToken(a1) || !t1.Expires.Equal(t1.Created.Add(time.Hour)) || t1.Name != "crm" {
		t.Fatalf("token record %+v", t1)
	}
	// Only hashes are kept.
	for _, row := range query[string](t, dsn, `SELECT row_to_json(p)::text FROM proxy_tokens p`) {
		if strings.Contains(row, a1) || strings.Contains(row, a2) || strings.Contains(row, a1[len(proxy.TokenPrefix):]) {
			t.Fatal("the database holds a token itself")
		}
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 3 || list[0].ID != t1.ID || list[2].User != "bob" || list[0] != t1 {
		t.Fatalf("list %+v, %v; want the three tokens oldest first, the first as created", list, err)
	}

	// Revoking by id takes that token; by user, the user's active ones; the same answers as the file.
	v0, _ := s.Version(ctx)
	now = now.Add(time.Minute)
	got, err := s.Revoke(ctx, t1.ID)
	if err != nil || len(got) != 1 || got[0].ID != t1.ID || !got[0].Revoked.Equal(now) {
		t.Fatalf("revoke by id: %+v, %v", got, err)
	}
	if v1, _ := s.Version(ctx); v1 == v0 {
		t.Error("a revoke left the version as it was: running proxies would not see it")
	}
	if _, err := s.Revoke(ctx, t1.ID); err == nil || !strings.Contains(err.Error(), "already revoked") || fault.KindOf(err) != fault.Usage {
		t.Errorf("revoking a revoked token: %v", err)
	}
	if got, err := s.Revoke(ctx, "alice"); err != nil || len(got) != 1 || got[0].ID == t1.ID {
		t.Fatalf("revoke by user: %+v, %v", got, err)
	}
	if _, err := s.Revoke(ctx, "alice"); err == nil || !strings.Contains(err.Error(), `no active proxy token has id or user "alice"`) {
		t.Errorf("revoking a user without active tokens: %v", err)
	}
	if _, err := s.Revoke(ctx, a2); err == nil || strings.Contains(err.Error(), a2) {
		t.Errorf("revoking by the token itself: %v", err)
	}
	if _, _, err := s.Create(ctx, "pk_aca7bfb2d9ad79ac7d242973a9ed4d4343", "", time.Hour); fault.KindOf(err) != fault.Usage {
		t.Errorf("a credential-shaped user: %v", err)
	}

	// Last use is kept; an earlier time does not replace a later one.
	used := now.Add(time.Second)
	if err := s.Touch(ctx, map[string]time.Time{t1.ID: used}); err != nil {
		t.Fatal(err)
	}
	if err := s.Touch(ctx, map[string]time.Time{t1.ID: used.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	list, _ = s.List(ctx)
	if !list[0].LastUsed.Equal(used) {
		t.Errorf("last used %v, want %v", list[0].LastUsed, used)
	}

	// The tokens migrate as a component of their own, beside the audit trail's.
	if _, err := db.Append(ctx, audit.Entry{UserID: "tester", Action: "check"}); err != nil {
		t.Fatal(err)
	}
	comps := query[string](t, dsn, `SELECT component || ' ' || version FROM schema_migrations ORDER BY component`)
	if strings.Join(comps, ",") != "audit 1,proxy_tokens 1" {
		t.Errorf("schema_migrations %v", comps)
	}
}

// A database that cannot be reached lets nobody in: a revocation must never be missed.
func TestUnreachableDatabaseLetsNobodyIn(t *testing.T) {
	dsn := pgtest.DSN(t)
	_, s := open(t, dsn, nil)
	ctx := context.Background()
	secret, _, err := s.Create(ctx, "alice", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	live, err := proxy.NewTokens(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := live.Lookup(secret, time.Now()); !ok || err != nil {
		t.Fatalf("lookup: %v, %v", ok, err)
	}
	// The version table gone stands for a database that cannot answer.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `ALTER TABLE proxy_token_version RENAME TO moved`); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); live.Watch(wctx, 20*time.Millisecond, time.Hour, nil) }()
	defer func() { stop(); <-done }()
	waitFor(t, "the failed poll", func() bool { return live.Err() != nil })
	if _, ok, err := live.Lookup(secret, time.Now()); ok || err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("lookup with the database gone: ok=%v err=%v", ok, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	// A bound that only keeps a broken watcher from hanging the run: not a timing assertion.
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two proxies on one database accept the same tokens, record to the same trail, and both refuse a
// token that an admin elsewhere revokes, at their next poll.
func TestProxiesShareTokensAndRevocations(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sb := httptest.NewServer(sandbox.New(nil, sandbox.Options{}))
	defer sb.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "klrbac.yaml")
	if err := os.WriteFile(cfg, []byte("keyring:\n  backend: \"off\"\nusers:\n  alice: viewer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(name string) string {
		if name == "KLAVIYO_KEY_VIEWER" {
			return "pk_2cfe4e666cee9366c8d0c7eaf2911a6936"
		}
		return ""
	}
	var addrs []string
	var wg sync.WaitGroup
	for i := range 2 {
		db, tokens := open(t, dsn, nil)
		ready := make(chan string, 1)
		wg.Go(func() {
			err := proxy.Run(ctx, proxy.RunOptions{
				Listen: "127.0.0.1:0", Upstream: sb.URL, AuditStore: db, AuditLog: db.Where(), Tokens: tokens,
				TokensFile: filepath.Join(dir, "unused"), Actor: "proxy-" + string(rune('a'+i)),
				Loader: proxy.Loader{Config: config.Options{File: cfg}, Getenv: getenv},
				Stderr: io.Discard, Ready: func(addr string) { ready <- addr },
			})
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("proxy %d: %v", i, err)
			}
		})
		select {
		case a := <-ready:
			addrs = append(addrs, a)
		case <-time.After(30 * time.Second):
			t.Fatal("a proxy did not start")
		}
	}
	defer wg.Wait()
	defer cancel()

	// An admin elsewhere makes a token.
	_, admin := open(t, dsn, nil)
	secret, tok, err := admin.Create(ctx, "alice", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	call := func(addr string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/profiles", nil)
		req.Header.Set("Authorization", "Klaviyo-API-Key "+secret)
		req.Header.Set("revision", "2026-07-15")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, addr := range addrs {
		waitFor(t, "the new token to reach "+addr, func() bool { code, _ := call(addr); return code == 200 })
	}
	if _, err := admin.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for _, addr := range addrs {
		waitFor(t, "the revocation to reach "+addr, func() bool {
			code, body := call(addr)
			return code == 401 && strings.Contains(body, "is revoked")
		})
	}
	t.Logf("both proxies refused the revoked token %s after the revoke", time.Since(revoked).Round(time.Millisecond))

	// Every call of both proxies is in the one trail, which verifies.
	lines := query[string](t, dsn, `SELECT line FROM audit_entries ORDER BY seq`)
	rep, err := audit.Verify(strings.NewReader(strings.Join(lines, "\n")+"\n"), audit.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("the shared trail: %v %+v", err, rep)
	}
	var allowed, refused int
	for _, l := range lines {
		e, err := audit.ParseLine([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case e.Success && e.UserID == "alice":
			allowed++
		case strings.Contains(e.Reason, "revoked proxy token "+tok.ID):
			refused++
		}
		if strings.Contains(l, secret) {
			t.Fatal("a token reached the audit trail")
		}
	}
	if allowed < 2 || refused < 2 {
		t.Errorf("%d allowed and %d refused calls recorded, want both proxies' of each", allowed, refused)
	}
}

// An unreachable database's error names it without its password, and the driver's own words
// (failed to connect to `user=... database=...`) pass through the audit store's redaction. (The
// URL's user part is masked where klrbac prints, with every URL's.)
func TestUnreachableDatabaseErrorsHideTheUser(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // a port nobody listens on
	db, err := pgstore.Open("postgres://tokenkeeper-7731:pw-canary-7731@"+addr+"/audit?connect_timeout=5", pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Open(db, Options{}).List(context.Background())
	if err == nil || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "user=tokenkeeper-7731") || strings.Contains(err.Error(), "pw-canary-7731") {
		t.Fatalf("listing tokens in an unreachable database: %v", err)
	}
}
