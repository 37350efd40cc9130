package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// FollowOptions tune Follow.
type FollowOptions struct {
	// Poll is how often the table is read even without a notification, so that a lost
	// notification delays an entry by at most this much (default 2s).
	Poll time.Duration
	// Notice is told, in words, when the connection is lost and when it is back.
	Notice func(string)
}

// Follow passes each line stored after the entry numbered after to emit, as it is stored, until ctx
// ends (its error is returned) or emit fails; connection losses are told to Options.Notice.
func (s *Store) Follow(ctx context.Context, after uint64, emit func(line []byte) error) error {
	return s.FollowRows(ctx, after, FollowOptions{Notice: s.opts.Notice}, func(_ int64, line []byte) error { return emit(line) })
}

// FollowRows passes every row appended after seq after to emit, in seq order, until ctx ends (its error
// is returned) or emit fails. It listens for the appenders' notifications on a connection of its
// own and reads from the last seq it passed on, so a notification lost or merged loses nothing; when
// the connection drops (a database restart), it connects again, with a growing pause up to 5s, and
// catches up.
func (s *Store) FollowRows(ctx context.Context, after uint64, opts FollowOptions, emit func(seq int64, line []byte) error) error {
	notice := opts.Notice
	if notice == nil {
		notice = func(string) {}
	}
	poll := opts.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	q := Query{After: after}
	pause := 100 * time.Millisecond
	lost := false
	for {
		err := s.listen(ctx, &q, poll, func() {
			if lost {
				notice("audit database " + s.target + " is back; caught up")
				lost = false
			}
			pause = 100 * time.Millisecond
		}, emit)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ee emitError
		if errors.As(err, &ee) {
			return ee.err
		}
		if !lost {
			notice("lost the audit database " + s.target + " (" + s.Redact(err.Error()) + "); reconnecting")
			lost = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(pause*2, 5*time.Second)
	}
}

// listen follows on one connection until it fails.
func (s *Store) listen(ctx context.Context, q *Query, poll time.Duration, connected func(), emit func(int64, []byte) error) error {
	cctx, cancel := context.WithTimeout(ctx, s.opts.ConnectTimeout)
	conn, err := pgx.ConnectConfig(cctx, s.pool.Config().ConnConfig.Copy())
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	if err := s.ready(ctx); err != nil {
		return err
	}
	first := true
	for {
		// Listening first, then reading: an append committed in between is both read and
		// notified, never neither.
		if err := pages(ctx, conn, q, emit); err != nil {
			return err
		}
		if first {
			connected()
			first = false
		}
		wctx, cancel := context.WithTimeout(ctx, poll)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
}
