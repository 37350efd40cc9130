package pgstore

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
)

// Channel is the NOTIFY channel appends announce their last seq on, for followers.
const Channel = "klrbac_audit"

// maxBatch bounds the entries one group commit writes: large enough that many concurrent writers
// share a transaction, small enough that one transaction stays short.
const maxBatch = 1000

// gatherWindow bounds how long a batch waits for the callers of the previous one: a fraction of a
// commit, which an fsync makes a millisecond or more. When commits take longer, a batch waits up to
// a quarter of the last one, at most maxGatherWindow.
const (
	gatherWindow    = 500 * time.Microsecond
	maxGatherWindow = 3 * time.Millisecond
)

// Append writes e as the next entry of the chain and returns it as written (with Seq, Timestamp,
// Host, Prev and Hash). It is committed when Append returns without error. Its Timestamp is the
// database server's clock when the append's transaction took the chain lock, whatever e carries:
// clients' clocks disagree.
func (s *Store) Append(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	out, err := s.AppendAll(ctx, []audit.Entry{e})
	if err != nil {
		return audit.Entry{}, err
	}
	return out[0], nil
}

// AppendAll writes entries as consecutive entries of the chain, in one transaction. Concurrent
// calls from one process share transactions (group commit): a caller waits for at most one
// transaction in flight and then goes with whoever else is waiting.
func (s *Store) AppendAll(ctx context.Context, entries []audit.Entry) ([]audit.Entry, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	if err := s.ready(ctx); err != nil {
		return nil, forWrite(err)
	}
	r := &appendReq{entries: entries, done: make(chan struct{})}
	if err := s.commit.submit(ctx, r); err != nil {
		return nil, forWrite(err)
	}
	// Once submitted the entries may be committed whatever ctx does, so the caller hears how it
	// ended: an audited change must not be reported unrecorded when its record was written.
	<-r.done
	return r.out, forWrite(r.err)
}

type appendReq struct {
	entries []audit.Entry
	out     []audit.Entry
	err     error
	done    chan struct{}
}

// committer runs one goroutine per Store that takes every request waiting and commits them together.
type committer struct {
	store *Store
	start sync.Once
	reqs  chan *appendReq
	quit  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	shut  bool
}

var errClosed = errors.New("the audit store is closed")

func (c *committer) submit(ctx context.Context, r *appendReq) error {
	c.start.Do(func() {
		c.reqs = make(chan *appendReq, 64)
		c.quit = make(chan struct{})
		c.wg.Add(1)
		go c.run()
	})
	c.mu.Lock()
	shut := c.shut
	c.mu.Unlock()
	if shut {
		return errClosed
	}
	select {
	case c.reqs <- r:
		return nil
	case <-c.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *committer) stop() {
	c.mu.Lock()
	already := c.shut
	c.shut = true
	c.mu.Unlock()
	if already || c.quit == nil {
		return
	}
	close(c.quit)
	c.wg.Wait()
}

func (c *committer) run() {
	defer c.wg.Done()
	last := 0              // the previous batch's requests
	var took time.Duration // how long the previous batch took to commit
	var done time.Time     // when it committed
	var locked *lockedTx   // the chain lock, taken for the next batch as the previous one committed
	for {
		var batch []*appendReq
		var idle <-chan time.Time
		var idleTimer *time.Timer
		if locked != nil {
			// The lock is held for callers who are coming back; others, in other processes,
			// wait for it meanwhile, so it is let go when none come.
			idleTimer = time.NewTimer(gatherWindow)
			idle = idleTimer.C
		}
		select {
		case r := <-c.reqs:
			batch = append(batch, r)
		case <-idle:
			c.store.unlock(locked)
			locked = nil
			continue
		case <-c.quit:
			c.store.unlock(locked)
			c.failPending()
			return
		}
		if idleTimer != nil {
			idleTimer.Stop()
		}
		// Appends come back to back: this batch has several callers, or its first came right after
		// the last commit (one caller feeding batches, as audit.GroupCommit does for the proxy).
		busy := !done.IsZero() && time.Since(done) < gatherWindow
		n := len(batch[0].entries)
		// The callers of the previous batch come back at about the same time; the first of them
		// must not go alone, leaving the others to wait a whole transaction. So wait a little
		// for as many requests as last time, as PostgreSQL's commit_delay does: longer when
		// commits are slow (a busy disk), since a batch cut short costs a whole commit more.
		var window <-chan time.Time
		var timer *time.Timer
		if len(batch) < last {
			timer = time.NewTimer(min(max(gatherWindow, took/4), maxGatherWindow))
			window = timer.C
		}
	gather:
		for n < maxBatch {
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
				n += len(r.entries)
				continue
			default:
			}
			if window == nil || len(batch) >= last {
				break
			}
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
				n += len(r.entries)
			case <-window:
				break gather
			}
		}
		if timer != nil {
			timer.Stop()
		}
		last = len(batch)
		start := time.Now()
		// Appends that come back to back come back again: take the lock for the next batch in
		// the same round trip as this one's commit.
		locked = c.store.commitBatch(batch, locked, busy || len(batch) > 1)
		done = time.Now()
		took = done.Sub(start)
	}
}

