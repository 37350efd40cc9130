package klaviyo

import (
	"context"
	"sync"
	"time"

	"github.com/klrbac/klrbac/internal/catalog"
)

// Klaviyo counts calls in fixed windows, a 1-second burst window and a 60-second steady window, per
// account and rate tier. The client cannot see where the server's windows start, so the only way to
// be sure no window ever holds more than its limit is to keep every interval of that length under
// it: a sliding window over the times requests were sent. The pacer does exactly that, plus a small
// margin for the jitter between sending a request and Klaviyo receiving it.
const (
	burstWindow  = time.Second
	steadyWindow = time.Minute
)

// PacerOptions tune a Pacer; the zero value is right for real use.
type PacerOptions struct {
	// Margin is added to each window to absorb network jitter; default 50ms.
	Margin time.Duration
	// Now and Sleep replace the clock in tests.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// PerOperation paces each operation on its own instead of each rate tier: right only if
	// Klaviyo keeps a window per endpoint, which it does not say (its documentation gives each
	// endpoint's limits, and reads either way). Sharing per tier is the default because it never
	// sees more 429s; tools/bench (quota) measures what per-operation pacing would save.
	PerOperation bool
}

// Pacer spaces out calls so that a batch stays under Klaviyo's rate limits and sees no 429s. It
// keeps one limiter per (account, rate tier); every credential of an account shares its account's
// limiters, as they share Klaviyo's quota. Account "" is the default account, for keys whose account
// is unknown (they are assumed to share one quota). An OAuth app has its own quota in each account
// it is installed in: give it an account key of its own, such as "oauth:<client id>".
//
// A Pacer is safe for concurrent use.
type Pacer struct {
	margin       time.Duration
	now          func() time.Time
	sleep        func(ctx context.Context, d time.Duration) error
	perOperation bool

	mu       sync.Mutex
	limiters map[pacerKey]*limiter
}

type pacerKey struct {
	account       string
	burst, steady int
	operation     string // with PerOperation only
}

// limiter remembers when the last `steady` calls of one (account, tier) were released.
type limiter struct {
	burst, steady int
	sent          []time.Time // ring of the last len(sent) release times, in release order
	n             int         // calls released so far
	held          time.Time   // no call before this (set after a 429)
	last          time.Time
}

// NewPacer returns a pacer.
func NewPacer(opts PacerOptions) *Pacer {
	p := &Pacer{margin: opts.Margin, now: opts.Now, sleep: opts.Sleep, perOperation: opts.PerOperation, limiters: map[pacerKey]*limiter{}}
	if p.margin == 0 {
		p.margin = 50 * time.Millisecond
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.sleep == nil {
		p.sleep = sleepContext
	}
	return p
}

// Wait blocks until a call to op for account may be sent without exceeding the op's burst or steady
// limit, and counts the call. An operation without limits (not in the catalog) is not paced. If ctx
// ends first, Wait returns its error at once; the slot it had reserved stays counted, which errs on
// the side of fewer calls.
func (p *Pacer) Wait(ctx context.Context, account string, op catalog.Operation) error {
	at, ok := p.reserve(account, op)
	if !ok {
		return ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return p.sleep(ctx, at.Sub(p.now()))
}

// Reserve counts a call to op for account and returns when it may be sent, without waiting.
func (p *Pacer) reserve(account string, op catalog.Operation) (time.Time, bool) {
	if op.Burst <= 0 || op.Steady <= 0 {
		return time.Time{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.limiter(account, op)
	now := p.now()
	t := now
	if l.held.After(t) {
		t = l.held
	}
	if l.last.After(t) {
		t = l.last
	}
	if l.n >= l.burst {
		if b := l.sent[(l.n-l.burst)%len(l.sent)].Add(burstWindow + p.margin); b.After(t) {
			t = b
		}
	}
	if l.n >= l.steady {
		if s := l.sent[(l.n-l.steady)%len(l.sent)].Add(steadyWindow + p.margin); s.After(t) {
			t = s
		}
	}
	l.sent[l.n%len(l.sent)] = t
	l.n++
	l.last = t
	return t, true
}

func (p *Pacer) limiter(account string, op catalog.Operation) *limiter {
	k := pacerKey{account: account, burst: op.Burst, steady: op.Steady}
	if p.perOperation {
		k.operation = op.Method + " " + op.Path
	}
	l := p.limiters[k]
	if l == nil {
		l = &limiter{burst: op.Burst, steady: op.Steady, sent: make([]time.Time, max(op.Burst, op.Steady))}
		p.limiters[k] = l
	}
	return l
}

// Hold stops calls of op's tier for account until the given time: after a 429, every caller
// sharing the quota waits, not just the one that was told to.
func (p *Pacer) Hold(account string, op catalog.Operation, until time.Time) {
	if op.Burst <= 0 || op.Steady <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.limiter(account, op); until.After(l.held) {
		l.held = until
	}
}

// PacedDuration is the least wall time from the first to the last of n calls of op's tier, for
// any client that must stay under both limits whatever the phase of Klaviyo's windows: call k
// (0-based) can go no earlier than a second after call k-burst and a minute after call k-steady.
// Sending every call at that earliest moment meets both, so the bound is exact; the Pacer adds only
// its margin per window.
func PacedDuration(op catalog.Operation, n int) time.Duration {
	if n <= 1 || op.Burst <= 0 || op.Steady <= 0 {
		return 0
	}
	t := make([]time.Duration, n)
	for k := range t {
		if k >= op.Burst {
			t[k] = max(t[k], t[k-op.Burst]+burstWindow)
		}
		if k >= op.Steady {
			t[k] = max(t[k], t[k-op.Steady]+steadyWindow)
		}
	}
	return t[n-1]
}
