package klaviyo

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryAfter is how long a 429 asks the caller to wait: the Retry-After header (seconds or an
// HTTP date), else the seconds in the detail text "Request was throttled. Expected available in N
// seconds.", which Klaviyo sends even when a proxy dropped the header.
func retryAfter(header http.Header, detail string) (time.Duration, bool) {
	if v := strings.TrimSpace(headerValue(header, "Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 && secs < 86400 {
			return time.Duration(secs * float64(time.Second)), true
		}
		if t, err := http.ParseTime(v); err == nil {
			if d := time.Until(t); d > 0 {
				return d, true
			}
			return 0, true
		}
	}
	return DetailRetryAfter(detail)
}

// DetailRetryAfter reads the wait out of a throttled error's detail, "Expected available in N
// second(s)." in any of the wordings DRF and Klaviyo use ("1 second.", "5 seconds.").
func DetailRetryAfter(detail string) (time.Duration, bool) {
	const marker = "available in "
	i := indexFold(detail, marker)
	if i < 0 {
		return 0, false
	}
	rest := detail[i+len(marker):]
	j := 0
	for j < len(rest) && (rest[j] >= '0' && rest[j] <= '9' || rest[j] == '.') {
		j++
	}
	if j == 0 || indexFold(strings.TrimSpace(rest[j:]), "second") != 0 {
		return 0, false
	}
	secs, err := strconv.ParseFloat(rest[:j], 64)
	if err != nil || secs < 0 || secs >= 86400 {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}

// Backoff is the exponential backoff with "equal jitter" used when Klaviyo gives no wait: attempt n
// (1-based) waits between half and all of min(Max, Base·2ⁿ⁻¹), so retries spread out without ever
// retrying at once.
type Backoff struct {
	Base, Max time.Duration
}

// DefaultBackoff starts at one second and never waits more than 30.
var DefaultBackoff = Backoff{Base: time.Second, Max: 30 * time.Second}

// Delay returns the wait before retry number attempt, given jitter in [0, 1).
func (b Backoff) Delay(attempt int, jitter float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := b.Base
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	jitter = min(max(jitter, 0), 1)
	return d/2 + time.Duration(jitter*float64(d/2))
}

// sleepContext waits for d or until ctx is done, whichever comes first.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// indexFold finds an ASCII substring regardless of case, by byte offset into s: lower-casing s first
// would shift offsets when s holds characters whose lower case has another length.
func indexFold(s, substr string) int {
	for i := 0; i+len(substr) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(substr)], substr) {
			return i
		}
	}
	return -1
}