// failPending answers requests that arrived as the store closed.
func (c *committer) failPending() {
	for {
		select {
		case r := <-c.reqs:
			r.err = errClosed
			close(r.done)
		default:
			return
		}
	}
}

// lockedTx is an open transaction that holds the chain lock, with the chain's head and the server's
// clock read under it: a batch that has one needs a single round trip.
type lockedTx struct {
	conn *pgxpool.Conn
	head audit.Head
	now  time.Time
}

// commitBatch writes the requests' entries in one transaction and answers each request. With
// locked, it builds on the lock and head that transaction holds; otherwise it takes them first, a
// round trip of its own. With chain, the same round trip that commits begins the next
// transaction and takes the lock again, which it returns (nil when it could not).
//
// Callers are answered once COMMIT has answered, when their entries are durable, before the rest
// of the round trip is read.
func (s *Store) commitBatch(batch []*appendReq, locked *lockedTx, chain bool) *lockedTx {
	var all []audit.Entry
	for _, r := range batch {
		all = append(all, r.entries...)
	}
	answer := func(out []audit.Entry, err error) {
		for _, r := range batch {
			if err != nil {
				r.err = err
			} else {
				r.out, out = out[:len(r.entries):len(r.entries)], out[len(r.entries):]
			}
			close(r.done)
		}
	}
	// Not a caller's context: the batch serves several callers. The connect and statement
	// timeouts bound it.
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ConnectTimeout+3*s.opts.StatementTimeout)
	defer cancel()
	if locked == nil {
		var err error
		if locked, err = s.lock(ctx); err != nil {
			answer(nil, err)
			return nil
		}
	}
	conn := locked.conn
	fail := func(err error) *lockedTx {
		// A connection left in a transaction is not reused by the pool; try to leave it clean.
		_, _ = conn.Exec(context.Background(), "ROLLBACK")
		conn.Release()
		return nil
	}
	chainAt := &audit.Chain{Seq: locked.head.Seq, Hash: locked.head.Hash}
	out, args := s.seal(chainAt, all, locked.now, false)
	b := &pgx.Batch{}
	b.Queue(insertRows, args...)
	b.Queue(`SELECT pg_notify($1, $2)`, Channel, strconv.FormatUint(chainAt.Seq, 10))
	b.Queue("COMMIT")
	if chain {
		b.Queue("BEGIN")
		// Trying, not waiting: the commit's answer must not wait behind another process's
		// transaction. The head is read whether or not the lock was had, and used only if it was.
		b.Queue(`SELECT pg_try_advisory_xact_lock($1)`, chainLock)
		b.Queue(tailQuery)
	}
	br := conn.SendBatch(ctx, b)
	_, err := br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	var tag pgconn.CommandTag
	if err == nil {
		if tag, err = br.Exec(); err == nil && tag.String() != "COMMIT" {
			err = errors.New("the transaction was rolled back")
		}
	}
	if err != nil {
		br.Close()
		answer(nil, s.unavailable("cannot write the audit record", err))
		return fail(err)
	}
	answer(out, nil)
	if !chain {
		if err := br.Close(); err != nil {
			return fail(err)
		}
		conn.Release()
		return nil
	}
	var (
		held  bool
		now   time.Time
		seqs  []int64
		lines []string
	)
	_, err = br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&held)
	}
	if err == nil {
		err = br.QueryRow().Scan(&now, &seqs, &lines)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil || !held {
		return fail(err)
	}
	head, now, err := s.checkTail(now, seqs, lines)
	if err != nil {
		return fail(err)
	}
	return &lockedTx{conn: conn, head: head, now: now}
}

