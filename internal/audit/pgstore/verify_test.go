package pgstore

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/pgtest"
)

// smallPages makes verify cross page and chunk boundaries within a few rows, for the test's time.
func smallPages(t *testing.T) {
	blocks, rows, chunk := pageBlocks, seqPageRows, chunkRows
	pageBlocks, seqPageRows, chunkRows = 1, 7, 3
	t.Cleanup(func() { pageBlocks, seqPageRows, chunkRows = blocks, rows, chunk })
}

// inSeqOrder verifies as if the table could only be read by seq, the way verify reads it when rows
// are out of place physically, and on servers before PostgreSQL 14.
func inSeqOrder(t *testing.T, s *Store) *audit.Report {
	t.Helper()
	physicalOrder = false
	defer func() { physicalOrder = true }()
	rep, err := s.Verify(context.Background(), audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// Whichever way the rows are read (physically, by seq, or physically and then again by seq because
// a row was out of place), across pages and chunks, verify reports the same problems, naming rows
// by seq.
func TestVerifyReadsEveryRowOnceAcrossPages(t *testing.T) {
	smallPages(t)
	cases := []struct {
		name, sql string
		rows      int64
		want      []string // substrings of the problems, in order
	}{
		{"untouched", ``, 60, nil},
		{"edited line", `UPDATE audit_entries SET line = replace(line, '"user1"', '"eve"') WHERE seq = 41`, 60,
			[]string{"row seq 41: hash does not match"}},
		{"deleted rows", `DELETE FROM audit_entries WHERE seq IN (20, 21, 22)`, 57,
			[]string{"row seq 23: seq 23 follows seq 19 (row seq 19): 3 entries deleted"}},
		{"swapped seqs", `UPDATE audit_entries SET seq = 1000 WHERE seq = 10; UPDATE audit_entries SET seq = 10 WHERE seq = 50;
			UPDATE audit_entries SET seq = 50 WHERE seq = 1000`, 60,
			[]string{"row seq 10 holds the line of seq 50", "row seq 50 holds the line of seq 10"}},
		{"edited user_id", `UPDATE audit_entries SET user_id = 'eve' WHERE seq = 7`, 60,
			[]string{`row seq 7: its user_id column ("eve") differs from its line ("user0")`}},
		{"edited action", `UPDATE audit_entries SET action = 'keys.set' WHERE seq = 8`, 60,
			[]string{`row seq 8: its action column ("keys.set") differs from its line ("check")`}},
		{"ts a microsecond off", `UPDATE audit_entries SET ts = ts + interval '1 microsecond' WHERE seq = 9`, 60,
			[]string{"row seq 9: its ts column (", ") differs from its line ("}},
		{"ts emptied", `ALTER TABLE audit_entries ALTER ts DROP NOT NULL; UPDATE audit_entries SET ts = NULL WHERE seq = 11`, 60,
			[]string{"row seq 11: its ts column is empty"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dsn, s := filled(t, 60)
			if c.sql != "" {
				exec(t, dsn, c.sql)
			}
			// An UPDATE writes the row anew at the table's end: reading physically meets it out of
			// seq order and must start again by seq.
			if moved := strings.Contains(c.sql, "UPDATE"); moved != !physicallyInOrder(t, dsn) {
				t.Fatalf("rows out of place physically: %v, want %v", !moved, moved)
			}
			rep, err := s.Verify(context.Background(), audit.VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Lines != c.rows {
				t.Errorf("read %d rows", rep.Lines)
			}
			checkProblems(t, rep, c.want)
			// Reading by seq from the start gives the same report.
			if other := inSeqOrder(t, s); fmt.Sprint(other.Problems) != fmt.Sprint(rep.Problems) || other.Lines != rep.Lines || other.Head != rep.Head {
				t.Fatalf("read in seq order: %+v\nread physically: %+v", other, rep)
			}
		})
	}
}

// physicallyInOrder reports whether the table's rows lie in seq order.
func physicallyInOrder(t *testing.T, dsn string) bool {
	t.Helper()
	var in bool
	err := connect(t, dsn).QueryRow(context.Background(), `SELECT coalesce(bool_and(seq > prev), true) FROM (SELECT seq, lag(seq, 1, 0::bigint) OVER (ORDER BY ctid) AS prev FROM audit_entries) t`).Scan(&in)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func checkProblems(t *testing.T, rep *audit.Report, want []string) {
	t.Helper()
	all := ""
	for _, p := range rep.Problems {
		all += p.Message + "\n"
	}
	rest := all
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("no problem saying %q (in order) among:\n%s", w, all)
		}
		rest = rest[i+len(w):]
	}
	if len(want) == 0 && len(rep.Problems) > 0 {
		t.Fatalf("problems in an untouched chain:\n%s", all)
	}
}

// Values the fast comparison of columns with lines leaves to the line's decoding are not
// problems: quotes, backslashes, control characters, U+2028, NUL (which a column cannot hold).
func TestVerifyAcceptsColumnsOfEscapedValues(t *testing.T) {
	smallPages(t)
	dsn := pgtest.DSN(t)
	s := openTest(t, dsn, Options{})
	users := []string{`a"b`, `back\slash`, "tab\there", "line\u2028sep", "nul\x00byte", "zoë", "é😀"}
	var entries []audit.Entry
	for _, u := range users {
		entries = append(entries, audit.Entry{UserID: u, Role: "r\"ole", Action: "check\n"})
	}
	if _, err := s.AppendAll(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(context.Background(), audit.VerifyOptions{})
	if err != nil || !rep.OK() || rep.Entries != int64(len(users)) {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	exec(t, dsn, `UPDATE audit_entries SET user_id = 'a"c' WHERE seq = 1`)
	rep, _ = s.Verify(context.Background(), audit.VerifyOptions{})
	checkProblems(t, rep, []string{`row seq 1: its user_id column ("a\"c") differs from its line ("a\"b")`})
}
