package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/klaviyo"
)

func init() {
	register(benchmark{
		name: "pacing",
		what: "200 paced calls over mixed rate tiers against `klrbac sandbox`: 429s seen, and wall time vs the least the tiers allow",
		run:  runPacing,
	})
}

// The demo's admin key: full access, so every call is answered 200 unless throttled.
const benchAdminKey = "pk_aca7bfb2d9ad79ac7d242973a9ed4d4343"

// pacingPlan is the batch: 200 GETs over all five tiers, the shape of an audit that probes many
// scopes of one account at once.
var pacingPlan = []struct {
	path string
	n    int
}{
	{"/api/accounts", 12},      // XS  1/s   15/m
	{"/api/flows", 30},         // S   3/s   60/m
	{"/api/metrics", 58},       // M  10/s  150/m
	{"/api/lists", 50},         // L  75/s  750/m
	{"/api/catalog-items", 50}, // XL 350/s 3500/m
}

// Two lower bounds, both over the slowest tier (tiers have separate quotas, so they run side by
// side):
//   - phase-blind: a client that cannot see where Klaviyo's fixed windows start must keep every
//     1 s and 60 s interval under the limits; klaviyo.PacedDuration computes the exact least time.
//   - phase-aware: even a client that knew the window boundaries needs ⌈n/burst⌉ one-second
//     windows and ⌈n/steady⌉ one-minute windows, and can at best use the first and last only at
//     their edges: (⌈n/burst⌉−2) s and (⌈n/steady⌉−2) min.
//
// The target, wall time ≤ 1.2× the lower bound, is judged against the phase-aware one, the smaller.
func pacingBounds() (blind, aware time.Duration, err error) {
	for _, p := range pacingPlan {
		op, ok := catalog.Find("GET", p.path)
		if !ok {
			return 0, 0, fmt.Errorf("no operation GET %s", p.path)
		}
		blind = max(blind, klaviyo.PacedDuration(op, p.n))
		seconds := time.Duration(ceilDiv(p.n, op.Burst)-2) * time.Second
		minutes := time.Duration(ceilDiv(p.n, op.Steady)-2) * time.Minute
		aware = max(aware, seconds, minutes)
	}
	return blind, aware, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func runPacing(env *benchEnv) error {
	blind, aware, err := pacingBounds()
	if err != nil {
		return err
	}
	samples := min(env.samples, 3) // each sample takes the XS tier's ~11 s
	var walls []float64
	var throttled, failed int
	for range samples {
		wall, n429, nErr, err := pacedBatch(env)
		if err != nil {
			return err
		}
		walls = append(walls, wall.Seconds())
		throttled += n429
		failed += nErr
	}
	total := 0
	for _, p := range pacingPlan {
		total += p.n
	}
	w := median(walls)
	fmt.Printf("   %d calls per batch (XS %d, S %d, M %d, L %d, XL %d), all at once through one klaviyo.Client with a Pacer\n",
		total, pacingPlan[0].n, pacingPlan[1].n, pacingPlan[2].n, pacingPlan[3].n, pacingPlan[4].n)
	fmt.Printf("   %d batches, each against a fresh `klrbac sandbox` (rate limits on): median wall %.2f s (min %.2f, max %.2f)\n",
		samples, w, percentile(walls, 0), percentile(walls, 1))
	fmt.Printf("   429s seen by the sandbox: %d; failed calls: %d\n", throttled, failed)
	fmt.Printf("   lower bound, phase-blind (every 1 s / 60 s interval under the limits): %.2f s  -> ratio %.3f\n", blind.Seconds(), w/blind.Seconds())
	fmt.Printf("   lower bound, phase-aware (fixed windows, best alignment):             %.2f s  -> ratio %.3f\n", aware.Seconds(), w/aware.Seconds())
	fmt.Printf("   target: zero 429s and wall <= 1.2x the lower bound: %s\n", verdict(throttled == 0 && failed == 0 && w <= 1.2*aware.Seconds()))
	return nil
}

// pacedBatch runs the plan once against a new sandbox and returns the wall time, the 429s the
// sandbox answered and the calls that failed.
func pacedBatch(env *benchEnv) (time.Duration, int, int, error) {
	sb, err := startServer(env.klrbac, "sandbox")
	if err != nil {
		return 0, 0, 0, err
	}
	defer sb.stop()
	client := klaviyo.New(klaviyo.Options{
		APIURL:      sb.url,
		Pacer:       klaviyo.NewPacer(klaviyo.PacerOptions{}),
		MaxAttempts: 1, // a 429 is a failure here, not something to retry away
		HTTPClient:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}, Timeout: time.Minute},
	})
	key := klaviyo.PrivateKey(benchAdminKey)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	start := time.Now()
	for _, p := range pacingPlan {
		for range p.n {
			wg.Go(func() {
				_, err := client.Do(context.Background(), klaviyo.Request{Path: p.path, Credential: key, Account: "DEMO01"})
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	wall := time.Since(start)
	n429, err := sandboxCount(sb.url, 429)
	return wall, n429, failed, err
}

// sandboxCount reads how many answers with status code the sandbox gave, from /_sandbox/stats.
func sandboxCount(base string, code int) (int, error) {
	resp, err := http.Get(base + "/_sandbox/stats")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		Requests int            `json:"requests"`
		Statuses map[string]int `json:"statuses"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	return st.Statuses[fmt.Sprint(code)], nil
}
