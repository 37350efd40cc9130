package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func openTest(t *testing.T, dsn string, opts Options) *Store {
	t.Helper()
	if opts.Host == "" {
		opts.Host = "test-host"
	}
	s, err := Open(dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// connect opens a connection of the test's own, outside any Store, as a DBA would.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// dump returns the stored lines in seq order as a file log would hold them.
func dump(t *testing.T, dsn string) []byte {
	t.Helper()
	rows, err := connect(t, dsn).Query(context.Background(), `SELECT line FROM audit_entries ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		b.WriteString(l + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func exec(t *testing.T, dsn, sql string, args ...any) {
	t.Helper()
	if _, err := connect(t, dsn).Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func verifyDump(t *testing.T, dsn string, wantEntries int64) *audit.Report {
	t.Helper()
	rep, err := audit.Verify(bytes.NewReader(dump(t, dsn)), audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Entries != wantEntries {
		t.Fatalf("stored chain: %d entries (want %d), problems %+v", rep.Entries, wantEntries, rep.Problems)
	}
	return rep
}

func TestAppendChainsAndUsesTheServerClock(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openTest(t, dsn, Options{})
	ctx := context.Background()
	past := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	before := time.Now().Add(-time.Minute)
	e1, err := s.Append(ctx, audit.Entry{UserID: "ana", Role: "viewer", Action: "check", Resource: "canReadProfiles", Success: true, Timestamp: past})
	if err != nil {
		t.Fatal(err)
	}
	e2, err := s.Append(ctx, audit.Entry{UserID: "bo\x00b", Action: "keys.set", Host: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	if e1.Seq != 1 || e1.Prev != audit.Genesis || e2.Seq != 2 || e2.Prev != e1.Hash {
		t.Fatalf("chain: %+v then %+v", e1, e2)
	}
	if e1.Timestamp.Before(before) || e1.Host != "test-host" || e2.Host != "laptop" {
		t.Fatalf("entry 1 took timestamp %s (a client's clock was trusted?) and host %q; entry 2 host %q", e1.Timestamp, e1.Host, e2.Host)
	}
	got := dump(t, dsn)
	want := append(e1.MarshalLine(), e2.MarshalLine()...)
	if !bytes.Equal(got, want) {
		t.Fatalf("stored lines differ from the appended entries:\n%s\nwant\n%s", got, want)
	}
	verifyDump(t, dsn, 2)
	h, err := s.Head(ctx)
	if err != nil || h.Seq != 2 || h.Hash != e2.Hash {
		t.Fatalf("head %v, %v; want 2:%s", h, err, e2.Hash)
	}
}

// Many processes (stores with pools of their own) and many goroutines in each append at once: the
// chain has no gap and verifies.
func TestConcurrentWritersFormOneChain(t *testing.T) {
	dsn := pgtest.DSN(t)
	const stores, writers, each = 4, 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, stores*writers)
	for i := 0; i < stores; i++ {
		s := openTest(t, dsn, Options{Host: fmt.Sprintf("host-%d", i)})
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < each; k++ {
					if _, err := s.Append(context.Background(), audit.Entry{UserID: fmt.Sprintf("u%d", w), Action: "check"}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	verifyDump(t, dsn, stores*writers*each)
}

func TestConcurrentStartersMigrateOnce(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		s := openTest(t, dsn, Options{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Ready(context.Background()); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := openTest(t, dsn, Options{})
	var n int
	if err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(Migrations) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(Migrations))
	}
	applied, v, err := s.Migrate(context.Background())
	if err != nil || applied != 0 || v != Migrations[len(Migrations)-1].Version {
		t.Fatalf("migrating a migrated database: applied %d, version %d, %v", applied, v, err)
	}
}

func TestRefusesToBuildOnAnEditedTail(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openTest(t, dsn, Options{})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := s.Append(ctx, audit.Entry{UserID: "ana", Action: "check"}); err != nil {
			t.Fatal(err)
		}
	}
	exec(t, dsn, `UPDATE audit_entries SET line = replace(line, '"ana"', '"eve"') WHERE seq = 3`)
	_, err := s.Append(ctx, audit.Entry{UserID: "ana", Action: "check"})
	var de *audit.DamagedError
	if !errors.As(err, &de) || fault.KindOf(err) != fault.Unavailable || !strings.Contains(de.Reason, "seq 3") {
		t.Fatalf("append after an edit: %v", err)
	}
	if !strings.Contains(strings.Join(fault.Hints(err), "\n"), "audit verify") {
		t.Fatalf("hints %q do not point at verify", fault.Hints(err))
	}
}

func TestUnreachableFailsClosedWithoutThePassword(t *testing.T) {
	// A port nothing listens on: the connection is refused at once.
	s := openTest(t, "postgres://auditor:s3cr3t-pw@127.0.0.1:1/audit?sslmode=disable", Options{ConnectTimeout: 2 * time.Second})
	_, err := s.Append(context.Background(), audit.Entry{UserID: "ana", Action: "keys.set"})
	if err == nil || fault.KindOf(err) != fault.Unavailable {
		t.Fatalf("append to an unreachable database: %v (kind %v)", err, fault.KindOf(err))
	}
	all := err.Error() + "\n" + strings.Join(fault.Hints(err), "\n")
	if strings.Contains(all, "s3cr3t-pw") {
		t.Fatalf("the password reached the message: %s", all)
	}
	for _, want := range []string{"127.0.0.1:1", "audit.dsn", "postgres://auditor@127.0.0.1:1/audit"} {
		if !strings.Contains(all, want) {
			t.Fatalf("message does not name %q: %s", want, all)
		}
	}
}

func TestDSNIsAURLAndRedacted(t *testing.T) {
	for _, dsn := range []string{"host=db password=s3cr3t-pw", "mysql://u:s3cr3t-pw@db/x", "postgres://u:s3cr3t-pw@db:notaport/x"} {
		_, err := Open(dsn, Options{})
		if err == nil || fault.KindOf(err) != fault.Config || strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Errorf("Open(%q): %v", "…", err)
		}
	}
	if got := audit.RedactDSN("postgres://u:s3cr3t-pw@db:5433/audit?sslmode=require&password=other"); got != "postgres://u@db:5433/audit" {
		t.Errorf("Redact: %q", got)
	}
}

// Once migrated, a role with only SELECT and INSERT on the table records and reads.
func TestAppendsWithOnlySelectAndInsert(t *testing.T) {
	dsn := pgtest.DSN(t)
	owner := openTest(t, dsn, Options{})
	if _, _, err := owner.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dsn)
	role := "appender_" + strings.TrimPrefix(u.Path, "/klrbac_test_")
	exec(t, dsn, `CREATE ROLE `+role+` LOGIN`)
	t.Cleanup(func() { exec(t, dsn, `DROP OWNED BY `+role+`; DROP ROLE `+role) })
	exec(t, dsn, `GRANT SELECT, INSERT ON audit_entries TO `+role+`; GRANT SELECT ON schema_migrations TO `+role)
	limited := openTest(t, strings.Replace(dsn, "postgres://postgres@", "postgres://"+role+"@", 1), Options{})
	if _, err := limited.Append(context.Background(), audit.Entry{UserID: "ci", Action: "check"}); err != nil {
		t.Fatal(err)
	}
	verifyDump(t, dsn, 1)
	// and refuses to edit, which is the point
	conn := connect(t, strings.Replace(dsn, "postgres://postgres@", "postgres://"+role+"@", 1))
	if _, err := conn.Exec(context.Background(), `UPDATE audit_entries SET line = '' WHERE seq = 1`); err == nil {
		t.Fatal("the limited role could edit a row")
	}
}

func TestNoMigrateSaysToMigrate(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openTest(t, dsn, Options{NoMigrate: true})
	_, err := s.Append(context.Background(), audit.Entry{Action: "check"})
	if fault.KindOf(err) != fault.Unavailable || !strings.Contains(strings.Join(fault.Hints(err), " "), "klrbac audit migrate") {
		t.Fatalf("append to an unmigrated database without migrating: %v %q", err, fault.Hints(err))
	}
}

// Callers that append in a loop find the chain locked for their next batch by the previous batch's
// commit, one round trip a batch; the lock is let go as soon as they stop, so that another process
// appends at once; entries are answered as written, and their times follow their seqs.
func TestGroupCommitLocksTheNextBatchWithTheCommit(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := openTest(t, dsn, Options{Host: "a"})
	b := openTest(t, dsn, Options{Host: "b"})
	ctx := context.Background()
	var mu sync.Mutex
	written := map[uint64]audit.Entry{}
	appendB := func() error {
		e, err := b.Append(ctx, audit.Entry{UserID: "b", Action: "check"})
		mu.Lock()
		written[e.Seq] = e
		mu.Unlock()
		return err
	}
	if err := appendB(); err != nil {
		t.Fatal(err)
	}
	const writers, each, others = 16, 30, 3
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	for w := range writers {
		wg.Go(func() {
			for range each {
				e, err := a.Append(ctx, audit.Entry{UserID: fmt.Sprintf("a%d", w), Action: "check"})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				written[e.Seq] = e
				mu.Unlock()
			}
		})
	}
	// Another process appends meanwhile: it waits for the lock, never for ever.
	wg.Go(func() {
		for range others {
			if err := appendB(); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Each caller waits for its batch, so there are at least each batches, and without the lock
	// taken with the commit as many round trips to take it. (With it, a few remain: another
	// process holding the lock, a batch slow to gather on a busy machine.)
	if trips := a.lockTrips.Load(); trips >= each {
		t.Errorf("%d round trips to lock the chain for %d batches or more", trips, each)
	}
	// The lock is let go once the callers stop.
	start := time.Now()
	if err := appendB(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("an append after the burst waited %s", d)
	}
	var held int
	if err := b.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted`).Scan(&held); err != nil || held != 0 {
		t.Errorf("advisory locks held after the burst: %d %v", held, err)
	}
	verifyDump(t, dsn, writers*each+others+2)
	var last time.Time
	for _, l := range bytes.Split(bytes.TrimSpace(dump(t, dsn)), []byte("\n")) {
		e, err := audit.ParseLine(l)
		if err != nil {
			t.Fatal(err)
		}
		if e.Timestamp.Before(last) {
			t.Fatalf("seq %d has time %s, before the entry ahead of it (%s)", e.Seq, e.Timestamp, last)
		}
		last = e.Timestamp
		if w, ok := written[e.Seq]; !ok || w.Hash != e.Hash {
			t.Fatalf("seq %d: stored %s, answered %+v", e.Seq, e.Hash, w)
		}
	}
}

// The proxy appends through audit.GroupCommit, which hands the store one batch at a time from one
// goroutine: batches that follow each other find the lock taken with the previous commit too.
func TestBatchesBackToBackFromOneCallerShareTheLockRoundTrip(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openTest(t, dsn, Options{})
	g := audit.NewGroupCommit(s, 0)
	const writers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for range each {
				if _, err := g.Append(context.Background(), audit.Entry{UserID: fmt.Sprintf("t%d", w), Action: "GET"}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	g.Close()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if trips := s.lockTrips.Load(); trips >= each {
		t.Errorf("%d round trips to lock the chain for %d batches or more", trips, each)
	}
	verifyDump(t, dsn, writers*each)
}

// The driver's and the server's words name the user; klrbac masks it, as it masks the user part
// of the URL, with the password.
func TestDatabaseMessagesMaskTheUser(t *testing.T) {
	for _, c := range []struct{ msg, user, want string }{
		{"failed to connect to `user=klw database=audit`: dial error", "klw", "failed to connect to `user=**** database=audit`: dial error"},
		{`FATAL: password authentication failed for user "klw" (SQLSTATE 28P01)`, "klw", `FATAL: password authentication failed for user "****" (SQLSTATE 28P01)`},
		{`role "klw" does not exist; klwx and xklw stay`, "klw", `role "****" does not exist; klwx and xklw stay`},
		{"failed to connect to `user=a database=audit`: a dial error", "a", "failed to connect to `user=**** database=audit`: a dial error"},
		{"nothing to mask", "", "nothing to mask"},
	} {
		if got := maskUser(c.msg, c.user); got != c.want {
			t.Errorf("maskUser(%q, %q) = %q, want %q", c.msg, c.user, got, c.want)
		}
	}
	s := openTest(t, "postgres://klw:s3cr3t-pw@127.0.0.1:1/audit", Options{})
	err := s.unavailable("reading the audit trail", errors.New("failed to connect to `user=klw database=audit`: server error: FATAL: password authentication failed for user \"klw\" (password s3cr3t-pw)"))
	if msg := err.Error(); strings.Contains(msg, "user=klw") || strings.Contains(msg, `user "klw"`) || strings.Contains(msg, "s3cr3t-pw") {
		t.Fatalf("the user name or the password reached the message: %s", msg)
	}
}

// A change waits for its record, and its error says so; a read's does not, as it refuses nothing.
func TestUnreachableHintsFitReadsAndWrites(t *testing.T) {
	s := openTest(t, "postgres://auditor:s3cr3t-pw@127.0.0.1:1/audit?sslmode=disable", Options{ConnectTimeout: 2 * time.Second})
	_, werr := s.Append(context.Background(), audit.Entry{UserID: "ana", Action: "keys.set"})
	if hints := fault.Hints(werr); len(hints) != 2 || !strings.Contains(hints[0], "127.0.0.1:1") || hints[1] != audit.HintChangesRefused {
		t.Fatalf("write: %v %q", werr, hints)
	}
	if strings.Contains(werr.Error(), "user=auditor") {
		t.Fatalf("the user name reached the message: %v", werr)
	}
	if err := s.Ready(context.Background()); !slices.Contains(fault.Hints(err), audit.HintChangesRefused) {
		t.Fatalf("ready: %v %q", err, fault.Hints(err))
	}
	for name, read := range map[string]func() error{
		"head":   func() error { _, err := s.Head(context.Background()); return err },
		"recent": func() error { _, err := s.Last(context.Background(), 1, audit.Select{}); return err },
		"verify": func() error { _, err := s.Verify(context.Background(), audit.VerifyOptions{}); return err },
	} {
		err := read()
		hints := fault.Hints(err)
		if fault.KindOf(err) != fault.Unavailable || len(hints) != 1 || !strings.Contains(hints[0], "audit.dsn") || slices.Contains(hints, audit.HintChangesRefused) {
			t.Errorf("%s: %v %q", name, err, hints)
		}
	}
}

// A malformed URL is named for what is wrong with it, not as some other kind of URL.
func TestMalformedDSNSaysWhatIsWrong(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://u:s3cr3t-pw@db:notaport/x": "audit.dsn (KLRBAC_AUDIT_DSN, --audit-dsn): cannot parse the URL: invalid port",
		"postgres://u:s3cr3t%zz@db/x":          "audit.dsn (KLRBAC_AUDIT_DSN, --audit-dsn): cannot parse the URL: invalid escape",
		"mysql://u:s3cr3t-pw@db/x":             "audit.dsn (KLRBAC_AUDIT_DSN, --audit-dsn): not a postgres:// URL",
	} {
		_, err := Open(dsn, Options{})
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "s3cr3t") || len(fault.Hints(err)) == 0 {
			t.Errorf("Open(%q): %v", want, err)
		}
	}
	if _, err := Open("mysql://db/x", Options{Source: "the DSN on standard input"}); err == nil || err.Error() != "the DSN on standard input: not a postgres:// URL" {
		t.Errorf("a DSN from elsewhere: %v", err)
	}
	// The driver quotes the whole DSN when a parameter is wrong, the user among them.
	for _, dsn := range []string{"postgres://db/audit?user=klw-7731&sslmode=bogus", "postgres://klw-7731@db/audit?sslmode=bogus"} {
		if _, err := Open(dsn, Options{}); err == nil || strings.Contains(err.Error(), "klw-7731") || !strings.Contains(err.Error(), "sslmode") {
			t.Errorf("Open(%q): %v", dsn, err)
		}
	}
}
