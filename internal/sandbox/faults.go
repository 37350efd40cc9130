package sandbox

import (
	"io"
	"math"
	"math/bits"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Faults are failures the sandbox injects into /api calls, to test how klrbac copes.
//
// The fractions are shares of all /api calls, together at most 1, and a call meets at most one
// fault. Calls are numbered as they arrive, and the faults take their shares in a fixed order:
// Reset, EdgeBlock, Unavailable, Throttle, each spread evenly over the calls the faults before it
// left. So Reset 0.25 alone strikes calls 4, 8, 12, ...; with EdgeBlock 0.5 as well, EdgeBlock
// strikes two of every three calls Reset left (2, 3, 6, 7, ...), half of all calls. Over the first
// N calls each fault strikes its fraction of N to within one call for Reset and EdgeBlock, two for
// Unavailable and three for Throttle: each fault renumbers the calls it leaves, and the count may
// lag by a fraction of a call each time. Fractions count to the millionth; fractions adding up to
// more than 1 (which fixtures and flags refuse) leave the later faults what the earlier ones did
// not take.
type Faults struct {
	// Reset closes that fraction of connections without an answer (a TCP reset).
	Reset float64
	// EdgeBlock answers that fraction as Cloudflare does in front of Klaviyo: an HTML 403 with
	// cf-mitigated: challenge, which must never be read as a missing scope.
	EdgeBlock float64
	// Unavailable answers that fraction with 503 and a JSON:API error, as Klaviyo does under load.
	Unavailable float64
	// Throttle answers that fraction with 429 whatever the rate limits. It strikes where Klaviyo
	// throttles, after authentication and scopes: a call of its share that fails those gets their
	// 401 or 403 instead.
	Throttle float64
	// NoRetryAfter leaves the Retry-After header off 429s; the detail text still gives the wait.
	NoRetryAfter bool
	// AcceptWrites answers every write operation (POST, PATCH, PUT, DELETE) that passes the
	// authentication, scope and rate-limit checks with 202 Accepted, whatever its body and id: a
	// Klaviyo that would carry out a write klrbac meant to fail.
	AcceptWrites bool
	// Liar, when set, answers every /api and /client call as that liar (LiarHTML, ...) instead of
	// as Klaviyo, before latency and every other fault.
	Liar string
}

// strike is the fault a call meets, if any; the order of the constants is the order in which the
// faults take their shares.
type strike int

const (
	noStrike strike = iota
	resetStrike
	edgeBlockStrike
	unavailableStrike
	throttleStrike
)

// allCalls is the whole of the calls in the millionths the fractions are counted in, so that
// shares add up exactly.
const allCalls = 1_000_000

func millionths(f float64) uint64 {
	if !(f > 0) { // NaN too
		return 0
	}
	return uint64(math.Round(min(f, 1) * allCalls))
}

// shares returns the fractions in strike order, in millionths.
func (f Faults) shares() [4]uint64 {
	return [4]uint64{millionths(f.Reset), millionths(f.EdgeBlock), millionths(f.Unavailable), millionths(f.Throttle)}
}

// Share returns the part of all /api calls the fractions ask for together, to the millionth: more
// than 1 is more than there are calls.
func (f Faults) Share() float64 {
	var sum uint64
	for _, s := range f.shares() {
		sum += s
	}
	return float64(sum) / allCalls
}

// faultState is the faults in force with the call counter that spreads them; replaced whole by
// SetFaults.
type faultState struct {
	latency time.Duration
	Faults
	shares [4]uint64 // millionths in strike order, cut so that they add up to at most allCalls
	any    bool
	calls  atomic.Uint64
}

// SetFaults changes the faults in force, for tests that break the sandbox halfway. The calls are
// numbered afresh.
func (s *Server) SetFaults(latency time.Duration, f Faults) {
	fs := &faultState{latency: latency, Faults: f}
	left := uint64(allCalls)
	for i, share := range f.shares() {
		fs.shares[i] = min(share, left)
		left -= fs.shares[i]
		fs.any = fs.any || fs.shares[i] > 0
	}
	s.faults.Store(fs)
}

// Faults returns the faults in force and the added latency.
func (s *Server) Faults() (time.Duration, Faults) {
	fs := s.faults.Load()
	return fs.latency, fs.Faults
}

// next numbers a call and returns the fault it meets. A share spread evenly over n calls strikes
// call n when share·n/left, rounded down, has just gone up; a call it leaves is renumbered among
// the calls left for the next fault. Nothing but the counter is shared, so calls never wait on
// each other.
func (fs *faultState) next() strike {
	if !fs.any {
		return noStrike
	}
	n := fs.calls.Add(1)
	left := uint64(allCalls)
	for i, share := range fs.shares {
		if share > 0 {
			taken := spread(n, share, left)
			if taken > spread(n-1, share, left) {
				return strike(i + 1)
			}
			n -= taken
		}
		left -= share
		if left == 0 {
			break
		}
	}
	return noStrike
}

// spread is how many of the first n calls a share of left strikes: n·share/left rounded down,
// without overflow however long the sandbox runs.
func spread(n, share, left uint64) uint64 {
	hi, lo := bits.Mul64(n, share)
	q, _ := bits.Div64(hi, lo, left)
	return q
}

// injectFault applies the infrastructure faults that strike before Klaviyo's application sees the
// request, and reports whether it answered.
func (s *Server) injectFault(w http.ResponseWriter, rec *recorder, fs *faultState, st strike) bool {
	if fs.latency > 0 {
		time.Sleep(fs.latency)
	}
	switch st {
	case resetStrike:
		// Counted before the reset: the client may be looking at the stats as soon as it sees it.
		rec.Code = statusReset
		rec.done()
		resetConnection(w)
		return true
	case edgeBlockStrike:
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=UTF-8")
		h.Set("cf-mitigated", "challenge")
		h.Set("Server", "cloudflare")
		h.Set("Cache-Control", "private, max-age=0, no-store, no-cache, must-revalidate")
		rec.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(rec, challengePage)
		return true
	case unavailableStrike:
		writeError(rec, http.StatusServiceUnavailable, "service_unavailable", "Service temporarily unavailable, try again later.", "Service temporarily unavailable, try again later.", "")
		return true
	}
	return false
}

// resetConnection drops the connection with a TCP reset where it can, or at least closes it
// without an answer.
func resetConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

const challengePage = `<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>` +
	`<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head>` +
	`<body><div class="main-wrapper" role="main"><div class="main-content">` +
	`<h1>a.klaviyo.com</h1><h2>Verifying you are human. This may take a few seconds.</h2>` +
	`<noscript>Enable JavaScript and cookies to continue</noscript></div></div>` +
	`<!-- klrbac sandbox: simulated Cloudflare challenge --></body></html>`
