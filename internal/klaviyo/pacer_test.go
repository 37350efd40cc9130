package klaviyo_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/sandbox"
)

func mustFind(t *testing.T, method, path string) catalog.Operation {
	t.Helper()
	op, ok := catalog.Find(method, path)
	if !ok {
		t.Fatalf("no operation %s %s", method, path)
	}
	return op
}

func TestPacedDuration(t *testing.T) {
	xs := mustFind(t, "GET", "/api/accounts")
	m := mustFind(t, "GET", "/api/metrics")
	l := mustFind(t, "GET", "/api/lists")
	for _, tc := range []struct {
		op   catalog.Operation
		n    int
		want time.Duration
	}{
		{xs, 0, 0}, {xs, 1, 0}, {xs, 2, time.Second}, {xs, 15, 14 * time.Second},
		// The 16th XS call waits for the first minute; calls 17-30 then follow a second apart,
		// and the 31st waits for the 16th's minute.
		{xs, 16, 60 * time.Second}, {xs, 30, 74 * time.Second}, {xs, 31, 120 * time.Second}, {xs, 40, 129 * time.Second},
		{m, 10, 0}, {m, 11, time.Second}, {m, 150, 14 * time.Second}, {m, 151, 60 * time.Second},
		{l, 75, 0}, {l, 98, time.Second},
		{catalog.Operation{}, 100, 0},
	} {
		if got := klaviyo.PacedDuration(tc.op, tc.n); got != tc.want {
			t.Errorf("%s ×%d: %s, want %s", tc.op.Tier(), tc.n, got, tc.want)
		}
	}
}

// TestPacerKeepsEveryWindowUnderItsLimits checks the schedule itself: in any second at most burst
// calls, in any minute at most steady, and no slower than the bound plus the margin allows.
func TestPacerKeepsEveryWindowUnderItsLimits(t *testing.T) {
	clk := newClock()
	const margin = 50 * time.Millisecond
	p := klaviyo.NewPacer(klaviyo.PacerOptions{Margin: margin, Now: clk.Now, Sleep: clk.Sleep})
	for _, op := range []catalog.Operation{mustFind(t, "GET", "/api/accounts"), mustFind(t, "GET", "/api/flows"), mustFind(t, "GET", "/api/metrics")} {
		n := op.Steady*2 + op.Burst + 1
		start := clk.Now()
		var at []time.Time
		for range n {
			if err := p.Wait(context.Background(), "ACME01", op); err != nil {
				t.Fatal(err)
			}
			at = append(at, clk.Now())
		}
		for i := range at {
			if j := i + op.Burst; j < len(at) && at[j].Sub(at[i]) < time.Second {
				t.Fatalf("%s: calls %d and %d are %s apart", op.Tier(), i, j, at[j].Sub(at[i]))
			}
			if j := i + op.Steady; j < len(at) && at[j].Sub(at[i]) < time.Minute {
				t.Fatalf("%s: calls %d and %d are %s apart", op.Tier(), i, j, at[j].Sub(at[i]))
			}
		}
		bound := klaviyo.PacedDuration(op, n)
		took := at[n-1].Sub(start)
		// Each chained window adds at most one margin.
		if took < bound || took > bound+time.Duration(n)*margin {
			t.Errorf("%s ×%d: took %s, bound %s", op.Tier(), n, took, bound)
		}
	}
}

