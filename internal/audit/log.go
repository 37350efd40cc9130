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
	"sync"
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
// lock (flock) on the log file itself.
type Log struct {
	path string
	opts Options

	// held is the log file this Log keeps open between its appends, so that an append nobody
	// contends costs a lock and a stat rather than opening the file twice (a proxy appends many
	// times a second). It is used only while it is still the file at path, and by one append at a
	// time (heldMu).
	heldMu sync.Mutex
	held   *os.File
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

// Ready reports whether an append would succeed now: the lock can be taken, the file opened for
// appending (it is created, empty, if missing), its end is one an append accepts, and the file
// takes the bytes of the next entries. Commands whose change cannot be undone, or which spend a
// user's time before they record it (an OAuth login, a long validation), ask it first rather than
// fail at the end.
//
// A full disk or a file-size limit shows only when bytes are written, so Ready has the file system
// allocate the space of the next entries past the end of the file without changing its size
// (fallocate with FALLOC_FL_KEEP_SIZE): readers see nothing, and the appends that follow write into
// space that is already theirs. Where the file system cannot, it writes that much to a scratch file
// beside the log and removes it. A file-size limit (RLIMIT_FSIZE) is checked against the log's size.
func (l *Log) Ready(ctx context.Context) error {
	release, f, st, err := l.open(ctx)
	if err != nil {
		return err
	}
	defer release()
	if _, err := findTail(f, st.Size()); err != nil {
		return l.refuse(err)
	}
	if err := reserve(f, st.Size()); err != nil {
		return l.writeError(err)
	}
	return nil
}

// readyReserve is the space Ready sets aside: more than the entries one command records.
const readyReserve = maxLine

// reserve makes sure the file f, of size bytes, has room for readyReserve more.
func reserve(f *os.File, size int64) error {
	if err := withinFileSizeLimit(size + readyReserve); err != nil {
		return err
	}
	err := preallocate(f, size, readyReserve)
	if !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	scratch, err := os.CreateTemp(filepath.Dir(f.Name()), "."+filepath.Base(f.Name())+".ready-*")
	if err != nil {
		return err
	}
	defer os.Remove(scratch.Name())
	defer scratch.Close()
	_, err = scratch.Write(make([]byte, readyReserve))
	return err
}

// AppendAll writes entries as consecutive entries under one lock and one fsync.
func (l *Log) AppendAll(ctx context.Context, entries []Entry) ([]Entry, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	release, f, st, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	tail, err := findTail(f, st.Size())
	if err != nil {
		return nil, l.refuse(err)
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
	// A failed append leaves the log exactly as it found it: a short write (a full disk, a file-size
	// limit) would otherwise leave a torn line, and bytes whose fsync failed may or may not be kept,
	// so an entry for a change that was then refused could appear. The lock is still held.
	if err := writeAll(f, buf); err != nil {
		return nil, l.writeError(errors.Join(err, undo(f, st.Size())))
	}
	if err := f.Sync(); err != nil {
		return nil, l.writeError(errors.Join(err, undo(f, st.Size())))
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

// undo takes a failed append back out of f, which was size bytes before it.
func undo(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("the failed write could not be taken back out (%w): the log may end with a torn line", err)
	}
	_ = f.Sync()
	return nil
}

func (l *Log) host(h string) string {
	if h != "" {
		return h
	}
	return l.opts.Host
}

// open takes the exclusive lock on the log and opens it for appending, creating the directory
// (0700) and the file (0600) when missing. The lock is on the log file itself, not on a file beside
// it that anyone could delete or replace under a writer (a tmp cleaner, `rm audit.log*`), after
// which a second writer would lock a new file and both would append the same seq. A lock taken on a
// file that is no longer the one at the path (the log was rotated or removed while waiting) is
// let go and taken again on the file now there.
//
// The file is kept open afterwards (held) for the next append; release unlocks it. An append made
// while another of this process uses the held file opens one of its own, as any other writer does,
// and waits for the lock in the kernel with them.
func (l *Log) open(ctx context.Context) (release func(), f *os.File, st os.FileInfo, err error) {
	if !l.heldMu.TryLock() {
		unlock, f, st, err := l.openLocked(ctx)
		if err != nil {
			return nil, nil, nil, err
		}
		return func() {
			f.Close()
			unlock()
		}, f, st, nil
	}
	if f, st, ok := l.lockHeld(); ok {
		return func() {
			unlockHeld(f)
			l.held = f
			l.heldMu.Unlock()
		}, f, st, nil
	}
	unlock, f, st, err := l.openLocked(ctx)
	if err != nil {
		l.heldMu.Unlock()
		return nil, nil, nil, err
	}
	return func() {
		unlock()
		l.held = f
		l.heldMu.Unlock()
	}, f, st, nil
}

// lockHeld locks the held file when nobody else holds the lock and it is still the regular file at
// the log's path. Otherwise it lets it go, for openLocked to find the file now there, waiting for
// the lock if need be.
func (l *Log) lockHeld() (*os.File, os.FileInfo, bool) {
	f := l.held
	if f == nil {
		return nil, nil, false
	}
	l.held = nil
	if tryLockHeld(f) {
		st, err := f.Stat()
		at, perr := os.Stat(l.path)
		if err == nil && perr == nil && st.Mode().IsRegular() && os.SameFile(st, at) {
			return f, st, true
		}
		unlockHeld(f)
	}
	f.Close()
	return nil, nil, false
}

// openLocked opens the log file and takes its lock, as described at open.
func (l *Log) openLocked(ctx context.Context) (unlock func(), f *os.File, st os.FileInfo, err error) {
	for {
		lf, err := l.lock(ctx)
		if err != nil {
			return nil, nil, nil, err
		}
		unlock = func() { _ = lf.Unlock() }
		f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			unlock()
			return nil, nil, nil, l.writeError(err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			unlock()
			return nil, nil, nil, l.writeError(err)
		}
		if !st.Mode().IsRegular() {
			f.Close()
			unlock()
			return nil, nil, nil, fault.Unavailablef("refusing to append to %s: not a regular file", l.path).
				Hint("point audit.path (or KLRBAC_AUDIT_LOG) at a file")
		}
		locked, err := lf.Stat()
		if err == nil && os.SameFile(locked, st) {
			return unlock, f, st, nil
		}
		f.Close()
		unlock()
		if err := ctx.Err(); err != nil {
			return nil, nil, nil, err
		}
	}
}

// lock takes the exclusive lock on the file at the log's path, creating the directory and the file
// when missing, and returns it locked.
func (l *Log) lock(ctx context.Context) (*flock.Flock, error) {
	lf := flock.New(l.path, flock.SetFlag(os.O_CREATE|os.O_RDWR|os.O_APPEND), flock.SetPermissions(0o600))
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
		return lf, nil
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
		return lf, nil
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
			Hint("another klrbac is writing it, or is stuck; `fuser " + l.path + "` names it")
	}
}

func (l *Log) writeError(err error) error {
	e := fault.Unavailablef("cannot write audit log %s: %w", l.path, fault.PathCause(err))
	if errors.Is(err, fs.ErrPermission) {
		return e.Hint("make " + filepath.Dir(l.path) + " writable, or point audit.path (KLRBAC_AUDIT_LOG, --audit-log) at a file you can write")
	}
	return e.Hint("check the disk and the file's permissions, or point audit.path (KLRBAC_AUDIT_LOG, --audit-log) elsewhere")
}

// refuse explains why the end of the file stops an append.
func (l *Log) refuse(err error) error {
	var d damage
	if errors.As(err, &d) {
		return (&fault.Error{Kind: fault.Unavailable, Err: &DamagedError{Path: l.path, Reason: string(d)}}).
			Hint("run `klrbac audit verify "+l.path+"` to see what is wrong", "to keep auditing meanwhile, point audit.path (KLRBAC_AUDIT_LOG, --audit-log) at a new file")
	}
	if errors.Is(err, errForeign) {
		return fault.Unavailablef("refusing to append to %s: %w", l.path, err).
			Hint("point audit.path (KLRBAC_AUDIT_LOG, --audit-log) at a klrbac audit log, or at a new file")
	}
	return l.writeError(err)
}

// span is a range of bytes that holds no entries: writes cut short by a crash.
type span struct {
	present        bool
	offset, length int64
	lines          int
	digest         string // Fingerprint of the bytes
}

// tailState is what an appender needs from the end of the file.
type tailState struct {
	seq  uint64
	hash string
	// run is the interrupted writes after the last entry; endsTorn says the file does not end with
	// a newline, which a run always does.
	run      span
	endsTorn bool
}

func (t tailState) recoveryEntry() Entry {
	reason := "a write was interrupted mid-line (crash or kill); the partial line was terminated and skipped"
	if t.run.lines > 1 {
		reason = fmt.Sprintf("%d writes were interrupted (crash or kill), the last mid-line; the partial lines were terminated and skipped", t.run.lines)
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
	// maxRun bounds how far back an appender looks for the last entries past damaged bytes.
	maxRun = 1 << 20
)

// errForeign reports a file that does not end in entries.
var errForeign = errors.New("it does not end with a klrbac audit entry")

// DamagedError reports a log whose end is not as klrbac leaves it, even after a crash: an entry
// that does not verify, or lines that are neither entries nor an interrupted write. Appending to it
// would bury the damage under new entries, so klrbac refuses; `klrbac audit verify` tells more.
type DamagedError struct {
	// Path is the log.
	Path string
	// Reason says what is wrong, e.g. "its last entry (seq 6) does not match its hash".
	Reason string
}

func (e *DamagedError) Error() string {
	if e.Path == "" {
		return "the audit log is damaged: " + e.Reason
	}
	return "audit log " + e.Path + " is damaged: " + e.Reason
}

// damage is a DamagedError before the path is known.
type damage string

func (d damage) Error() string { return string(d) }

func damagef(format string, args ...any) error { return damage(fmt.Sprintf(format, args...)) }

// findTail reads the end of the file backwards, never the whole file, until it has the last entry
// and the one before it, and checks what an appender builds on: the last entry matches its hash,
// follows the entry before it (or starts the chain), and is followed by nothing but an interrupted
// write. That write, the run an appender records as recovered, is a final line without a newline
// that begins as an entry does, possibly after earlier such lines that a recovering writer
// terminated before it was killed in turn. Anything else after the last entry is damage.
func findTail(f io.ReaderAt, size int64) (tailState, error) {
	if size == 0 {
		return tailState{hash: Genesis}, nil
	}
	for window := int64(tailChunk); ; window *= 4 {
		if window > size {
			window = size
		}
		buf := make([]byte, window)
		if _, err := f.ReadAt(buf, size-window); err != nil && !errors.Is(err, io.EOF) {
			return tailState{hash: Genesis}, err
		}
		t, more, err := tailIn(buf, size-window, window == size)
		if !more {
			return t, err
		}
	}
}

// tailIn does findTail's work on the last bytes of a file, buf, which start at offset base (0 when
// whole). more asks for a larger window: a line begins before buf.
func tailIn(buf []byte, base int64, whole bool) (t tailState, more bool, err error) {
	t = tailState{hash: Genesis, endsTorn: buf[len(buf)-1] != '\n'}
	var (
		last       lineInfo
		haveLast   bool
		runStart   = len(buf)
		runLines   int
		runForeign bool
		lastStart  int
	)
	end := len(buf)
	if !t.endsTorn {
		end--
	}
	for {
		start := bytes.LastIndexByte(buf[:end], '\n') + 1
		if start == 0 && !whole {
			return t, true, nil
		}
		line := buf[start:end]
		li, isEntry := scan(line)
		if end == len(buf) {
			// The final line, without a newline: torn, even if it looks whole, because verify
			// sees it that way.
			isEntry = false
		}
		switch {
		case isEntry && !haveLast:
			if !li.sealed() {
				return t, false, damagef("its last entry (seq %d) does not match its hash: it was edited, or the file is corrupt", li.seq)
			}
			last, haveLast, lastStart = li, true, start
		case isEntry:
			if !li.sealed() {
				return t, false, damagef("the entry before its last (seq %d) does not match its hash: it was edited, or the file is corrupt", li.seq)
			}
			if li.seq+1 != last.seq || string(li.hash) != string(last.prev) {
				return t, false, damagef("its last entry (seq %d) does not follow the entry before it (seq %d): entries were deleted, inserted, moved or edited", last.seq, li.seq)
			}
			return t.after(last, buf, base, runStart, runLines, runForeign)
		case !haveLast:
			runStart, runLines = start, runLines+1
			// An interrupted write is the beginning of an entry, cut short.
			if len(line) == 0 || !looksLikeEntryStart(line) {
				runForeign = true
			}
		}
		// Lines between the last entry and the one before it are a run that entry recovered;
		// verify judges them.
		if start == 0 {
			break
		}
		end = start - 1
		// At most maxRun bytes are read past the last entry, and as many before it (the run an
		// earlier recovery accounted for, up to the entry before the last).
		if haveLast && int64(lastStart-end) > maxRun {
			return t, false, damagef("more than %d MiB that is not audit entries precedes its last entry (seq %d)", maxRun>>20, last.seq)
		}
		if !haveLast && int64(len(buf)-end) > maxRun {
			if t.endsTorn && !runForeign {
				// What verify calls torn, but longer than any interrupted write: damage, which
				// verify names too, not a write to recover.
				return t, false, damagef("its last line has no newline and is more than %d MiB long: no interrupted write is that long", maxRun>>20)
			}
			return t, false, fmt.Errorf("%w within its last %d MiB", errForeign, maxRun>>20)
		}
	}
	// The start of the file.
	if !haveLast {
		// No entry, and lines that are not interrupted writes: not an audit log at all.
		if runForeign {
			return t, false, errForeign
		}
		return t.after(last, buf, 0, runStart, runLines, runForeign)
	}
	if last.seq != 1 || string(last.prev) != Genesis {
		return t, false, damagef("its only entry (seq %d) does not start a chain: entries were removed from its start", last.seq)
	}
	return t.after(last, buf, 0, runStart, runLines, runForeign)
}

// after completes the tail with the last entry (none: the file holds only the run) and judges the
// run of lines after it.
func (t tailState) after(last lineInfo, buf []byte, base int64, runStart, runLines int, runForeign bool) (tailState, bool, error) {
	if last.hash != nil {
		t.seq, t.hash = last.seq, string(last.hash)
	}
	switch {
	case runLines == 0:
		return t, false, nil
	case !t.endsTorn && runLines == 1:
		return t, false, damagef("its last line is not an audit entry (edited, damaged or added text)")
	case !t.endsTorn:
		return t, false, damagef("its last %d lines are not audit entries (edited, damaged or added text)", runLines)
	case runForeign && runLines == 1:
		return t, false, damagef("its last line is neither an audit entry nor an interrupted write of one")
	case runForeign:
		return t, false, damagef("its last %d lines are neither audit entries nor interrupted writes", runLines)
	}
	// Fingerprinted as verify sees the run: its lines, joined by their newlines.
	run := buf[runStart:]
	t.run = span{present: true, offset: base + int64(runStart), length: int64(len(run)), lines: runLines, digest: digest(run)}
	return t, false, nil
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
	return digestOf(sum[:])
}

// digestOf writes a SHA-256 sum the way digest does; verify checks recovery records with it.
func digestOf(sum []byte) string { return "sha256:" + hex.EncodeToString(sum[:8]) }
