package oauthflow

import (
	"context"
	"crypto/subtle"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
)

// Bounds on what a callback may carry: far more than Klaviyo sends, far less than would hurt.
const (
	maxCode        = 4096
	maxState       = 1024
	maxErrorCode   = 256
	maxDescription = 1024
)

// callback is what the authorization server sent back through the browser: a code, or an error,
// with the state of the login it answers.
type callback struct {
	Code, State, Error, Description string
}

// answer reports whether the callback carries an answer (a code or an error) at all.
func (c callback) answer() bool { return c.Code != "" || c.Error != "" }

// parseCallback reads a callback's query string. Each parameter may appear at most once: a
// repeated code or state is ambiguous, and an answer that is ambiguous is refused.
func parseCallback(rawQuery string) (callback, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return callback{}, errors.New("the callback's query cannot be parsed")
	}
	one := func(name string, limit int) (string, error) {
		vs := q[name]
		switch {
		case len(vs) == 0:
			return "", nil
		case len(vs) > 1:
			return "", errors.New("the callback repeats " + name)
		case len(vs[0]) > limit:
			return "", errors.New("the callback's " + name + " is too long")
		}
		return vs[0], nil
	}
	var c callback
	for _, f := range []struct {
		name  string
		limit int
		to    *string
	}{{"code", maxCode, &c.Code}, {"state", maxState, &c.State}, {"error", maxErrorCode, &c.Error}, {"error_description", maxDescription, &c.Description}} {
		v, err := one(f.name, f.limit)
		if err != nil {
			return callback{}, err
		}
		*f.to = v
	}
	if c.Code != "" && c.Error != "" {
		return callback{}, errors.New("the callback carries both a code and an error")
	}
	for _, r := range c.Code + c.State {
		if r <= ' ' || r >= 0x7f {
			return callback{}, errors.New("the callback's code or state has characters no authorization server sends")
		}
	}
	return c, nil
}

// sameState compares states in constant time, so that timing tells an attacker nothing of ours.
func sameState(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// printable keeps what the authorization server wrote fit for a terminal: no control characters
// (no escape sequences), at most n bytes.
func printable(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if r < ' ' || r == 0x7f || r >= 0x80 && r < 0xa0 {
			r = ' '
		}
		if b.Len()+len(string(r)) > n {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// arrival is the one callback a login takes, and the page the browser is to be shown for it once
// the login knows its outcome.
type arrival struct {
	cb    callback
	at    time.Time
	reply chan page
}

// page is what the loopback server shows the browser.
type page struct {
	status  int
	ok      bool
	title   string
	message string
}

// loopback is the callback server of one login.
type loopback struct {
	path   string
	port   string
	state  string
	now    func() time.Time
	notify func(string)

	servers   []*http.Server
	listeners []net.Listener
	arrivals  chan arrival
	taken     atomic.Bool
	closeOnce sync.Once
}

// ReadHeaderTimeout bounds how long a connection to the callback server may take to send its
// request headers, so an idle connection cannot hold it.
const ReadHeaderTimeout = 10 * time.Second

// listenLoopback listens on the redirect URI's host and port: for localhost on 127.0.0.1, and on
// [::1] too, since browsers may resolve localhost to either. Only a machine without IPv6 excuses
// [::1]: anything else holding the port there would be handed the authorization code.
func listenLoopback(listen func(network, addr string) (net.Listener, error), redirect *url.URL) ([]net.Listener, error) {
	host, port := redirect.Hostname(), redirect.Port()
	if !IsLoopbackHost(host) {
		return nil, fault.Configf("refusing to listen on %s: not a loopback address", host)
	}
	primary := host
	if strings.EqualFold(host, "localhost") {
		primary = "127.0.0.1"
	}
	addr := net.JoinHostPort(primary, port)
	ln, err := listen("tcp", addr)
	if err != nil {
		return nil, listenError(addr, port, err, "")
	}
	lns := []net.Listener{ln}
	if strings.EqualFold(host, "localhost") {
		addr6 := net.JoinHostPort("::1", port)
		ln6, err := listen("tcp", addr6)
		switch {
		case err == nil:
			lns = append(lns, ln6)
		case noIPv6(err):
			// No browser on this machine can reach localhost through [::1] either.
		default:
			_ = ln.Close()
			return nil, listenError(addr6, port, err,
				"the redirect URI's host is localhost, which a browser may resolve to [::1]: klrbac must hold port "+port+" there too")
		}
	}
	return lns, nil
}

// noIPv6 reports whether a listen failed because this machine has no IPv6 loopback: the kernel
// lacks IPv6, or ::1 is not configured.
func noIPv6(err error) bool {
	return errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL)
}

// listenError explains a failed listen; a port in use gets its own message, naming the port. why,
// when given, comes first among the hints: why klrbac listened there at all.
func listenError(addr, port string, err error, why string) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fault.Unavailablef("cannot receive the OAuth callback on %s: port %s is already in use", addr, port).Hint(why,
			"another `klrbac oauth login` may still be waiting: finish it or stop it",
			"otherwise find what holds the port (`ss -ltnp 'sport = :"+port+"'`) and stop it; the port is fixed because Klaviyo matches the registered redirect URI exactly",
			"or log in without a listener: klrbac oauth login --manual")
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err
	}
	return fault.Unavailablef("cannot receive the OAuth callback on %s: %v", addr, err).
		Hint(why, "log in without a listener: klrbac oauth login --manual")
}