// lock begins a transaction on a connection of the pool, takes the chain lock and reads the head
// and the server's clock, in one round trip.
func (s *Store) lock(ctx context.Context) (*lockedTx, error) {
	s.lockTrips.Add(1)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, s.unavailable("cannot write the audit record", err)
	}
	head, now, err := s.begin(ctx, conn)
	if err != nil {
		_, _ = conn.Exec(context.Background(), "ROLLBACK")
		conn.Release()
		return nil, s.unavailable("cannot write the audit record", err)
	}
	return &lockedTx{conn: conn, head: head, now: now}, nil
}

// unlock ends a transaction taken for a batch that did not come, letting the lock go.
func (s *Store) unlock(l *lockedTx) {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.StatementTimeout)
	defer cancel()
	_, _ = l.conn.Exec(ctx, "ROLLBACK")
	l.conn.Release()
}

// begin begins a transaction, takes the chain lock and reads the head and the server's clock
// under it, in one round trip.
func (s *Store) begin(ctx context.Context, conn *pgxpool.Conn) (audit.Head, time.Time, error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, chainLock)
	// A statement of its own after the lock: under READ COMMITTED it sees every append committed
	// before the lock was granted.
	var (
		now   time.Time
		seqs  []int64
		lines []string
	)
	b.Queue(tailQuery).QueryRow(func(r pgx.Row) error { return r.Scan(&now, &seqs, &lines) })
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return audit.Head{}, now, err
	}
	return s.checkTail(now, seqs, lines)
}

// seal chains entries after chain's head, each taking now as its time (unless keepTime and it has
// one) and the store's host unless it has one, and returns them as written and the arguments of
// insertRows.
func (s *Store) seal(chain *audit.Chain, entries []audit.Entry, now time.Time, keepTime bool) (out []audit.Entry, args []any) {
	n := len(entries)
	seqs, stamps := make([]int64, n), make([]time.Time, n)
	users, roles, actions, lines := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	out = make([]audit.Entry, n)
	var buf []byte
	for i, e := range entries {
		if !keepTime || e.Timestamp.IsZero() {
			e.Timestamp = now
		}
		if e.Host == "" {
			e.Host = s.opts.Host
		}
		buf, e = chain.Next(buf[:0], e)
		out[i] = e
		seqs[i], stamps[i] = int64(e.Seq), e.Timestamp
		users[i], roles[i], actions[i] = column(e.UserID), column(e.Role), column(e.Action)
		lines[i] = string(buf[:len(buf)-1])
	}
	return out, []any{seqs, stamps, users, roles, actions, lines}
}

// insertRows inserts rows given as arrays, one statement for a whole batch.
const insertRows = `INSERT INTO audit_entries (seq, ts, user_id, role, action, line)
	SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[])`

// querier runs a statement in the append's transaction.
type querier interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}

