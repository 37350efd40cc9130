package pgstore

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/klrbac/klrbac/internal/audit"
)

// Verify reads every row in seq order and checks the chain as audit.Verify checks a file, naming
// rows by their seq column; it also checks that each row's indexed columns say what its line says,
// since tail filters on them.
//
// It reads in a pipeline, so that the database's work, the hashing and the chain walk overlap:
// one goroutine streams the rows into chunks, as many goroutines as there are CPUs hash them and
// compare their columns with their lines, and the caller's goroutine feeds them, in order, to the
// same verifier a file has. A fixed number of chunks circulates, so memory stays flat however
// many rows there are. All the rows are read in one snapshot (REPEATABLE READ): appends that commit
// meanwhile are not half seen.
func (s *Store) Verify(ctx context.Context, opts audit.VerifyOptions) (*audit.Report, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, s.unavailable("verifying the audit trail", err)
	}
	// A connection left inside the transaction (a failure mid-read) is closed by the pool rather
	// than reused.
	defer conn.Release()
	rep, err := verifyRows(ctx, conn.Conn().PgConn(), opts, runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, s.unavailable("verifying the audit trail", err)
	}
	for i := range rep.Problems {
		rep.Problems[i].Message = rowNames(rep.Problems[i].Message)
	}
	return rep, nil
}

// Pages: each statement reads a bounded part of the table, within its own statement timeout,
// however large the table; the next follows with no more than a round trip in between. Variables,
// so that tests cross page boundaries.
var (
	// pageBlocks is how many of the table's blocks a page in physical order covers (64 MiB).
	pageBlocks = 8192
	// seqPageRows is how many rows a page in seq order holds.
	seqPageRows = 100_000
)

// physicalOrder turns reading in physical order on; tests turn it off to compare.
var physicalOrder = true

// chunkRows is how many rows travel through the pipeline together: enough that handing a chunk
// over costs nothing next to hashing it, few enough that the chunks in flight stay small.
var chunkRows = 512

const (
	verifyColumns = `SELECT seq, ts, user_id, role, action, line FROM audit_entries`
	// A TID range scan (PostgreSQL 14 and later) reads just the blocks asked for, in order.
	physicalPage = verifyColumns + ` WHERE ctid >= $1::tid AND ctid < $2::tid`
	orderedPage  = verifyColumns + ` WHERE seq > $1 ORDER BY seq LIMIT $2`
)

// Binary results: no text to parse for seq and ts, and text columns come as their bytes.
var verifyFormats = []int16{1, 1, 1, 1, 1, 1}

// rowChunk holds consecutive rows, their values back to back in buf.
type rowChunk struct {
	buf   []byte
	rows  []checkedRow
	ready chan struct{} // closed once every row is checked
	// restart: the rows sent before this chunk's are void, and the table is read again from its
	// first row by seq (see readRows).
	restart bool
}

// checkedRow is a row, its values as spans of its chunk's buf, and what the hashing goroutines
// found.
type checkedRow struct {
	seq                      int64
	ts                       int64 // microseconds since 2000-01-01 UTC, PostgreSQL's binary timestamptz
	tsNull                   bool
	user, role, action, line span
	checked                  audit.CheckedLine
	// agrees says the columns are what the line starts with.
	agrees bool
}

type span struct{ start, end int }

func (c *rowChunk) bytes(s span) []byte { return c.buf[s.start:s.end:s.end] }

func (c *rowChunk) add(b []byte) span {
	start := len(c.buf)
	c.buf = append(c.buf, b...)
	return span{start, len(c.buf)}
}

// check hashes each row and compares its columns with its line.
func (c *rowChunk) check() {
	for i := range c.rows {
		r := &c.rows[i]
		line := c.bytes(r.line)
		r.checked = audit.CheckLine(line)
		r.agrees = !r.tsNull && audit.StartsAs(line, uint64(r.seq), pgTime(r.ts), c.bytes(r.user), c.bytes(r.role), c.bytes(r.action))
	}
	close(c.ready)
}

