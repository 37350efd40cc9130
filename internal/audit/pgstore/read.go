package pgstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/klrbac/klrbac/internal/audit"
)

// Query narrows rows with the indexed columns before their lines are read: tail's filters, in SQL,
// so that the server reads through the indexes only the rows asked for. The caller's own filter
// still judges each entry from its line, which alone the chain proves: a column edited behind
// klrbac's back can hide a row from a query (verify finds that), never show one wrongly.
type Query struct {
	// User, Role and Action match exactly, or as patterns where * matches any run of characters
	// and ? any one ("" matches all), as audit.Glob does.
	User, Role, Action string
	// Since keeps entries at or after a time (their ts column: the server's clock at the append).
	Since time.Time
	// After keeps entries with a greater seq.
	After uint64
	// Until, when not 0, keeps entries with a seq up to it.
	Until uint64
}

func (q Query) where(args *[]any) string {
	var conds []string
	add := func(cond string, v any) {
		*args = append(*args, v)
		conds = append(conds, fmt.Sprintf(cond, len(*args)))
	}
	for _, f := range []struct{ col, pat string }{{"user_id", q.User}, {"role", q.Role}, {"action", q.Action}} {
		switch {
		case f.pat == "" || strings.Trim(f.pat, "*") == "":
		case strings.ContainsAny(f.pat, "*?"):
			add(f.col+" LIKE $%d", likePattern(f.pat))
		default:
			add(f.col+" = $%d", column(f.pat))
		}
	}
	if !q.Since.IsZero() {
		add("ts >= $%d", q.Since)
	}
	if q.After > 0 {
		add("seq > $%d", int64(q.After))
	}
	if q.Until > 0 {
		add("seq <= $%d", int64(q.Until))
	}
	if len(conds) == 0 {
		return "true"
	}
	return strings.Join(conds, " AND ")
}

