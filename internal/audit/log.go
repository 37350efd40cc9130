package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"

	"github.com/klrbac/klrbac/internal/fault"
)

// Options tune a Log; the zero value is what klrbac uses.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Host fills an entry's Host when it has none (default Hostname()).
	Host string
	// Actor fills the UserID of entries klrbac writes on its own behalf (audit.recovered).
	Actor string
	// LockTimeout bounds the wait for other writers (default 10s).
	LockTimeout time.Duration
	// OnRecover is told about each audit.recovered entry an append writes.
	OnRecover func(Entry)
}

// Log is an audit log file. Appends from any number of processes are serialised by an exclusive
// lock on a sidecar file, PATH.lock, which rotation leaves in place.
type Log struct {
	path string
	opts Options
}

// Open returns the log at path. Nothing is created until the first append.
func Open(path string, opts Options) (*Log, error) {
	if path == "" {
		return nil, fault.Configf("no audit log path").Hint("set audit.path in the config, KLRBAC_AUDIT_LOG or --audit-log")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 10 * time.Second
	}
	if opts.Host == "" {
		opts.Host = Hostname()
	}
	return &Log{path: path, opts: opts}, nil
}

// Path is the log's file.
func (l *Log) Path() string { return l.path }

// Append writes e as the next entry and returns it as written (with Seq, Timestamp, Host, Prev and
// Hash). The entry is on disk (fsync) when Append returns without error.
func (l *Log) Append(ctx context.Context, e Entry) (Entry, error) {
	out, err := l.AppendAll(ctx, []Entry{e})
	if err != nil {
		return Entry{}, err
	}
	return out[0], nil
}

// AppendAll writes entries as consecutive entries under one lock and one fsync.
func (l *Log) AppendAll(ctx context.Context, entries []Entry) ([]Entry, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	unlock, err := l.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, l.writeError(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, l.writeError(err)
	}
	if !st.Mode().IsRegular() {
		return nil, fault.Unavailablef("refusing to append to %s: not a regular file", l.path).
			Hint("point audit.path (or KLRBAC_AUDIT_LOG) at a file")
	}
	tail, err := findTail(f, st.Size())
	if err != nil {
		return nil, l.damaged(err)
	}
	now := l.opts.Now()
	buf := make([]byte, 0, 512*(len(entries)+1))
	seq, prev := tail.seq, tail.hash
	var recovered *Entry
	if tail.run.present {
		r := tail.recoveryEntry()
		r.UserID, r.Host, r.Timestamp = l.opts.Actor, l.host(""), now
		r = normalize(r)
		if tail.endsTorn {
			buf = append(buf, '\n')
		}
		seq++
		buf = seal(buf, &r, seq, prev)
		prev = r.Hash
		recovered = &r
	}
	out := make([]Entry, len(entries))
	for i, e := range entries {
		if e.Timestamp.IsZero() {
			e.Timestamp = now
		}
		e.Host = l.host(e.Host)
		e = normalize(e)
		seq++
		buf = seal(buf, &e, seq, prev)
		prev = e.Hash
		out[i] = e
	}
	if err := writeAll(f, buf); err != nil {
		return nil, l.writeError(err)
	}
	if err := f.Sync(); err != nil {
		return nil, l.writeError(err)
	}
	if st.Size() == 0 {
		// A new file's name must survive a crash too.
		if d, err := os.Open(filepath.Dir(l.path)); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	if recovered != nil && l.opts.OnRecover != nil {
		l.opts.OnRecover(*recovered)
	}
	return out, nil
}

// testHookMidWrite, when set by a test, runs after the first half of a write so that a test can kill
// the process with a torn line on disk.
var testHookMidWrite func()

func writeAll(f *os.File, buf []byte) error {
	if testHookMidWrite != nil {
		half := len(buf) / 2
		if _, err := f.Write(buf[:half]); err != nil {
			return err
		}
		testHookMidWrite()
		buf = buf[half:]
	}
	_, err := f.Write(buf)
	return err
}

func (l *Log) host(h string) string {
	if h != "" {
		return h
	}
	return l.opts.Host
}

// lock takes the exclusive lock on PATH.lock, creating the directory (0700) and the lock file (0600)
// when missing, and returns its release.
func (l *Log) lock(ctx context.Context) (func(), error) {
	lf := flock.New(l.path+".lock", flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	ok, err := lf.TryLock()
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
			return nil, l.writeError(err)
		}
		ok, err = lf.TryLock()
	}
	if err != nil {
		return nil, l.writeError(err)
	}
	if ok {
		return func() { _ = lf.Unlock() }, nil
	}
	// Another writer holds the lock: wait in the kernel rather than polling, which keeps many
	// concurrent writers fair and fast, but give up after LockTimeout.
	ctx, cancel := context.WithTimeout(ctx, l.opts.LockTimeout)
	defer cancel()
	got := make(chan error)
	abandoned := make(chan struct{})
	go func() {
		err := lf.Lock()
		select {
		case <-abandoned:
			if err == nil {
				_ = lf.Unlock()
			}
		case got <- err:
		}
	}()
	select {
	case err := <-got:
		if err != nil {
			return nil, l.writeError(err)
		}
		return func() { _ = lf.Unlock() }, nil
	case <-ctx.Done():
		close(abandoned)
		// The waiting goroutine may have won the race to send.
		select {
		case err := <-got:
			if err == nil {
				_ = lf.Unlock()
			}
		default:
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, ctx.Err()
		}
		return nil, fault.Unavailablef("audit log %s is locked by another process (waited %s)", l.path, l.opts.LockTimeout).
			Hint("another klrbac is writing it, or is stuck; `fuser " + l.path + ".lock` names it")
	}
}