// verifyRows runs the pipeline on a connection (see Verify) with workers hashing goroutines.
func verifyRows(ctx context.Context, pc *pgconn.PgConn, opts audit.VerifyOptions, workers int) (*audit.Report, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers = max(1, workers)
	free := make(chan *rowChunk, workers+6)
	for range cap(free) {
		free <- &rowChunk{buf: make([]byte, 0, chunkRows*640), rows: make([]checkedRow, 0, chunkRows)}
	}
	work := make(chan *rowChunk, cap(free))
	ordered := make(chan *rowChunk, cap(free))
	for range workers {
		go func() {
			for c := range work {
				c.check()
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(work)
		defer close(ordered)
		readErr <- readRows(ctx, pc, free, func(c *rowChunk) {
			work <- c
			ordered <- c
		})
	}()

	rv := audit.NewRowVerifier(opts)
	var rows int64
	for c := range ordered {
		<-c.ready
		if c.restart {
			rv, rows = audit.NewRowVerifier(opts), 0
		}
		for i := range c.rows {
			r := &c.rows[i]
			line := c.bytes(r.line)
			rows++
			rv.AddChecked(r.seq, line, &r.checked)
			if !r.agrees {
				columnProblems(rv, r, c)
			}
		}
		free <- c
	}
	if err := <-readErr; err != nil {
		return nil, err
	}
	return rv.Finish(rows), nil
}

// columnProblems names how a row's columns differ from its line, for a row whose line does not
// start as the columns say: ParseLine tells a real difference from a spelling the fast check does
// not know.
func columnProblems(rv *audit.RowVerifier, r *checkedRow, c *rowChunk) {
	e, err := audit.ParseLine(c.bytes(r.line))
	if err != nil {
		return // the verifier names it
	}
	seq, user, role, action := r.seq, string(c.bytes(r.user)), string(c.bytes(r.role)), string(c.bytes(r.action))
	switch {
	case e.Seq != uint64(seq):
		rv.Problem(seq, audit.KindOrder, "row seq %d holds the line of seq %d: rows were renumbered or moved", seq, e.Seq)
	case column(e.UserID) != user:
		rv.Problem(seq, audit.KindEdited, "row seq %d: its user_id column (%q) differs from its line (%q): the row was edited", seq, user, e.UserID)
	case column(e.Role) != role:
		rv.Problem(seq, audit.KindEdited, "row seq %d: its role column (%q) differs from its line (%q): the row was edited", seq, role, e.Role)
	case column(e.Action) != action:
		rv.Problem(seq, audit.KindEdited, "row seq %d: its action column (%q) differs from its line (%q): the row was edited", seq, action, e.Action)
	case r.tsNull:
		rv.Problem(seq, audit.KindEdited, "row seq %d: its ts column is empty, its line says %s: the row was edited", seq, e.Timestamp.Format(audit.TimeLayout))
	case !e.Timestamp.Equal(pgTime(r.ts)):
		rv.Problem(seq, audit.KindEdited, "row seq %d: its ts column (%s) differs from its line (%s): the row was edited", seq, pgTimeText(r.ts), e.Timestamp.Format(audit.TimeLayout))
	}
}

// readRows streams the table, in seq order, into chunks taken from free, passing each full one to
// send; it returns when the table is read, ctx ends or the database fails.
//
// It reads the table in its physical order first, which costs the server much less than reading
// it through the seq index, and is seq order as long as rows were only ever appended. Should a row
// come out of order (rows were moved, or the space of an aborted append was reused), it starts
// again in seq order, and sends a chunk marked restart first.
func readRows(ctx context.Context, pc *pgconn.PgConn, free <-chan *rowChunk, send func(*rowChunk)) (err error) {
	if _, err := pc.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").ReadAll(); err != nil {
		return err
	}
	defer func() {
		end := "COMMIT"
		if err != nil {
			end = "ROLLBACK"
		}
		if _, cerr := pc.Exec(context.WithoutCancel(ctx), end).ReadAll(); err == nil {
			err = cerr
		}
	}()
	// The snapshot is taken by this first statement: every row it sees lies in the blocks counted.
	res, err := pc.Exec(ctx, `SELECT current_setting('server_version_num')::int >= 140000,
		pg_relation_size('audit_entries') / current_setting('block_size')::int`).ReadAll()
	if err != nil {
		return err
	}
	if len(res) != 1 || len(res[0].Rows) != 1 {
		return errors.New("cannot read the size of audit_entries")
	}
	tidRanges := string(res[0].Rows[0][0]) == "t" && physicalOrder
	blocks, err := strconv.ParseInt(string(res[0].Rows[0][1]), 10, 64)
	if err != nil {
		return err
	}
	r := &rowReader{ctx: ctx, pc: pc, free: free, send: send, last: math.MinInt64}
	if tidRanges {
		inOrder := true
		for b := int64(0); b < blocks && inOrder; b += int64(pageBlocks) {
			from, to := tid(b), tid(min(b+int64(pageBlocks), blocks))
			if _, inOrder, err = r.page(physicalPage, [][]byte{from, to}); err != nil {
				return err
			}
		}
		if inOrder {
			r.flush()
			return nil
		}
		if err := r.restart(); err != nil {
			return err
		}
	}
	limit := []byte(strconv.Itoa(seqPageRows))
	var after [20]byte
	for {
		got, _, err := r.page(orderedPage, [][]byte{strconv.AppendInt(after[:0], r.last, 10), limit})
		if err != nil {
			return err
		}
		if got < seqPageRows {
			r.flush()
			return nil
		}
	}
}

func tid(block int64) []byte { return []byte("(" + strconv.FormatInt(block, 10) + ",0)") }

// rowReader fills chunks with rows and sends them on.
type rowReader struct {
	ctx  context.Context
	pc   *pgconn.PgConn
	free <-chan *rowChunk
	send func(*rowChunk)
	c    *rowChunk // being filled
	last int64     // the last seq sent
}

func (r *rowReader) take() error {
	select {
	case r.c = <-r.free:
		r.c.buf, r.c.rows, r.c.ready, r.c.restart = r.c.buf[:0], r.c.rows[:0], make(chan struct{}), false
		return nil
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

func (r *rowReader) flush() {
	if r.c != nil {
		r.send(r.c)
		r.c = nil
	}
}

// restart voids what was sent, to read again in seq order.
func (r *rowReader) restart() error {
	if r.c == nil {
		if err := r.take(); err != nil {
			return err
		}
	}
	r.c.buf, r.c.rows, r.c.restart = r.c.buf[:0], r.c.rows[:0], true
	r.last = math.MinInt64
	return nil
}

// page reads the rows of one statement; it stops early, with inOrder false, at a row whose seq is
// not above the one before.
func (r *rowReader) page(sql string, args [][]byte) (got int, inOrder bool, err error) {
	rr := r.pc.ExecParams(r.ctx, sql, args, nil, nil, verifyFormats)
	defer func() {
		if _, cerr := rr.Close(); err == nil {
			err = cerr
		}
	}()
	for rr.NextRow() {
		v := rr.Values()
		if len(v) != 6 || len(v[0]) != 8 {
			return got, false, errors.New("audit_entries returned an unexpected row")
		}
		row := checkedRow{seq: int64(binary.BigEndian.Uint64(v[0]))}
		if row.seq <= r.last {
			return got, false, nil
		}
		got++
		r.last = row.seq
		if r.c == nil {
			if err := r.take(); err != nil {
				return got, false, err
			}
		}
		if len(v[1]) == 8 {
			row.ts = int64(binary.BigEndian.Uint64(v[1]))
		} else {
			row.tsNull = true
		}
		c := r.c
		row.user, row.role, row.action, row.line = c.add(v[2]), c.add(v[3]), c.add(v[4]), c.add(v[5])
		c.rows = append(c.rows, row)
		if len(c.rows) == chunkRows {
			r.send(c)
			r.c = nil
		}
	}
	return got, true, nil
}

// pgEpoch is where PostgreSQL's binary timestamps count from, in Unix seconds.
const pgEpoch = 946684800

// pgTime is a binary timestamptz as a time; ±infinity become times no line holds.
func pgTime(us int64) time.Time {
	switch us {
	case math.MaxInt64:
		return time.Unix(1<<62, 0)
	case math.MinInt64:
		return time.Unix(-1<<62, 0)
	}
	sec, frac := us/1e6, us%1e6
	if frac < 0 {
		sec, frac = sec-1, frac+1e6
	}
	return time.Unix(pgEpoch+sec, frac*1000).UTC()
}

// pgTimeText shows a binary timestamptz in a message: microseconds, as PostgreSQL keeps them.
func pgTimeText(us int64) string {
	switch us {
	case math.MaxInt64:
		return "infinity"
	case math.MinInt64:
		return "-infinity"
	}
	return pgTime(us).Format("2006-01-02T15:04:05.999999Z")
}

var lineRef = regexp.MustCompile(`\b(lines?) (\d+)(-\d+)?`)

// rowNames rewords the file verifier's "line N" as "row seq N": the verifier was given each row's
// seq as its line number.
func rowNames(msg string) string {
	return lineRef.ReplaceAllStringFunc(msg, func(m string) string {
		if strings.HasPrefix(m, "lines") {
			return "rows seq" + m[len("lines"):]
		}
		return "row seq" + m[len("line"):]
	})
}
