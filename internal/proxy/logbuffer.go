package proxy

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logFlushEvery bounds how long a line of the access log waits in the buffer.
const logFlushEvery = 100 * time.Millisecond

// logBufferSize is how much waits before it is written regardless.
const logBufferSize = 32 << 10

// logBuffer gathers the JSON log's lines and writes them together: written one by one, the access
// log costs a system call per call, a good share of what the proxy itself spends on one. A line
// waits at most logFlushEvery; a warning or an error goes out at once, with everything before it
// (newLogger's handler asks). Only the log waits: audit entries are durable before a call is
// answered, whatever the log does.
type logBuffer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func newLogBuffer(w io.Writer) *logBuffer {
	return &logBuffer{w: w, buf: make([]byte, 0, logBufferSize)}
}

// Write keeps p (one record of slog's JSON handler) for the next flush.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > logBufferSize {
		b.flushLocked()
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes what waits.
func (b *logBuffer) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *logBuffer) flushLocked() {
	if len(b.buf) > 0 {
		// The log has nowhere to report its own failure; the calls go on.
		_, _ = b.w.Write(b.buf)
		b.buf = b.buf[:0]
	}
}

// flushEvery flushes b every logFlushEvery until ctx ends, and once more then.
func (b *logBuffer) flushEvery(ctx context.Context) {
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			b.Flush()
			return
		case <-t.C:
			b.Flush()
		}
	}
}

// newLogger is the proxy's JSON logger over b: records below Warn (the access log) wait for the next
// flush, others flush at once.
func newLogger(b *logBuffer) *slog.Logger {
	return slog.New(flushingHandler{slog.NewJSONHandler(b, nil), b})
}

type flushingHandler struct {
	slog.Handler
	buf *logBuffer
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.buf.Flush()
	}
	return err
}

func (h flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(attrs), h.buf}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.buf}
}
