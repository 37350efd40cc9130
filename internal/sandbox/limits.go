package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Bounds on what one connection may take from the sandbox, as Klaviyo's edge bounds them: a client
// that sends slowly, sends nothing, or sends more than any real request carries is cut off rather
// than held or read into memory.
var (
	// readHeaderTimeout bounds the wait for a request's headers, and readTimeout for the whole
	// request, body included. Variables only so that a test need not wait for them.
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	// idleTimeout closes kept-alive connections that send no further request.
	idleTimeout = 60 * time.Second
)

const (
	// maxHeaderBytes bounds the request line and headers.
	maxHeaderBytes = 64 << 10
	// maxFormBytes bounds the body of the OAuth endpoints' forms: a consent answer, a token or a
	// revocation request is a few hundred bytes.
	maxFormBytes = 64 << 10
	// maxConns bounds the connections served at once; more wait to be accepted.
	maxConns = 1024
)

// configure sets the sandbox's bounds on an http.Server.
func configure(srv *http.Server) {
	srv.ReadHeaderTimeout = readHeaderTimeout
	srv.ReadTimeout = readTimeout
	srv.IdleTimeout = idleTimeout
	srv.MaxHeaderBytes = maxHeaderBytes
}

// parseForm reads a form body of at most maxFormBytes (and the query). It reports whether the body
// was too large, so that the caller answers 413 rather than a form it only read in part.
func parseForm(w http.ResponseWriter, r *http.Request) (tooLarge bool, err error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	err = r.ParseForm()
	var mbe *http.MaxBytesError
	if err != nil && (r.ContentLength > maxFormBytes || errors.As(err, &mbe)) {
		return true, err
	}
	return false, err
}

// limitListener accepts at most n connections at a time, and wraps each so that the requests
// net/http refuses before any handler sees them (a malformed Content-Length or request line,
// headers beyond maxHeaderBytes) are answered with a JSON:API error document, as every other
// sandbox error is, instead of net/http's plain text.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

// Close stops the listener, and an Accept waiting for a free slot with it.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &shapedConn{Conn: c, release: sync.OnceFunc(func() { <-l.slots })}, nil
}

// shapedConn is a connection whose net/http refusals are rewritten as JSON:API errors.
type shapedConn struct {
	net.Conn
	release func() // frees the connection's slot, once
}

func (c *shapedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// CloseWrite keeps net/http's graceful close of a refused connection.
func (c *shapedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// goRefusalHeaders follow the status line of every answer net/http writes itself, before a handler
// runs, to a request it cannot read; no answer a handler writes has them in this order.
const goRefusalHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *shapedConn) Write(b []byte) (int, error) {
	status, ok := goRefusal(b)
	if !ok {
		return c.Conn.Write(b)
	}
	if _, err := c.Conn.Write(refusalResponse(status)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// goRefusal recognises a refusal net/http wrote itself and returns its status.
func goRefusal(b []byte) (int, bool) {
	if !bytes.HasPrefix(b, []byte("HTTP/1.1 ")) || len(b) < 12 {
		return 0, false
	}
	eol := bytes.Index(b, []byte("\r\n"))
	if eol < 0 || !bytes.HasPrefix(b[eol:], []byte(goRefusalHeaders)) {
		return 0, false
	}
	status, err := strconv.Atoi(string(b[9:12]))
	if err != nil || status < 400 {
		return 0, false
	}
	return status, true
}

// refusalResponse is the JSON:API answer to a request net/http could not read.
func refusalResponse(status int) []byte {
	detail := "The request could not be read: its request line, a header, its Content-Length or its Transfer-Encoding is malformed."
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		detail = fmt.Sprintf("The request's headers are larger than %d bytes.", maxHeaderBytes)
	case http.StatusNotImplemented:
		detail = "The request's Transfer-Encoding is not supported."
	case http.StatusHTTPVersionNotSupported:
		detail = "The request's HTTP version is not supported."
	}
	body, _ := json.Marshal(map[string]any{"errors": []any{map[string]any{
		"id": uuid4(), "status": status, "code": "invalid", "title": textInvalid, "detail": detail,
		"source": map[string]any{}, "links": map[string]any{}, "meta": map[string]any{},
	}}})
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/vnd.api+json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}
