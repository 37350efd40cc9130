package audit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// healthProbeInterval spaces Ready's questions to a failed store; tests shorten it.
var healthProbeInterval = time.Second

// ErrClosed is the error of an append to a GroupCommit that was closed.
var ErrClosed = errors.New("the audit trail is closed")

// DefaultMaxBatch bounds how many entries one group commit writes.
const DefaultMaxBatch = 1024

// GroupCommit lets many goroutines append to one store without paying one fsync each: while a batch
// is being written, the entries that arrive wait together and go in the next batch, as one append.
// Each call returns only once its own entry is durable (or with the error that kept it from being),
// so a caller that acknowledges something after Append never acknowledges an entry a crash can lose.
// Under no load nothing waits for company: a caller that finds nothing being written or waiting
// writes its entries itself, at once, rather than hand them to the committing goroutine and wait
// for it to be scheduled.
//
// GroupCommit is itself a Store, so a Trail records through it as through the store it wraps; its
// Ready is cheap enough to ask before every call a server handles.
type GroupCommit struct {
	store    Store
	maxBatch int

	mu      sync.Mutex
	queue   []*pendingAppend
	wake    chan struct{}
	closed  bool
	busy    bool // a batch is being written, by the committer or by a caller that found it idle
	writing int  // entries in the batch being written
	lastErr error
	probed  time.Time      // when Ready last asked the store after a failure
	direct  sync.WaitGroup // callers writing their own batch
	done    chan struct{}
}

type pendingAppend struct {
	entries []Entry
	out     []Entry
	err     error
	done    chan struct{}
}

// NewGroupCommit starts committing to store in batches of at most maxBatch entries (<= 0: the
// default). Close stops it.
func NewGroupCommit(store Store, maxBatch int) *GroupCommit {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	g := &GroupCommit{store: store, maxBatch: maxBatch, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go g.run()
	return g
}

// Append writes e with the next batch and returns it as written, once it is durable.
func (g *GroupCommit) Append(ctx context.Context, e Entry) (Entry, error) {
	out, err := g.AppendAll(ctx, []Entry{e})
	if err != nil {
		return Entry{}, err
	}
	return out[0], nil
}

// AppendAll writes entries, consecutively, with the next batch and returns them as written, once
// they are durable. When ctx ends first, the entries may still be written; the error then says only
// that nobody waited to know.
func (g *GroupCommit) AppendAll(ctx context.Context, entries []Entry) ([]Entry, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, ErrClosed
	}
	if !g.busy && len(g.queue) == 0 && len(entries) <= g.maxBatch {
		g.busy, g.writing = true, len(entries)
		g.direct.Add(1)
		g.mu.Unlock()
		defer g.direct.Done()
		return g.write(entries)
	}
	p := &pendingAppend{entries: entries, done: make(chan struct{})}
	g.queue = append(g.queue, p)
	g.signal()
	g.mu.Unlock()
	select {
	case <-p.done:
		return p.out, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// signal wakes the committer; g.mu is held, so that Close cannot close the channel in between.
func (g *GroupCommit) signal() {
	if g.closed {
		return
	}
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// write appends one batch to the store, then hands the next one, if any waits, to the committer.
func (g *GroupCommit) write(all []Entry) ([]Entry, error) {
	// Not a caller's context: a batch serves many, and one caller giving up must not fail the others.
	written, err := g.store.AppendAll(context.Background(), all)
	if err == nil && len(written) != len(all) {
		err = errors.New("the audit store wrote a different number of entries than it was given")
	}
	g.mu.Lock()
	g.lastErr, g.writing, g.busy = err, 0, false
	if len(g.queue) > 0 {
		g.signal()
	}
	g.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return written, nil
}

// Depth is how many entries are waiting or being written: the audit queue a metric shows.
func (g *GroupCommit) Depth() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.writing
	for _, p := range g.queue {
		n += len(p.entries)
	}
	return n
}

// Ready reports whether an append is expected to succeed: nil when the last batch was written,
// without asking the store, so that a server may ask before every call. After a failure it asks the
// store's own Ready, at most once a second, so that a store that recovers is used again without
// waiting for an append to risk it. Whoever needs the store checked now (a server starting) asks
// the store itself.
func (g *GroupCommit) Ready(ctx context.Context) error {
	g.mu.Lock()
	err, probed := g.lastErr, g.probed
	g.mu.Unlock()
	if err == nil {
		return nil
	}
	if time.Since(probed) < healthProbeInterval {
		return err
	}
	perr := g.store.Ready(ctx)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.probed = time.Now()
	if perr != nil {
		g.lastErr = perr
		return perr
	}
	g.lastErr = nil
	return nil
}

// Head is the store's head.
func (g *GroupCommit) Head(ctx context.Context) (Head, error) { return g.store.Head(ctx) }

// Where names the store.
func (g *GroupCommit) Where() string { return g.store.Where() }

// Close writes what is queued, waits for it, and refuses further appends.
func (g *GroupCommit) Close() error {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.wake)
	}
	g.mu.Unlock()
	<-g.done
	return nil
}

func (g *GroupCommit) run() {
	defer close(g.done)
	for {
		if batch, n := g.take(); batch != nil {
			g.commit(batch, n)
			continue
		}
		if _, ok := <-g.wake; !ok {
			// Closed: no caller starts a batch of its own any more; once those under way are done,
			// write what is left, then stop.
			g.direct.Wait()
			for {
				batch, n := g.take()
				if batch == nil {
					return
				}
				g.commit(batch, n)
			}
		}
	}
}

// take removes up to maxBatch entries' worth of appends from the queue (always at least one append)
// and marks the committer busy; nil when nothing waits or a caller is writing its own batch, which
// signals when it is done.
func (g *GroupCommit) take() (batch []*pendingAppend, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.busy {
		return nil, 0
	}
	i := 0
	for i < len(g.queue) && (i == 0 || n+len(g.queue[i].entries) <= g.maxBatch) {
		n += len(g.queue[i].entries)
		i++
	}
	if i == 0 {
		return nil, 0
	}
	batch = g.queue[:i:i]
	g.queue = g.queue[i:]
	g.busy, g.writing = true, n
	return batch, n
}

func (g *GroupCommit) commit(batch []*pendingAppend, n int) {
	all := make([]Entry, 0, n)
	for _, p := range batch {
		all = append(all, p.entries...)
	}
	written, err := g.write(all)
	off := 0
	for _, p := range batch {
		if err != nil {
			p.err = err
		} else {
			p.out = written[off : off+len(p.entries)]
		}
		off += len(p.entries)
		close(p.done)
	}
}