// appendTx appends the entries next gives (until it gives none; it is told the seq the first will
// take) under the chain lock in one transaction: importing a file log, whose entries keep their own
// timestamps when keepTime. also, when set, queues more statements for the same transaction after
// the rows, with the seq range they took and the head.
func (s *Store) appendTx(ctx context.Context, next func(q querier, first uint64) ([]audit.Entry, error), keepTime bool, also func(b *pgx.Batch, first uint64, head audit.Head)) (out []audit.Entry, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, s.unavailable("cannot write the audit record", err)
	}
	defer conn.Release()
	committed := false
	defer func() {
		if !committed {
			// A connection left in a transaction is not reused by the pool; try to leave it clean.
			_, _ = conn.Exec(context.Background(), "ROLLBACK")
		}
	}()
	fail := func(err error) ([]audit.Entry, error) {
		return nil, s.unavailable("cannot write the audit record", err)
	}
	head, now, err := s.begin(ctx, conn)
	if err != nil {
		return fail(err)
	}
	chain := &audit.Chain{Seq: head.Seq, Hash: head.Hash}
	first := head.Seq + 1
	pending := &pgx.Batch{}
	for {
		entries, err := next(conn, first)
		if err != nil {
			return fail(err)
		}
		if len(entries) == 0 {
			break
		}
		if pending.Len() > 0 {
			if err := conn.SendBatch(ctx, pending).Close(); err != nil {
				return fail(err)
			}
			pending = &pgx.Batch{}
		}
		written, args := s.seal(chain, entries, now, keepTime)
		if !keepTime {
			out = append(out, written...)
		}
		pending.Queue(insertRows, args...)
	}
	if also != nil {
		also(pending, first, audit.Head{Seq: chain.Seq, Hash: chain.Hash})
	}
	pending.Queue(`SELECT pg_notify($1, $2)`, Channel, strconv.FormatUint(chain.Seq, 10))
	pending.Queue("COMMIT")
	if err := conn.SendBatch(ctx, pending).Close(); err != nil {
		return fail(err)
	}
	committed = true
	return out, nil
}

// column is a field as an indexed column holds it: PostgreSQL text cannot hold NUL, which the
// line escapes.
func column(s string) string { return strings.ReplaceAll(s, "\x00", "") }

// tailQuery reads the server's clock and the last two rows, oldest first.
const tailQuery = `SELECT clock_timestamp(), coalesce(array_agg(seq ORDER BY seq), '{}'), coalesce(array_agg(line ORDER BY seq), '{}')
	FROM (SELECT seq, line FROM audit_entries ORDER BY seq DESC LIMIT 2) t`

// tail reads the chain's head and the server's clock; see checkTail.
func (s *Store) tail(ctx context.Context, q querier) (audit.Head, time.Time, error) {
	var (
		now   time.Time
		seqs  []int64
		lines []string
	)
	if err := q.QueryRow(ctx, tailQuery).Scan(&now, &seqs, &lines); err != nil {
		return audit.Head{}, now, err
	}
	return s.checkTail(now, seqs, lines)
}

// checkTail finds the chain's head in its last two rows, checked as an appender to the file checks
// the end of the file: the last entry matches its hash and follows the one before it, so a new
// entry never builds on an edited one.
func (s *Store) checkTail(now time.Time, seqs []int64, lines []string) (audit.Head, time.Time, error) {
	now = now.UTC().Truncate(time.Millisecond)
	if len(lines) == 0 {
		return audit.Head{Hash: audit.Genesis}, now, nil
	}
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	head, _, err := audit.LastEntry(bytes.NewReader(b.Bytes()), int64(b.Len()))
	var de *audit.DamagedError
	if errors.As(err, &de) {
		return audit.Head{}, now, s.damaged(strings.ReplaceAll(de.Reason, "entry before its last", "row before its last"))
	}
	if err == nil && head.Seq != uint64(seqs[len(seqs)-1]) {
		err = s.damaged("its last row (seq " + strconv.FormatInt(seqs[len(seqs)-1], 10) + ") holds the line of seq " + strconv.FormatUint(head.Seq, 10))
	}
	return head, now, err
}

func (s *Store) damaged(reason string) error {
	return (&fault.Error{Kind: fault.Unavailable, Err: &audit.DamagedError{Path: s.target, Reason: reason}}).
		Hint("run `klrbac audit verify` to see what is wrong; klrbac does not build on a damaged chain")
}

// Head returns the chain's last entry, checked as an append checks it; the empty chain's head is
// seq 0 with the Genesis hash.
func (s *Store) Head(ctx context.Context) (audit.Head, error) {
	if err := s.ready(ctx); err != nil {
		return audit.Head{}, err
	}
	h, _, err := s.tail(ctx, s.pool)
	if err != nil {
		return audit.Head{}, s.unavailable("reading the chain head", err)
	}
	return h, nil
}

// Ready reports whether an append would succeed now: the database answers, the schema is current
// and the chain's end is one an append builds on. Changes that cannot be undone ask it first.
func (s *Store) Ready(ctx context.Context) error {
	_, err := s.Head(ctx)
	return forWrite(err)
}