func newLoopback(lns []net.Listener, redirect *url.URL, state string, now func() time.Time, notify func(string)) *loopback {
	path := redirect.EscapedPath()
	if path == "" {
		path = "/"
	}
	port := redirect.Port()
	l := &loopback{path: path, port: port, state: state, now: now, notify: notify, listeners: lns, arrivals: make(chan arrival, 1)}
	for _, ln := range lns {
		srv := &http.Server{
			Handler:           l,
			ReadHeaderTimeout: ReadHeaderTimeout,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      time.Minute,
			IdleTimeout:       30 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          discardLog(),
		}
		l.servers = append(l.servers, srv)
		go func() { _ = srv.Serve(ln) }()
	}
	return l
}

// reopen lets the next callback through after the one taken brought a code Klaviyo refused.
func (l *loopback) reopen() { l.taken.Store(false) }

// close stops the servers, letting the page of the callback taken be written first.
func (l *loopback) close() {
	l.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, s := range l.servers {
			if err := s.Shutdown(ctx); err != nil {
				_ = s.Close()
			}
		}
	})
}

func (l *loopback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := l.now()
	if r.URL.EscapedPath() != l.path {
		writePage(w, page{status: http.StatusNotFound, title: "Not found", message: "klrbac is waiting for an OAuth callback here, and nothing else."})
		return
	}
	// A page on another site can make a browser send requests here under its own name (DNS
	// rebinding); only requests addressed to a loopback host and this port are answered.
	if !l.hostAllowed(r.Host) {
		l.notify("refused a request to the callback address that named another host (possible DNS rebinding)")
		writePage(w, page{status: http.StatusBadRequest, title: "Wrong host", message: "klrbac answers only requests addressed to a loopback address."})
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writePage(w, page{status: http.StatusMethodNotAllowed, title: "Method not allowed", message: "The OAuth callback is a GET request."})
		return
	}
	cb, err := parseCallback(r.URL.RawQuery)
	if err != nil {
		l.notify("ignored a malformed callback: " + err.Error())
		writePage(w, page{status: http.StatusBadRequest, title: "Malformed callback", message: "klrbac could not read this answer; it is still waiting for the authorization."})
		return
	}
	if !sameState(cb.State, l.state) {
		l.notify("ignored a callback whose state does not belong to this login")
		writePage(w, page{status: http.StatusBadRequest, title: "Not this login",
			message: "This answer does not belong to the login klrbac is waiting for, so it was ignored. Finish the authorization in the tab klrbac opened, or start again."})
		return
	}
	if !cb.answer() {
		l.notify("ignored a callback with neither a code nor an error")
		writePage(w, page{status: http.StatusBadRequest, title: "No answer", message: "This callback carries neither an authorization code nor an error; klrbac is still waiting."})
		return
	}
	if !l.taken.CompareAndSwap(false, true) {
		// One code at a time: a second may not race the one being exchanged.
		writePage(w, page{status: http.StatusConflict, title: "Already answered", message: "klrbac has already received the answer to this login. You can close this tab."})
		return
	}
	a := arrival{cb: cb, at: at, reply: make(chan page, 1)}
	l.arrivals <- a
	select {
	case p := <-a.reply:
		writePage(w, p)
	case <-r.Context().Done():
	}
}

// hostAllowed checks the Host header: a loopback name or address, and the port listened on.
func (l *loopback) hostAllowed(hostport string) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), "80"
	}
	return port == l.port && IsLoopbackHost(host)
}

var pageTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} - klrbac</title>
<style>body{font-family:system-ui,sans-serif;background:#f6f6f4;margin:0}main{max-width:36rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}.ok{color:#17692f}.failed{color:#a4262c}</style>
</head>
<body>
<main>
<h1 id="result" class="{{if .OK}}ok{{else}}failed{{end}}" data-ok="{{.OK}}">{{.Title}}</h1>
<p id="message">{{.Message}}</p>
</main>
</body>
</html>
`))
})

// writePage writes a page no cache keeps (the URL that led to it held a code) and that sends
// nothing anywhere: no scripts, no external resources, no referrer.
func writePage(w http.ResponseWriter, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.WriteHeader(p.status)
	_ = pageTemplate().Execute(w, map[string]any{"Title": p.title, "Message": p.message, "OK": p.ok})
}
