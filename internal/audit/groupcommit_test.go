package audit

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingStore counts the batches a GroupCommit hands its store.
type countingStore struct {
	Store
	batches atomic.Int64
	fail    atomic.Pointer[error]
}

func (c *countingStore) AppendAll(ctx context.Context, entries []Entry) ([]Entry, error) {
	c.batches.Add(1)
	if e := c.fail.Load(); e != nil {
		return nil, *e
	}
	return c.Store.AppendAll(ctx, entries)
}

// Ready answers as the wrapped file log does, failing while the store fails.
func (c *countingStore) Ready(ctx context.Context) error {
	if e := c.fail.Load(); e != nil {
		return *e
	}
	return c.Store.Ready(ctx)
}

func TestGroupCommitBatchesConcurrentAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, Options{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Store: l}
	g := NewGroupCommit(store, 0)
	const callers, each = 32, 20
	seen := make(chan uint64, callers*each)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				e, err := g.Append(context.Background(), sample(c*each+i))
				if err != nil {
					t.Error(err)
					return
				}
				seen <- e.Seq
			}
		})
	}
	wg.Wait()
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	close(seen)
	got := map[uint64]bool{}
	for s := range seen {
		if got[s] {
			t.Fatalf("seq %d answered twice", s)
		}
		got[s] = true
	}
	for s := uint64(1); s <= callers*each; s++ {
		if !got[s] {
			t.Fatalf("seq %d never answered", s)
		}
	}
	rep := verifyFile(t, path, VerifyOptions{})
	if !rep.OK() || rep.Entries != callers*each {
		t.Fatalf("log after group commits: %d entries, problems %v", rep.Entries, rep.Problems)
	}
	if b := store.batches.Load(); b >= callers*each {
		t.Errorf("%d batches for %d concurrent appends: nothing was grouped", b, callers*each)
	}
	if _, err := g.Append(context.Background(), sample(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("append after close: %v, want ErrClosed", err)
	}
}

func TestGroupCommitTellsEveryCallerOfAFailedBatch(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "audit.log"), Options{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Store: l}
	boom := errors.New("disk full")
	store.fail.Store(&boom)
	g := NewGroupCommit(store, 0)
	defer g.Close()
	defer func(d time.Duration) { healthProbeInterval = d }(healthProbeInterval)
	healthProbeInterval = 0
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := g.Append(context.Background(), sample(i)); !errors.Is(err, boom) {
				t.Errorf("append %d: %v, want the store's error", i, err)
			}
		})
	}
	wg.Wait()
	if err := g.Ready(context.Background()); !errors.Is(err, boom) {
		t.Errorf("ready while the store fails: %v", err)
	}
	// The file log can tell it is writable again, so the trail is ready once it asks.
	store.fail.Store(nil)
	if err := g.Ready(context.Background()); err != nil {
		t.Errorf("ready after the store recovered: %v", err)
	}
	if _, err := g.Append(context.Background(), sample(9)); err != nil {
		t.Errorf("append after recovery: %v", err)
	}
}

// gatedStore holds every AppendAll until the test lets it go, and counts them.
type gatedStore struct {
	Store
	started chan struct{}
	gate    chan struct{}
	batches atomic.Int64
}

func (s *gatedStore) AppendAll(ctx context.Context, entries []Entry) ([]Entry, error) {
	s.batches.Add(1)
	s.started <- struct{}{}
	<-s.gate
	return s.Store.AppendAll(ctx, entries)
}

// A caller that finds the trail idle writes at once; the appends that arrive meanwhile wait and go
// together in the next batch, written by the committer.
func TestGroupCommitGroupsBehindAnIdleCallersWrite(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "audit.log"), Options{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	store := &gatedStore{Store: l, started: make(chan struct{}, 16), gate: make(chan struct{})}
	g := NewGroupCommit(store, 0)
	defer g.Close()
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { _, err := g.Append(ctx, sample(0)); first <- err }()
	<-store.started // the first append is being written
	var wg sync.WaitGroup
	for i := 1; i <= 8; i++ {
		wg.Go(func() {
			if _, err := g.Append(ctx, sample(i)); err != nil {
				t.Error(err)
			}
		})
	}
	waitDepth(t, g, 9)
	close(store.gate)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if b := store.batches.Load(); b != 2 {
		t.Errorf("%d batches, want 2: the idle caller's own and the eight that waited behind it", b)
	}
	if g.Depth() != 0 {
		t.Errorf("depth %d after every append returned", g.Depth())
	}
}

// waitDepth waits until n entries are queued or being written; the bound only keeps a broken queue
// from hanging the run.
func waitDepth(t *testing.T, g *GroupCommit, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for g.Depth() < n {
		if time.Now().After(deadline) {
			t.Fatalf("depth %d, want %d", g.Depth(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