// likePattern turns a glob into a LIKE pattern that matches at least what the glob matches: LIKE's
// own wildcards and escape taken literally, * as %. ? becomes % too, not _: the columns hold values
// without NUL (see column), which a ? may have matched.
func likePattern(glob string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`, `*`, `%`, `?`, `%`)
	return column(r.Replace(glob))
}

// pageRows is how many rows a read fetches at a time, by seq: reading a table in pages keeps
// memory flat and lets a reader stop early without the server sending the rest.
const pageRows = 1000

// Last returns the last n entries (n < 0: all) that sel accepts, oldest first, reading back from
// the newest row a page at a time, until n are found or sel.Stop says so.
func (s *Store) Last(ctx context.Context, n int, sel audit.Select) ([]audit.Record, error) {
	recs, _, err := s.Recent(ctx, n, Query{}, sel)
	return recs, err
}

// Recent is Last narrowed first by q in SQL. Reading back from the newest row, it asks first for
// just n rows, the whole answer when sel accepts every row q selects, and for more (up to pageRows
// at a time) only as sel turns rows down. Rows whose line is not an entry are counted in skipped.
func (s *Store) Recent(ctx context.Context, n int, q Query, sel audit.Select) (recs []audit.Record, skipped int, err error) {
	if n == 0 {
		return nil, 0, nil
	}
	if err := s.ready(ctx); err != nil {
		return nil, 0, err
	}
	recs, skipped, err = recent(ctx, s.pool, n, q, sel)
	if err != nil {
		return nil, 0, s.unavailable("reading the audit trail", err)
	}
	return recs, skipped, nil
}

// nextPage is how many rows to ask for next, when need more entries are wanted after read rows gave
// kept: as many as the rows so far suggest, and a quarter more, since every row asked for is read by
// the server, even those past the answer.
func nextPage(last, need, read, kept int) int {
	if need < 0 {
		return pageRows
	}
	if kept == 0 {
		return min(last*4, pageRows)
	}
	return max(1, min(need*read/kept*5/4+1, pageRows))
}

func recent(ctx context.Context, db rowQuerier, n int, q Query, sel audit.Select) (recs []audit.Record, skipped int, err error) {
	before := int64(-1)
	limit, read := pageRows, 0
	if n > 0 {
		limit = min(n, pageRows)
	}
	for {
		args := []any{}
		cond := q.where(&args)
		if before >= 0 {
			args = append(args, before)
			cond += fmt.Sprintf(" AND seq < $%d", len(args))
		}
		rows, err := db.Query(ctx, `SELECT seq, line FROM audit_entries WHERE `+cond+` ORDER BY seq DESC LIMIT `+strconv.Itoa(limit), args...)
		if err != nil {
			return nil, 0, err
		}
		got, stopped := 0, false
		var seq int64
		var line []byte
		_, err = pgx.ForEachRow(rows, []any{&seq, &line}, func() error {
			got++
			before = seq
			if stopped || (n >= 0 && len(recs) == n) {
				return nil
			}
			e, perr := audit.ParseLine(line)
			if perr != nil {
				skipped++
				return nil
			}
			if sel.Stop != nil && sel.Stop(e) {
				stopped = true
				return nil
			}
			if sel.Keep == nil || sel.Keep(e) {
				recs = append(recs, audit.Record{Entry: e, Line: append([]byte(nil), line...)})
			}
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
		if got < limit || stopped || (n >= 0 && len(recs) == n) {
			break
		}
		read += got
		limit = nextPage(limit, n-len(recs), read, len(recs))
	}
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	return recs, skipped, nil
}

// Scan passes each stored line after the entry numbered after (0: from the start) to emit, in seq
// order, until the end or emit's error.
func (s *Store) Scan(ctx context.Context, after uint64, emit func(line []byte) error) error {
	return s.ScanRows(ctx, Query{After: after}, func(_ int64, line []byte) error { return emit(line) })
}

// ScanRows passes every row that q selects to emit in seq order, a page at a time: memory stays
// flat however long the table. It stops at emit's first error, which it returns.
func (s *Store) ScanRows(ctx context.Context, q Query, emit func(seq int64, line []byte) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	err := pages(ctx, s.pool, &q, emit)
	var ee emitError
	if errors.As(err, &ee) {
		return ee.err
	}
	if err != nil {
		return s.unavailable("reading the audit trail", err)
	}
	return nil
}

// rowQuerier runs a query: the pool, or a connection of a follower's own.
type rowQuerier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}

// emitError carries an emit function's error out of pages, to tell it from a database failure.
type emitError struct{ err error }

func (e emitError) Error() string { return e.err.Error() }

// pages passes every row q selects to emit, a page at a time, advancing q.After past each row
// emitted.
func pages(ctx context.Context, db rowQuerier, q *Query, emit func(seq int64, line []byte) error) error {
	if !q.Since.IsZero() {
		// Where the rows since a time start, found through the ts index: a first page asked for
		// as "ts >= since ORDER BY seq LIMIT n" tempts the planner to walk the seq index from the
		// oldest row, expecting matches early, when they are all at the end. The subquery, which
		// has no order to keep, is read the cheapest way instead.
		var first *int64
		if err := db.QueryRow(ctx, `SELECT min(seq) FROM (SELECT seq FROM audit_entries WHERE ts >= $1 OFFSET 0) t`, q.Since).Scan(&first); err != nil {
			return err
		}
		if first == nil {
			return nil
		}
		q.After = max(q.After, uint64(*first-1))
	}
	for {
		args := []any{}
		cond := q.where(&args)
		rows, err := db.Query(ctx, `SELECT seq, line FROM audit_entries WHERE `+cond+` ORDER BY seq LIMIT `+fmt.Sprint(pageRows), args...)
		if err != nil {
			return err
		}
		got := 0
		var seq int64
		var line []byte
		var emitErr error
		_, err = pgx.ForEachRow(rows, []any{&seq, &line}, func() error {
			got++
			if emitErr == nil {
				if emitErr = emit(seq, line); emitErr == nil {
					q.After = uint64(seq)
				}
			}
			return nil
		})
		if emitErr != nil {
			return emitError{emitErr}
		}
		if err != nil {
			return err
		}
		if got < pageRows {
			return nil
		}
	}
}

// Export writes the rows that q selects, in seq order, as a file log: each line exactly as stored
// and a newline. The whole chain exported verifies as a file, with the same head; a part of it
// (q.Since) verifies with the part's After, which it returns with its head.
func (s *Store) Export(ctx context.Context, w io.Writer, q Query) (part audit.Part, err error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	err = s.ScanRows(ctx, q, func(_ int64, line []byte) error {
		part.Add(line)
		bw.Write(line)
		return bw.WriteByte('\n')
	})
	part.Done()
	if err != nil {
		return part, err
	}
	return part, bw.Flush()
}
