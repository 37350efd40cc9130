package audit

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"github.com/klrbac/klrbac/internal/fault"
)

// Where is the log's path.
func (l *Log) Where() string { return l.path }

// openForReading opens the log for reading; f is nil when there is no file yet, which reads as an empty log.
func (l *Log) openForReading() (f *os.File, size int64, err error) {
	f, err = os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fault.Unavailablef("cannot read audit log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fault.Unavailablef("cannot read audit log: %w", err)
	}
	return f, st.Size(), nil
}

// Head reads the log's last entry from the end of the file. An interrupted write after it, which
// the next append records, does not change the head.
func (l *Log) Head(context.Context) (Head, error) {
	f, size, err := l.openForReading()
	if err != nil || f == nil {
		return Head{Hash: Genesis}, err
	}
	defer f.Close()
	head, _, err := LastEntry(f, size)
	var d *DamagedError
	if errors.As(err, &d) {
		d.Path = l.path
	}
	return head, err
}

// Scan passes the lines after the entry numbered after to emit, reading forwards from where that
// entry ends, found by reading back from the end of the file.
func (l *Log) Scan(ctx context.Context, after uint64, emit func(line []byte) error) error {
	f, size, err := l.openForReading()
	if err != nil || f == nil {
		return err
	}
	defer f.Close()
	rng, err := l.after(f, size, after)
	if err != nil {
		return err
	}
	return Lines(f, rng.Start, rng.End, func(line []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return emit(line)
	})
}

// after finds the range of lines that follow the entry numbered seq.
func (l *Log) after(f *os.File, size int64, seq uint64) (Recent, error) {
	if seq == 0 {
		end, err := completeEnd(f, size)
		return Recent{End: end}, err
	}
	return Last(f, size, -1, Select{Keep: func(Entry) bool { return false }, Stop: func(e Entry) bool { return e.Seq <= seq }})
}

// Last returns the last n entries that sel accepts, oldest first.
func (l *Log) Last(_ context.Context, n int, sel Select) ([]Record, error) {
	f, size, err := l.openForReading()
	if err != nil || f == nil {
		return nil, err
	}
	defer f.Close()
	rng, err := Last(f, size, n, sel)
	return rng.Records, err
}

// Follow follows the file as `tail -F` does (see the function Follow), from the end of the entry
// numbered after; a log not yet there is waited for.
func (l *Log) Follow(ctx context.Context, after uint64, emit func(line []byte) error) error {
	f, size, err := l.openForReading()
	if err != nil {
		return err
	}
	var offset int64
	if f != nil {
		rng, err := l.after(f, size, after)
		if err != nil {
			f.Close()
			return err
		}
		offset = rng.Start
	}
	return Follow(ctx, l.path, f, offset, FollowOptions{}, emit)
}