func (l *Log) writeError(err error) error {
	e := fault.Unavailablef("cannot write audit log %s: %w", l.path, unwrapPath(err))
	if errors.Is(err, fs.ErrPermission) {
		return e.Hint("make " + filepath.Dir(l.path) + " writable, or point audit.path (KLRBAC_AUDIT_LOG, --audit-log) at a file you can write")
	}
	return e.Hint("check the disk and the file's permissions, or point audit.path (KLRBAC_AUDIT_LOG, --audit-log) elsewhere")
}

func (l *Log) damaged(err error) error {
	return fault.Unavailablef("refusing to append to %s: %w", l.path, err).
		Hint("run `klrbac audit verify "+l.path+"` to see what is wrong", "point audit.path (KLRBAC_AUDIT_LOG, --audit-log) at a new file to keep auditing meanwhile")
}

// unwrapPath drops the *PathError wrapper, whose message would repeat the path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// span is a range of bytes that holds no entries: a torn write, or lines that are not entries.
type span struct {
	present        bool
	offset, length int64
	digest         string // Fingerprint of the bytes
}

// tailState is what an appender needs from the end of the file.
type tailState struct {
	seq  uint64
	hash string
	// run is what follows the last entry; endsTorn says the file does not end with a newline.
	run      span
	endsTorn bool
}

func (t tailState) recoveryEntry() Entry {
	reason := "a write was interrupted mid-line (crash or kill); the partial line was terminated and skipped"
	if !t.endsTorn {
		reason = "lines that are not audit entries followed the last entry; they were skipped"
	}
	return Entry{
		Action:      ActionRecovered,
		Resource:    fmt.Sprintf("offset %d, %d bytes", t.run.offset, t.run.length),
		Success:     true,
		Fingerprint: t.run.digest,
		Reason:      reason,
	}
}

const (
	// tailChunk is the first read from the end when appending; entries are far shorter.
	tailChunk = 8 << 10
	// maxRun bounds how far back an appender looks for the last entry past damaged bytes.
	maxRun = 1 << 20
)

// errForeign reports a file that does not end in entries.
var errForeign = errors.New("it does not end with a klrbac audit entry")

// findTail reads the end of the file backwards until it finds the last entry: it never scans the
// whole file. Bytes after the last entry make the run an appender records as recovered.
func findTail(f io.ReaderAt, size int64) (tailState, error) {
	t := tailState{hash: Genesis}
	if size == 0 {
		return t, nil
	}
	for window := int64(tailChunk); ; window *= 4 {
		if window > size {
			window = size
		}
		buf := make([]byte, window)
		if _, err := f.ReadAt(buf, size-window); err != nil && !errors.Is(err, io.EOF) {
			return t, err
		}
		t.endsTorn = buf[len(buf)-1] != '\n'
		end := len(buf)
		if !t.endsTorn {
			end--
		}
		// Walk lines backwards; a line at end of file without a newline is torn even if it
		// looks whole, because verify will see it that way.
		for end >= 0 {
			start := bytes.LastIndexByte(buf[:end], '\n') + 1
			if start == 0 && window < size {
				break // the line may begin before the window
			}
			complete := end < len(buf) && buf[end] == '\n'
			if complete {
				if li, ok := scan(buf[start:end]); ok && li.sealed() {
					t.seq, t.hash = li.seq, string(li.hash)
					return t.withRun(buf[end+1:], size-window+int64(end+1)), nil
				}
			}
			if start == 0 {
				// No entry at all: a torn first write, or a foreign file.
				if !looksLikeEntryStart(buf) {
					return t, errForeign
				}
				return t.withRun(buf, 0), nil
			}
			end = start - 1
			if int64(len(buf)-end) > maxRun {
				return t, fmt.Errorf("%w within its last %d MiB", errForeign, maxRun>>20)
			}
		}
		if window == size {
			return t, errForeign
		}
	}
}

// withRun notes the bytes after the last entry. They are fingerprinted without the newline that
// ends them (if any), which is how verify sees them: as lines.
func (t tailState) withRun(run []byte, offset int64) tailState {
	if len(run) == 0 {
		return t
	}
	run = bytes.TrimSuffix(run, []byte{'\n'})
	t.run = span{present: true, offset: offset, length: int64(len(run)), digest: digest(run)}
	return t
}

// looksLikeEntryStart reports whether b starts as an entry does (or is a prefix of that start), to
// tell a torn first write from a file that was never an audit log.
func looksLikeEntryStart(b []byte) bool {
	n := min(len(b), len(linePrefix))
	return string(b[:n]) == linePrefix[:n]
}

// digest identifies bytes a crash left behind, so verify can check that an audit.recovered entry
// speaks of exactly those bytes: "sha256:" and the first 16 hex digits of their SHA-256. It is an
// integrity check, not a credential fingerprint (those come from package mask).
func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:8])
}
