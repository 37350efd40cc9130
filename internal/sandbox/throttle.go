package sandbox

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/klrbac/klrbac/internal/catalog"
)

// quotaKey is one rate-limit quota: an account (or an OAuth app within it) and a tier's limits,
// and the operation when each operation is counted on its own (Fixture.Quota).
type quotaKey struct {
	quota         string
	burst, steady int
	operation     string
}

// window counts calls in Klaviyo's two fixed windows: the current second and the current minute
// of the sandbox's clock.
type window struct {
	mu       sync.Mutex
	second   int64
	inSecond int
	minute   int64
	inMinute int
}

// throttle counts the call against its quota and answers 429 when a window is full, or when the
// throttle fault struck the call. Calls that are throttled do not count, as in DRF. Non-429
// answers carry RateLimit-* headers for the steady window.
func (s *Server) throttle(w http.ResponseWriter, fs *faultState, struck bool, quota string, op *catalog.Operation) bool {
	if op.Burst <= 0 || op.Steady <= 0 {
		return true
	}
	if struck {
		writeThrottled(w, fs, 1)
		return false
	}
	k := quotaKey{quota: quota, burst: op.Burst, steady: op.Steady}
	if s.fixture.Quota == QuotaPerOperation {
		k.operation = op.ID
	}
	s.limitsMu.Lock()
	win := s.limits[k]
	if win == nil {
		win = &window{}
		s.limits[k] = win
	}
	s.limitsMu.Unlock()

	now := s.now()
	sec := now.Unix()
	minute := sec / 60
	win.mu.Lock()
	if win.second != sec {
		win.second, win.inSecond = sec, 0
	}
	if win.minute != minute {
		win.minute, win.inMinute = minute, 0
	}
	var wait time.Duration
	if win.inSecond >= op.Burst {
		wait = time.Unix(sec+1, 0).Sub(now)
	}
	if win.inMinute >= op.Steady {
		wait = max(wait, time.Unix((minute+1)*60, 0).Sub(now))
	}
	if wait > 0 && s.enforce {
		win.mu.Unlock()
		writeThrottled(w, fs, ceilSeconds(wait))
		return false
	}
	win.inSecond++
	win.inMinute++
	remaining := max(op.Steady-win.inMinute, 0)
	win.mu.Unlock()

	// Canonical names assigned directly: Set would canonicalise them on every call.
	h := w.Header()
	h["Ratelimit-Limit"] = []string{strconv.Itoa(op.Steady)}
	h["Ratelimit-Remaining"] = []string{strconv.Itoa(remaining)}
	h["Ratelimit-Reset"] = []string{strconv.Itoa(ceilSeconds(time.Unix((minute+1)*60, 0).Sub(now)))}
	return true
}

func ceilSeconds(d time.Duration) int {
	return max(int((d+time.Second-1)/time.Second), 1)
}

// writeThrottled answers 429 as Klaviyo does: Retry-After (unless the fault removes it) and DRF's
// detail, which names the wait too.
func writeThrottled(w http.ResponseWriter, fs *faultState, secs int) {
	if !fs.NoRetryAfter {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	unit := "seconds"
	if secs == 1 {
		unit = "second"
	}
	writeError(w, http.StatusTooManyRequests, "throttled", textThrottled,
		fmt.Sprintf("%s Expected available in %d %s.", textThrottled, secs, unit), "/data/")
}
