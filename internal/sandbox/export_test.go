package sandbox

import "time"

// ShortenTimeouts makes the server's read and idle timeouts d until the returned function restores
// them, so that a test of them need not wait for the real ones.
func ShortenTimeouts(d time.Duration) (restore func()) {
	h, r, i := readHeaderTimeout, readTimeout, idleTimeout
	readHeaderTimeout, readTimeout, idleTimeout = d, d, d
	return func() { readHeaderTimeout, readTimeout, idleTimeout = h, r, i }
}