// TestPacedCallsSeeNo429s runs a paced batch against the sandbox on the same clock: Klaviyo's
// fixed windows, wherever they fall, never see more than their limit.
func TestPacedCallsSeeNo429s(t *testing.T) {
	clk := newClock()
	srv := sandbox.New(nil, sandbox.Options{Now: clk.Now})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	pacer := klaviyo.NewPacer(klaviyo.PacerOptions{Now: clk.Now, Sleep: clk.Sleep})
	c := klaviyo.New(klaviyo.Options{APIURL: ts.URL, Pacer: pacer, Sleep: clk.Sleep, Now: clk.Now, MaxAttempts: 1})
	start := clk.Now()
	const n = 40
	for i := range n {
		// Two keys of one account share the quota.
		key := adminKey
		if i%2 == 1 {
			key = "pk_e7c67ec4914b68a415e928fefe0e2f3dac" // developer
		}
		if _, err := c.Do(context.Background(), klaviyo.Request{Path: "/api/webhooks", Credential: klaviyo.PrivateKey(key), Account: "DEMO01"}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	st := srv.Stats()
	if st.Status(429) != 0 || st.Status(200) != n {
		t.Errorf("statuses %v, want %d 200s", st.Statuses, n)
	}
	bound := klaviyo.PacedDuration(mustFind(t, "GET", "/api/webhooks"), n)
	if took := clk.Now().Sub(start); took < bound || float64(took) > 1.2*float64(bound) {
		t.Errorf("took %s, bound %s", took, bound)
	}
}

// TestPacerQuotas: an account's tiers and other accounts (and OAuth apps) do not wait for each other.
func TestPacerQuotas(t *testing.T) {
	clk := newClock()
	p := klaviyo.NewPacer(klaviyo.PacerOptions{Now: clk.Now, Sleep: clk.Sleep})
	xs, m := mustFind(t, "GET", "/api/accounts"), mustFind(t, "GET", "/api/metrics")
	ctx := context.Background()
	start := clk.Now()
	for _, call := range []struct {
		account string
		op      catalog.Operation
	}{{"", xs}, {"", m}, {"ACME02", xs}, {"oauth:app", xs}, {"", mustFind(t, "GET", "/api/webhooks")}} {
		if err := p.Wait(ctx, call.account, call.op); err != nil {
			t.Fatal(err)
		}
	}
	// The last call shares the default account's XS quota with the first: it waits a second.
	if took := clk.Now().Sub(start); took != time.Second+50*time.Millisecond {
		t.Errorf("took %s, want 1.05s", took)
	}
	// After a 429, Hold stops every caller of that quota.
	until := clk.Now().Add(10 * time.Second)
	p.Hold("", m, until)
	if err := p.Wait(ctx, "", m); err != nil || clk.Now().Before(until) {
		t.Errorf("after Hold: now %s, want >= %s (%v)", clk.Now(), until, err)
	}
	// Operations outside the catalog are not paced.
	before := clk.Now()
	for range 5 {
		_ = p.Wait(ctx, "", catalog.Operation{})
	}
	if clk.Now() != before {
		t.Error("an unknown operation was paced")
	}
}

// TestConcurrentPacedBatch: goroutines sharing a pacer in real time, against the sandbox's real
// clock, see no 429 and take about the time the tier allows.
func TestConcurrentPacedBatch(t *testing.T) {
	srv := sandbox.New(nil, sandbox.Options{})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := klaviyo.New(klaviyo.Options{APIURL: ts.URL, Pacer: klaviyo.NewPacer(klaviyo.PacerOptions{}), MaxAttempts: 1})
	const n = 25 // M tier: 10 now, 10 after a second, 5 after two
	begin := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := c.Do(context.Background(), get("/api/metrics", adminKey))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if st := srv.Stats(); st.Status(429) != 0 || st.Status(200) != n {
		t.Errorf("stats: %+v", st.Statuses)
	}
	if took := time.Since(begin); took < 2*time.Second {
		t.Errorf("25 M-tier calls took %s, less than the 2s the tier allows", took)
	}
}

// TestPacerPerOperation: paced per operation, two operations of one tier go side by side, and
// against a sandbox that counts per operation they see no 429; against one that counts per tier
// (the default reading) they do, which is why per-tier pacing is the default.
func TestPacerPerOperation(t *testing.T) {
	accounts, webhooks := mustFind(t, "GET", "/api/accounts"), mustFind(t, "GET", "/api/webhooks")
	for _, tc := range []struct {
		perOperation bool
		quota        string
		took         time.Duration
		throttled    bool
	}{
		{false, sandbox.QuotaPerTier, 3*time.Second + 150*time.Millisecond, false},
		{false, sandbox.QuotaPerOperation, 3*time.Second + 150*time.Millisecond, false},
		{true, sandbox.QuotaPerOperation, time.Second + 50*time.Millisecond, false},
		{true, sandbox.QuotaPerTier, time.Second + 50*time.Millisecond, true},
	} {
		clk := newClock()
		f := sandbox.DemoFixture()
		f.Quota = tc.quota
		srv := sandbox.New(f, sandbox.Options{Now: clk.Now})
		ts := httptest.NewServer(srv)
		p := klaviyo.NewPacer(klaviyo.PacerOptions{Now: clk.Now, Sleep: clk.Sleep, PerOperation: tc.perOperation})
		c := klaviyo.New(klaviyo.Options{APIURL: ts.URL, Pacer: p, Sleep: clk.Sleep, Now: clk.Now, MaxAttempts: 1})
		start := clk.Now()
		for _, op := range []catalog.Operation{accounts, webhooks, accounts, webhooks} {
			_, _ = c.Do(context.Background(), get(op.Path, adminKey))
		}
		ts.Close()
		if took := clk.Now().Sub(start); took != tc.took {
			t.Errorf("per operation %v against %s quotas: took %s, want %s", tc.perOperation, tc.quota, took, tc.took)
		}
		if got := srv.Stats().Status(429) > 0; got != tc.throttled {
			t.Errorf("per operation %v against %s quotas: 429s %v, want %v", tc.perOperation, tc.quota, got, tc.throttled)
		}
	}
}
