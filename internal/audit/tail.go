package audit

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
)

// TailQuery is what `audit tail` asks of a trail: the last N entries its filters keep, or every one
// since a time, and then, when Follow, each new one as it is appended.
type TailQuery struct {
	// N is how many of the last entries to print; -1 prints every entry since Since.
	N      int
	Follow bool
	// User, Role and Action match exactly, or as patterns with * (Glob); "" matches all.
	User, Role, Action string
	// Failed keeps only entries whose success is false, Succeeded only those whose success is true,
	// Alerts only those that matched an alert rule.
	Failed, Succeeded, Alerts bool
	// Since, when set, keeps entries at or after it.
	Since time.Time
}

// ParseSince reads --since: a duration back from now (with d for days), an RFC 3339 time, or a date
// (midnight UTC).
func ParseSince(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fault.Usagef("--since %q is neither a duration nor a time", s).
		Hint("use a duration such as 90m, 36h or 7d, or a time such as 2026-05-01 or 2026-05-01T09:00:00Z")
}

// Select is the query's filter, judged on each entry as its line reads, and where reading backwards
// can stop.
func (q TailQuery) Select() Select {
	keep := func(e Entry) bool {
		return (q.User == "" || Glob(q.User, e.UserID)) &&
			(q.Role == "" || Glob(q.Role, e.Role)) &&
			(q.Action == "" || Glob(q.Action, e.Action)) &&
			(!q.Failed || !e.Success) && (!q.Succeeded || e.Success) &&
			(!q.Alerts || e.Alert != "") &&
			(q.Since.IsZero() || !e.Timestamp.Before(q.Since))
	}
	sel := Select{Keep: keep}
	if !q.Since.IsZero() {
		sel.Stop = func(e Entry) bool { return e.Timestamp.Before(q.Since) }
	}
	return sel
}

// TailPrinter shows what a tail reads (ui.AuditTail): the last entries at once, a range read forwards
// (Stream calls pass again for a table's second pass), then followed lines one by one.
type TailPrinter interface {
	Batch(records []Record)
	Stream(pass func(emit func(line []byte) error) error, keep func(Entry) bool) (skipped int, writeErr, readErr error)
	Flush() error
	Skipped(n int)
	Followed(keep func(Entry) bool) func(line []byte) error
}

// TailFile runs q on the log at path, reading from its end so that a long log costs no more than a
// short one, and then follows it (Follow) across rotation and truncation until ctx ends. notice is
// told, in words, of a log not there (yet) and of what following meets.
func TailFile(ctx context.Context, path string, q TailQuery, p TailPrinter, notice func(string)) error {
	sel := q.Select()
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && q.Follow:
		notice("no audit log at " + path + " yet; waiting for it")
		f = nil
	case errors.Is(err, fs.ErrNotExist):
		notice("no audit log at " + path + ": nothing has been recorded there")
		return nil
	case err != nil:
		return fault.Unavailablef("cannot read audit log: %w", err)
	}
	var end int64
	if f != nil {
		end, err = tailRead(f, q.N, sel, p)
		if err != nil {
			f.Close()
			return err
		}
		if !q.Follow {
			return f.Close()
		}
	}
	return Follow(ctx, path, f, end, FollowOptions{Notice: notice}, p.Followed(sel.Keep))
}

// tailRead prints what tail shows of f before following, and returns where following starts.
func tailRead(f *os.File, n int, sel Select, p TailPrinter) (end int64, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, fault.Unavailablef("cannot read audit log: %w", err)
	}
	if n >= 0 {
		recent, err := Last(f, st.Size(), n, sel)
		if err != nil {
			return 0, fault.Unavailablef("cannot read audit log %s: %w", f.Name(), err)
		}
		p.Batch(recent.Records)
		if err := p.Flush(); err != nil {
			return 0, err
		}
		p.Skipped(recent.Skipped)
		return recent.End, nil
	}
	// Every entry since a time: find where that range starts without keeping what is read back,
	// then go through it forwards, so memory stays flat however much it holds.
	rng, err := Last(f, st.Size(), -1, Select{Keep: func(Entry) bool { return false }, Stop: sel.Stop})
	var skipped int
	var writeErr error
	if err == nil {
		skipped, writeErr, err = p.Stream(func(emit func([]byte) error) error { return Lines(f, rng.Start, rng.End, emit) }, sel.Keep)
	}
	if writeErr == nil {
		writeErr = p.Flush()
	}
	if writeErr != nil {
		return 0, writeErr
	}
	if err != nil {
		return 0, fault.Unavailablef("cannot read audit log %s: %w", f.Name(), err)
	}
	p.Skipped(skipped)
	return rng.End, nil
}
