package pgstore

import (
	"context"

	"github.com/klrbac/klrbac/internal/audit"
)

// Tail runs q on the team audit trail, then follows it (q.Follow) until ctx ends. The filters the
// table has columns for (user, role, action, time) go to the database, which reads through its
// indexes only the rows they select: N reads back just the last N that match, and Since alone reads
// forwards from where that time starts, a page at a time, in constant memory. q's own filter still
// judges every entry from its line. notice is told of lost and regained connections.
func (s *Store) Tail(ctx context.Context, q audit.TailQuery, p audit.TailPrinter, notice func(string)) error {
	sel := q.Select()
	head, err := s.Head(ctx)
	if err != nil && !q.Follow {
		return err
	}
	after := head.Seq
	if err == nil {
		last, err := s.tailRead(ctx, p, q, sel)
		if err != nil {
			return err
		}
		after = max(after, last)
	}
	if !q.Follow {
		return nil
	}
	emit := p.Followed(sel.Keep)
	return s.FollowRows(ctx, after, FollowOptions{Notice: notice}, func(_ int64, line []byte) error { return emit(line) })
}

// tailRead prints what tail shows before following, and returns the last seq it read.
func (s *Store) tailRead(ctx context.Context, p audit.TailPrinter, tq audit.TailQuery, sel audit.Select) (uint64, error) {
	q := Query{User: tq.User, Role: tq.Role, Action: tq.Action, Since: tq.Since}
	if tq.N >= 0 {
		recs, skipped, err := s.Recent(ctx, tq.N, q, sel)
		if err != nil {
			return 0, err
		}
		p.Batch(recs)
		if err := p.Flush(); err != nil {
			return 0, err
		}
		p.Skipped(skipped)
		if len(recs) == 0 {
			return 0, nil
		}
		return recs[len(recs)-1].Seq, nil
	}
	// Every entry since a time. A table goes through the rows twice (to fit its columns, then to
	// print them): the second pass stops at the last seq of the first, so both see the same rows.
	var last uint64
	passes := 0
	pass := func(emit func(line []byte) error) error {
		if passes++; passes > 1 {
			if last == 0 {
				return nil // nothing then, nothing now, whatever has been appended since
			}
			q.Until = last
		}
		return s.ScanRows(ctx, q, func(seq int64, line []byte) error {
			last = max(last, uint64(seq))
			return emit(line)
		})
	}
	skipped, writeErr, err := p.Stream(pass, sel.Keep)
	if writeErr == nil {
		writeErr = p.Flush()
	}
	if writeErr != nil {
		return 0, writeErr
	}
	if err != nil {
		return 0, err
	}
	p.Skipped(skipped)
	return last, nil
}
