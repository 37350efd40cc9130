package sandbox

import (
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Faults are failures the sandbox injects into /api calls, to test how klrbac copes. Fractions
// are of /api requests, spread evenly and deterministically: 0.25 hits every fourth request.
type Faults struct {
	// Unavailable answers that fraction with 503 and a JSON:API error, as Klaviyo does under load.
	Unavailable float64
	// EdgeBlock answers that fraction as Cloudflare does in front of Klaviyo: an HTML 403 with
	// cf-mitigated: challenge, which must never be read as a missing scope.
	EdgeBlock float64
	// Reset closes that fraction of connections without an answer (a TCP reset).
	Reset float64
	// Throttle answers that fraction with 429 whatever the rate limits, after the scope check.
	Throttle float64
	// NoRetryAfter leaves the Retry-After header off 429s; the detail text still gives the wait.
	NoRetryAfter bool
	// AcceptWrites answers every write operation (POST, PATCH, PUT, DELETE) that passes the
	// authentication, scope and rate-limit checks with 202 Accepted, whatever its body and id: a
	// Klaviyo that would carry out a write klrbac meant to fail.
	AcceptWrites bool
}

// faultState is the faults in force with their counters; replaced whole by SetFaults.
type faultState struct {
	latency time.Duration
	Faults
	unavailable, edge, reset, throttle atomic.Uint64
}

// SetFaults changes the faults in force, for tests that break the sandbox halfway.
func (s *Server) SetFaults(latency time.Duration, f Faults) {
	s.faults.Store(&faultState{latency: latency, Faults: f})
}

// Faults returns the faults in force and the added latency.
func (s *Server) Faults() (time.Duration, Faults) {
	fs := s.faults.Load()
	return fs.latency, fs.Faults
}

// hit says whether the n-th request falls in fraction f: the requests hit are spread evenly, so a
// fraction of 0.5 hits every second one, and a test knows which.
func hit(counter *atomic.Uint64, f float64) bool {
	if f <= 0 {
		return false
	}
	if f >= 1 {
		return true
	}
	n := counter.Add(1)
	return uint64(float64(n)*f) > uint64(float64(n-1)*f)
}

// injectFault applies the infrastructure faults that strike before Klaviyo's application sees the
// request, and reports whether it answered.
func (s *Server) injectFault(w http.ResponseWriter, rec *recorder, fs *faultState) bool {
	if fs.latency > 0 {
		time.Sleep(fs.latency)
	}
	switch {
	case hit(&fs.reset, fs.Reset):
		// Counted before the reset: the client may be looking at the stats as soon as it sees it.
		rec.status = statusReset
		rec.done()
		resetConnection(w)
		return true
	case hit(&fs.edge, fs.EdgeBlock):
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=UTF-8")
		h.Set("cf-mitigated", "challenge")
		h.Set("Server", "cloudflare")
		h.Set("Cache-Control", "private, max-age=0, no-store, no-cache, must-revalidate")
		rec.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(rec, challengePage)
		return true
	case hit(&fs.unavailable, fs.Unavailable):
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
