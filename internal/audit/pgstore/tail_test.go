package pgstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/pgtest"
)

// manyRows fills a table with n chained entries of ten users, three roles and four actions, a
// second apart from base, the way a busy team's trail looks to tail; it returns them in seq order.
func manyRows(t *testing.T, n int, base time.Time) (string, []audit.Entry) {
	t.Helper()
	dsn := pgtest.DSN(t)
	s := openTest(t, dsn, Options{})
	if _, _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	actions := []string{"check", "keys.set", "keys.rm", "config.init"}
	roles := []string{"viewer", "admin", "service"}
	chain := audit.NewChain()
	entries := make([]audit.Entry, 0, n)
	var buf []byte
	_, err := connect(t, dsn).CopyFrom(context.Background(), pgx.Identifier{"audit_entries"}, []string{"seq", "ts", "user_id", "role", "action", "line"},
		pgx.CopyFromFunc(func() ([]any, error) {
			i := len(entries)
			if i == n {
				return nil, nil
			}
			e := audit.Entry{Timestamp: base.Add(time.Duration(i) * time.Second), UserID: fmt.Sprintf("user%d", i%10), Role: roles[i%3],
				Action: actions[i%4], Resource: "r", Success: i%5 != 0, Host: "h"}
			buf, e = chain.Next(buf[:0], e)
			entries = append(entries, e)
			return []any{int64(e.Seq), e.Timestamp, e.UserID, e.Role, e.Action, string(buf[:len(buf)-1])}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	exec(t, dsn, "ANALYZE audit_entries")
	return dsn, entries
}

// rowsRead runs read in a transaction of its own and returns how many rows of audit_entries the
// server read for it: heap rows of sequential, bitmap and index scans, and index entries (an
// index-only scan reads no heap row). The counts are the transaction's own, not yet reported.
func rowsRead(t *testing.T, dsn string, read func(tx pgx.Tx)) int64 {
	t.Helper()
	ctx := context.Background()
	tx, err := connect(t, dsn).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	read(tx)
	var n int64
	err = tx.QueryRow(ctx, `SELECT pg_stat_get_xact_tuples_returned(c.oid) + pg_stat_get_xact_tuples_fetched(c.oid) +
		(SELECT coalesce(sum(pg_stat_get_xact_tuples_fetched(i.indexrelid) + pg_stat_get_xact_tuples_returned(i.indexrelid)), 0)
			FROM pg_index i WHERE i.indrelid = c.oid)
		FROM pg_class c WHERE c.oid = 'audit_entries'::regclass`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func seqs(es []audit.Entry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func recordSeqs(rs []audit.Record) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.Seq)
	}
	return out
}

// lastOf is the last n of es that keep accepts, oldest first: what tail -n n shows.
func lastOf(es []audit.Entry, n int, keep func(audit.Entry) bool) []audit.Entry {
	var out []audit.Entry
	for i := len(es) - 1; i >= 0 && len(out) < n; i-- {
		if keep(es[i]) {
			out = append(out, es[i])
		}
	}
	slices.Reverse(out)
	return out
}

// tail -n N with filters is answered by reading back from the newest row, through an index, only as
// far as the answer goes: whatever plan the server picks for the filters, it reads about the rows
// between the end of the table and the oldest entry shown (or the rows since a time), not the
// table; and the answer is what a scan of every entry gives.
func TestRecentReadsOnlyTheRowsAskedFor(t *testing.T) {
	const n = 20000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	dsn, entries := manyRows(t, n, base)
	since, since20 := base.Add((n-500)*time.Second), base.Add((n-4000)*time.Second)
	cases := []struct {
		name string
		q    Query
		sel  audit.Select
		keep func(audit.Entry) bool
	}{
		{"no filter", Query{}, audit.Select{}, func(audit.Entry) bool { return true }},
		{"user", Query{User: "user3"}, audit.Select{}, func(e audit.Entry) bool { return e.UserID == "user3" }},
		{"user and role", Query{User: "user3", Role: "admin"}, audit.Select{}, func(e audit.Entry) bool { return e.UserID == "user3" && e.Role == "admin" }},
		{"action pattern", Query{Action: "keys.*"}, audit.Select{}, func(e audit.Entry) bool { return audit.Glob("keys.*", e.Action) }},
		{"? in a pattern", Query{User: "user?"}, audit.Select{}, func(e audit.Entry) bool { return audit.Glob("user?", e.UserID) }},
		{"since", Query{Since: since}, audit.Select{}, func(e audit.Entry) bool { return !e.Timestamp.Before(since) }},
		{"since, a fifth of the table", Query{Since: since20, User: "user2"}, audit.Select{}, func(e audit.Entry) bool { return e.UserID == "user2" && !e.Timestamp.Before(since20) }},
		{"nothing since", Query{Since: base.Add(2 * n * time.Second)}, audit.Select{}, func(audit.Entry) bool { return false }},
		// Keep turns down two rows in three of what the query selects: more pages, each larger.
		{"a filter only the line answers", Query{User: "user5"}, audit.Select{Keep: func(e audit.Entry) bool { return e.Role == "admin" }},
			func(e audit.Entry) bool { return e.UserID == "user5" && e.Role == "admin" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var recs []audit.Record
			reads := rowsRead(t, dsn, func(tx pgx.Tx) {
				var err error
				if recs, _, err = recent(context.Background(), tx, 100, c.q, c.sel); err != nil {
					t.Fatal(err)
				}
			})
			want := lastOf(entries, 100, c.keep)
			if fmt.Sprint(recordSeqs(recs)) != fmt.Sprint(seqs(want)) {
				t.Fatalf("got seqs %v\nwant %v", recordSeqs(recs), seqs(want))
			}
			// Each row read through an index counts twice, its index entry and its heap row, and a
			// last page may reach back past the answer.
			depth := int64(0)
			if len(want) > 0 {
				depth = int64(n) - int64(want[0].Seq) + 1
			}
			if all := lastOf(entries, n, c.keep); !c.q.Since.IsZero() && len(all) > 0 {
				depth = max(depth, int64(n)-int64(all[0].Seq)+1)
			}
			if limit := 3*depth + 64; reads > limit {
				t.Fatalf("the server read %d rows for tail -n 100 of %d rows, want at most %d", reads, n, limit)
			}
		})
	}
	// The measure itself: a filter the indexes cannot answer reads the table.
	if reads := rowsRead(t, dsn, func(tx pgx.Tx) {
		if _, _, err := recent(context.Background(), tx, 100, Query{}, audit.Select{Keep: func(e audit.Entry) bool { return e.Resource == "none" }}); err != nil {
			t.Fatal(err)
		}
	}); reads < n {
		t.Fatalf("a full scan counted %d rows read", reads)
	}
}

// tail --since without -n reads forwards from where the time starts, found through the ts index,
// not from the oldest row: the server reads about the rows since, twice (to find where they start,
// then to pass them on), and each through an index (an entry and a row). Asked for the first page
// straight away, with rows since a fifth of the table, the planner walks the seq index from the
// oldest row, expecting matches all along, and reads the whole table.
func TestScanSinceStartsWhereTheTimeDoes(t *testing.T) {
	const n, recent = 20000, 4000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	dsn, entries := manyRows(t, n, base)
	since := base.Add((n - recent) * time.Second)
	for _, c := range []struct {
		name string
		q    Query
		keep func(audit.Entry) bool
	}{
		{"since", Query{Since: since}, func(e audit.Entry) bool { return !e.Timestamp.Before(since) }},
		{"since and user", Query{Since: since, User: "user7"}, func(e audit.Entry) bool { return e.UserID == "user7" && !e.Timestamp.Before(since) }},
		{"since, up to a seq", Query{Since: since, Until: n - 100}, func(e audit.Entry) bool { return e.Seq <= n-100 && !e.Timestamp.Before(since) }},
		{"nothing since", Query{Since: base.Add(2 * n * time.Second)}, func(audit.Entry) bool { return false }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []uint64
			reads := rowsRead(t, dsn, func(tx pgx.Tx) {
				q := c.q
				if err := pages(context.Background(), tx, &q, func(seq int64, _ []byte) error {
					got = append(got, uint64(seq))
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			})
			var want []uint64
			for _, e := range entries {
				if c.keep(e) {
					want = append(want, e.Seq)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %d seqs %v...\nwant %d %v...", len(got), got[:min(5, len(got))], len(want), want[:min(5, len(want))])
			}
			if reads > 4*recent+64 {
				t.Fatalf("the server read %d rows of %d for the %d since, want at most %d", reads, n, recent, 4*recent+64)
			}
		})
	}
}
