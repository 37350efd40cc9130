package validate

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/mask"
)

// Guard is an http.RoundTripper for probing: every probe that is not a read is built to fail, so a
// success means Klaviyo carried out a write klrbac never meant to make. The first such answer trips
// the guard: that response is withheld as an error, every later non-read request is refused without
// being sent, and Done is closed so the run stops at once.
type Guard struct {
	next http.RoundTripper

	once sync.Once
	done chan struct{}
	err  error

	// rejected holds the fingerprints of the credentials whose writes the guard has seen refused
	// (400, 403 or 404; a 429 or 5xx refuses nothing for good): the evidence that lets a riskier
	// write of the same key go out.
	mu       sync.Mutex
	rejected map[string]bool
}

// NewGuard wraps next (nil: http.DefaultTransport).
func NewGuard(next http.RoundTripper) *Guard {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Guard{next: next, done: make(chan struct{}), rejected: map[string]bool{}}
}

// AcceptedError is a probe built to fail that succeeded.
type AcceptedError struct {
	Method, Path string
	Status       int
	// Credential is the mask of the credential the probe carried.
	Credential string
}

func (e *AcceptedError) Error() string {
	s := fmt.Sprintf("a probe was accepted; stopping to avoid side effects: %s %s answered %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Credential != "" {
		s += " for " + e.Credential
	}
	return s
}

// RoundTrip sends req unless the guard has tripped and req is a write.
func (g *Guard) RoundTrip(req *http.Request) (*http.Response, error) {
	write := req.Method != http.MethodGet && req.Method != http.MethodHead
	if write && g.Tripped() {
		return nil, g.err
	}
	resp, err := g.next.RoundTrip(req)
	if err == nil && write && (resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound) {
		g.mu.Lock()
		g.rejected[credentialOf(req)] = true
		g.mu.Unlock()
	}
	if err != nil || !write || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, err
	}
	_ = resp.Body.Close()
	g.once.Do(func() {
		cred := ""
		if _, v, ok := strings.Cut(req.Header.Get("Authorization"), " "); ok {
			cred = mask.Secret(v)
		}
		g.err = &AcceptedError{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode, Credential: cred}
		close(g.done)
	})
	return nil, g.err
}

// credentialOf is the fingerprint of the credential a request carries.
func credentialOf(req *http.Request) string {
	if _, v, ok := strings.Cut(req.Header.Get("Authorization"), " "); ok {
		return mask.Fingerprint(v)
	}
	return ""
}

// SawWriteRefused reports whether a write carrying the credential with this fingerprint has been
// refused (400, 403 or 404): the API does not carry out every write of that key.
func (g *Guard) SawWriteRefused(fingerprint string) bool {
	if g == nil || fingerprint == "" {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rejected[fingerprint]
}

// context derives from ctx a context that ends when the guard trips, so that a run stops at once
// rather than send the rest of its probes. A nil guard never trips.
func (g *Guard) context(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	if g != nil {
		go func() {
			select {
			case <-g.done:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// Done is closed when the guard trips.
func (g *Guard) Done() <-chan struct{} { return g.done }

// Tripped reports whether a write probe has succeeded.
func (g *Guard) Tripped() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// Err is the fault that ends the run once the guard has tripped (exit 3), or nil.
func (g *Guard) Err() error {
	if !g.Tripped() {
		return nil
	}
	return fault.Wrap(fault.Unavailable, g.err).Hint(
		"Klaviyo carried out a write built to fail (an empty body, or a nonexistent id): check the account for its effect before probing this API again",
		"the inventory (--inventory-role ROLE) learns scopes without writing anything")
}
