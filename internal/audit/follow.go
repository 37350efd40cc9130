package audit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// FollowOptions tune Follow.
type FollowOptions struct {
	// Poll is how often the file is looked at even without a change notification (default 250ms, or
	// 100ms where change notifications are unavailable, as on network file systems).
	Poll time.Duration
	// Notice is told, in words, when the file is rotated, truncated, removed or appears.
	Notice func(string)
}

// Follow passes every complete line appended to the log at path to emit, as `tail -F` does, until
// ctx ends (its error is returned) or emit fails. Reading starts at offset in f, the file as opened
// earlier (nil if it did not exist). When the path is replaced (rotation) the rest of the old file is
// read first, then the new one from its start; when the file shrinks (truncation), or no longer
// holds what was read (truncated and written again between two looks), reading restarts
// from its start. A partial last line is held back until its newline arrives.
func Follow(ctx context.Context, path string, f *os.File, offset int64, opts FollowOptions, emit func(line []byte) error) error {
	notice := opts.Notice
	if notice == nil {
		notice = func(string) {}
	}
	var wake <-chan fsnotify.Event
	var werrs <-chan error
	if w, err := fsnotify.NewWatcher(); err == nil {
		defer w.Close()
		// Watching the directory sees writes to the file and its replacement alike.
		if w.Add(filepath.Dir(path)) == nil {
			wake, werrs = w.Events, w.Errors
		}
	}
	poll := opts.Poll
	if poll <= 0 {
		poll = 250 * time.Millisecond
		if wake == nil {
			poll = 100 * time.Millisecond
		}
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()

	fl := &follower{path: path, f: f, offset: offset, lineEnd: offset, emit: emit, buf: make([]byte, readChunk)}
	defer func() {
		if fl.f != nil {
			fl.f.Close()
		}
	}()
	if f != nil {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		fl.st = st
	}
	missing := f == nil
	for {
		st, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if !missing {
				notice("audit log " + path + " was removed; waiting for it to reappear")
				missing = true
			}
		case err != nil:
			return err
		case fl.f == nil || !os.SameFile(st, fl.st):
			if fl.f != nil {
				if err := fl.read(); err != nil {
					return err
				}
				fl.f.Close()
				fl.f = nil
				notice("audit log " + path + " was replaced (rotated?); following the new file")
			} else if missing {
				notice("audit log " + path + " appeared; following it")
			}
			nf, err := os.Open(path)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					break // replaced again under us: next round
				}
				return err
			}
			nst, err := nf.Stat()
			if err != nil {
				nf.Close()
				return err
			}
			fl.f, fl.st, fl.offset, fl.lineEnd, fl.pending, fl.overlong, fl.tail, missing = nf, nst, 0, 0, fl.pending[:0], false, fl.tail[:0], false
		case st.Size() < fl.offset || fl.rewritten():
			notice("audit log " + path + " was truncated; following it from its start")
			fl.offset, fl.lineEnd, fl.pending, fl.overlong, fl.tail = 0, 0, fl.pending[:0], false, fl.tail[:0]
		}
		if fl.f != nil {
			if err := fl.read(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		case <-wake:
		case <-werrs:
		}
	}
}

type follower struct {
	path   string
	f      *os.File
	st     os.FileInfo
	offset int64
	// lineEnd is the offset just after the last complete line. A partial line after it is read
	// again from there at the next look, since it may yet be taken back (a failed append undone)
	// rather than completed; only one too long to be an entry is passed over for good.
	lineEnd  int64
	pending  []byte
	overlong bool
	buf      []byte
	emit     func([]byte) error
	// tail is the last bytes of the complete lines read, up to lineEnd. A file truncated and written
	// again past lineEnd between two looks has not shrunk, but no longer holds them there.
	tail []byte
}

// tailKeep is how much of what was read the follower keeps to notice a rewrite: more than an
// entry's hash, which no other entry repeats.
const tailKeep = 96

// rewritten reports whether the bytes before lineEnd are no longer those read there.
func (fl *follower) rewritten() bool {
	if fl.f == nil || len(fl.tail) == 0 {
		return false
	}
	b := make([]byte, len(fl.tail))
	_, err := fl.f.ReadAt(b, fl.lineEnd-int64(len(b)))
	return err != nil || !bytes.Equal(b, fl.tail)
}

// remember keeps the last tailKeep bytes of what was read so far.
func (fl *follower) remember(data []byte) {
	if len(data) >= tailKeep {
		fl.tail = append(fl.tail[:0], data[len(data)-tailKeep:]...)
		return
	}
	fl.tail = append(fl.tail, data...)
	if extra := len(fl.tail) - tailKeep; extra > 0 {
		fl.tail = append(fl.tail[:0], fl.tail[extra:]...)
	}
}

// read passes on the complete lines between offset and the end of the file.
func (fl *follower) read() error { return fl.readFrom(fl.f) }

// readFrom passes on the complete lines of r from offset on.
func (fl *follower) readFrom(r io.ReaderAt) error {
	defer func() {
		if len(fl.pending) > 0 {
			fl.offset, fl.pending = fl.lineEnd, fl.pending[:0]
		}
	}()
	for {
		n, err := r.ReadAt(fl.buf, fl.offset)
		data := fl.buf[:n]
		start := fl.offset
		fl.offset += int64(n)
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			fl.remember(data[:i+1])
		}
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				fl.hold(data)
				break
			}
			line := data[:i]
			data = data[i+1:]
			fl.lineEnd = start + int64(n-len(data))
			skip := fl.overlong
			if len(fl.pending) > 0 {
				line = append(fl.pending, line...)
			}
			fl.pending, fl.overlong = fl.pending[:0], false
			if skip {
				line = nil // a line too long to be an entry: pass on an empty one, which is not an entry either
			}
			if err := fl.emit(line); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || n < len(fl.buf) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (fl *follower) hold(b []byte) {
	if fl.overlong {
		return
	}
	if len(fl.pending)+len(b) > maxLine {
		fl.pending, fl.overlong = fl.pending[:0], true
		return
	}
	fl.pending = append(fl.pending, b...)
}
