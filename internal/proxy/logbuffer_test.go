package proxy

import (
	"context"
	"strings"
	"testing"
)

// The access log waits for the next flush; a warning goes out at once, with what waited before it,
// and nothing is lost when the proxy stops.
func TestLogBufferHoldsTheAccessLogNotWarnings(t *testing.T) {
	out := &syncBuffer{}
	b := newLogBuffer(out)
	log := newLogger(b).With("component", "test")
	log.Info("call", "path", "/api/profiles")
	if out.String() != "" {
		t.Fatalf("an access log line was written at once: %s", out.String())
	}
	log.Warn("role has no usable Klaviyo key")
	got := out.String()
	if !strings.Contains(got, `"msg":"call"`) || !strings.Contains(got, `"msg":"role has no usable Klaviyo key"`) ||
		strings.Index(got, `"msg":"call"`) > strings.Index(got, "role has no") || !strings.Contains(got, `"component":"test"`) {
		t.Fatalf("after a warning: %s", got)
	}
	log.Info("stopped")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b.flushEvery(ctx) // returns at once, flushing
	if !strings.Contains(out.String(), `"msg":"stopped"`) {
		t.Fatalf("a line was lost at the end: %s", out.String())
	}
	// Past the buffer's size, lines are written without waiting for a flush.
	long := strings.Repeat("x", 1024)
	for range logBufferSize / 1024 {
		log.Info("call", "path", long)
	}
	if n := strings.Count(out.String(), long); n == 0 {
		t.Fatal("a full buffer was not written")
	}
}
