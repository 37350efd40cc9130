package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
)

// DefaultListen is where the proxy listens unless told otherwise: this host only.
const DefaultListen = "127.0.0.1:8790"

// proxyGCPercent is the proxy's GOGC unless the environment sets one.
const proxyGCPercent = 400

// RunOptions say how to run a proxy; cmd fills them from flags and the config.
type RunOptions struct {
	Listen   string
	Upstream string
	TLSCert  string
	TLSKey   string
	// InsecureListen allows plaintext on an address other hosts can reach.
	InsecureListen bool
	// AuditStore is where entries go (the team trail when audit.dsn is set); nil: the file AuditLog.
	AuditStore audit.Store
	// AuditLog is the audit log file (or, with AuditStore, where that store is, for the log).
	AuditLog string
	// Tokens is where the proxy tokens are (the team trail's database when audit.dsn is set); nil:
	// the file TokensFile.
	Tokens     TokenStore
	TokensFile string
	// Actor is the userId of the proxy's own audit entries.
	Actor  string
	Loader Loader
	// Stderr receives the JSON log (access log and events).
	Stderr io.Writer
	// Ready, when set, is told the address once the proxy listens (tests listen on port 0).
	Ready func(addr string)
	// TokenPoll is how often the token store is checked for changes (default 250ms).
	TokenPoll time.Duration
}

// CheckListen refuses, before anything starts, an address other hosts can reach unless TLS is set
// up or plaintext is explicitly allowed.
func CheckListen(listen, cert, key string, insecure bool) error {
	if (cert == "") != (key == "") {
		return fault.Usagef("--tls-cert and --tls-key go together").Hint("give both files, or neither")
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fault.Usagef("invalid --listen %q: %v", listen, err).Hint("give host:port, such as " + DefaultListen)
	}
	if cert != "" || insecure || isLoopbackHost(host) {
		return nil
	}
	where := host
	if where == "" {
		where = "every interface"
	}
	return fault.Usagef("refusing to listen on %s without TLS: callers' tokens would cross the network in plaintext", where).
		Hint("pass --tls-cert FILE and --tls-key FILE",
			"or listen on a loopback address, such as "+DefaultListen,
			"or pass --insecure-listen when a TLS-terminating proxy in front is the only way in")
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// Run serves until ctx ends (SIGINT/SIGTERM in klrbac): then in-flight calls finish, the audit trail
// is flushed and last-use times are saved. SIGHUP and changes to the config file reload the policy.
func Run(ctx context.Context, o RunOptions) error {
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if err := CheckListen(o.Listen, o.TLSCert, o.TLSKey, o.InsecureListen); err != nil {
		return err
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if os.Getenv("GOGC") == "" {
		// The proxy's live heap is small (settings, tokens, the calls in flight) while every call
		// allocates, so at Go's default (GOGC=100) it collects every few megabytes. Under the
		// throughput benchmark, four times the headroom took its CPU per call from 200-240 µs to
		// 145-165 µs, for tens of megabytes more; GOGC=1000 gained nothing more. GOGC in the
		// environment still decides.
		defer debug.SetGCPercent(debug.SetGCPercent(proxyGCPercent))
	}
	if o.TokenPoll <= 0 {
		o.TokenPoll = 250 * time.Millisecond
	}
	logBuf := newLogBuffer(o.Stderr)
	defer logBuf.Flush()
	logger := newLogger(logBuf)
	settings, cfg, err := o.Loader.Load(ctx)
	if err != nil {
		return err
	}
	if o.Upstream == "" {
		o.Upstream = cfg.APIURL()
	}
	upstream, err := url.Parse(o.Upstream)
	if err != nil || (upstream.Scheme != "http" && upstream.Scheme != "https") || upstream.Host == "" {
		return fault.Usagef("invalid --upstream %q: expected an http(s) URL", o.Upstream).Hint("for example https://a.klaviyo.com")
	}
	var tlsConfig *tls.Config
	if o.TLSCert != "" {
		pair, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return fault.Configf("cannot load the TLS certificate and key: %v", err).Hint("give PEM files: --tls-cert FILE --tls-key FILE")
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	tokenStore := o.Tokens
	if tokenStore == nil {
		if tokenStore, err = OpenTokenFile(o.TokensFile, nil); err != nil {
			return err
		}
	}
	tokens, err := NewTokens(ctx, tokenStore)
	if err != nil {
		return err
	}
	var trail *audit.Trail
	store := o.AuditStore
	if store == nil {
		// The log tells the trail when it recovers an interrupted write; the trail exists by the
		// time anything is appended.
		onRecover := func(e audit.Entry) { trail.NoteRecovered(e) }
		if store, err = audit.Open(o.AuditLog, audit.Options{Actor: o.Actor, OnRecover: onRecover}); err != nil {
			return err
		}
	}
	// The store itself, not the group commit in front of it, whose Ready trusts the last write.
	if err := store.Ready(ctx); err != nil {
		return fmt.Errorf("refusing to start without an audit trail: %w", err)
	}
	commit := audit.NewGroupCommit(store, 0)
	trail = NewTrail(commit, o.Actor, settings.Rules, logger)
	metrics := NewMetrics(func() float64 { return float64(commit.Depth()) })
	srv := New(Options{Upstream: upstream, Tokens: tokens, Trail: trail, Log: logger, Metrics: metrics}, settings)
	for role, k := range settings.Keys {
		if k.Err != nil {
			logger.Warn("role has no usable Klaviyo key: its calls get 503", "role", role, "err", k.Err.Error())
		}
	}

	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fault.Unavailablef("cannot listen on %s: %v", o.Listen, err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	httpSrv := &http.Server{
		Handler:           Routes(srv, metrics, trail, tokens),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	flushDone := make(chan struct{})
	go func() {
		defer close(flushDone)
		logBuf.flushEvery(bg)
	}()
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		tokens.Watch(bg, o.TokenPoll, 30*time.Second, func(err error) { logger.Error("proxy tokens", "err", err.Error()) })
	}()
	reloadDone := make(chan struct{})
	go func() {
		defer close(reloadDone)
		watchReloads(bg, o.Loader, cfg.File, srv, trail, metrics, logger)
	}()

	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	logger.Info("listening", "addr", scheme+"://"+ln.Addr().String(), "upstream", upstream.Redacted(), "policy", settings.Source,
		"audit_log", o.AuditLog, "tokens", tokenStore.Where())
	logBuf.Flush() // whoever waits for the proxy to be up sees it at once
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	var serveErr error
	select {
	case serveErr = <-served:
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		logger.Error("calls still under way at shutdown were cut off", "err", err.Error())
	}
	stop()
	<-reloadDone
	<-watchDone
	<-flushDone
	trail.Wait() // alerts under way, and the notes of those that failed
	if err := commit.Close(); err != nil {
		logger.Error("audit trail not flushed", "err", err.Error())
	}
	logger.Info("stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fault.Unavailablef("the proxy stopped serving: %v", serveErr)
	}
	return ctx.Err()
}

// NewTrail is the audit trail a proxy records through: over store (a GroupCommit), with the alert
// rules in force, alerts delivered without holding up calls, and the trail's warnings in the log.
func NewTrail(store audit.Store, actor string, rules []audit.Rule, logger *slog.Logger) *audit.Trail {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return audit.NewTrail(store, audit.TrailOptions{
		Actor:              actor,
		Rules:              func() ([]audit.Rule, error) { return rules, nil },
		Warn:               warnLog{logger},
		AlertsInBackground: true,
	})
}

// warnLog turns the trail's warnings, lines of text meant for a terminal, into records of the
// proxy's JSON log, so that stderr stays one line of JSON per record.
type warnLog struct{ log *slog.Logger }

func (w warnLog) Write(p []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimRight(string(p), "\n"), "\n") {
		line = strings.TrimPrefix(strings.TrimPrefix(line, "klrbac: "), "warning: ")
		if line != "" {
			w.log.Warn(line)
		}
	}
	return len(p), nil
}

// Routes serves the proxy with /healthz and /metrics beside it.
func Routes(srv *Server, metrics *Metrics, trail *audit.Trail, tokens *Tokens) http.Handler {
	metricsHandler := metrics.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			status, body := http.StatusOK, `{"status":"ok"}`
			if err := trail.Ready(r.Context(), "", ""); err != nil {
				status, body = http.StatusServiceUnavailable, `{"status":"audit trail unavailable"}`
			} else if tokens.Err() != nil {
				status, body = http.StatusServiceUnavailable, `{"status":"proxy tokens unreadable"}`
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body+"\n")
		case "/metrics":
			metricsHandler.ServeHTTP(w, r)
		default:
			srv.ServeHTTP(w, r)
		}
	})
}

// watchReloads reloads the settings on SIGHUP and whenever the config file changes. A config that
// fails to load is refused, with its reason logged, and the settings in force stay.
func watchReloads(ctx context.Context, loader Loader, file string, srv *Server, trail *audit.Trail, metrics *Metrics, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var changed <-chan fsnotify.Event
	if file != "" {
		if w, err := fsnotify.NewWatcher(); err != nil {
			logger.Warn("config changes will not be noticed: reload with SIGHUP", "err", err.Error())
		} else if err := w.Add(filepath.Dir(file)); err != nil {
			w.Close()
			logger.Warn("config changes will not be noticed: reload with SIGHUP", "err", err.Error())
		} else {
			defer w.Close()
			changed = w.Events
		}
	}
	reload := func(why string) {
		settings, _, err := loader.Load(ctx)
		if err != nil {
			metrics.reloaded(false)
			logger.Error("new policy refused; the old one stays in force", "trigger", why, "err", err.Error(), "hints", fault.Hints(err))
			return
		}
		srv.Swap(settings)
		trail.SetRules(settings.Rules)
		metrics.reloaded(true)
		logger.Info("policy reloaded", "trigger", why, "policy", settings.Source, "roles", len(settings.Policy.Roles), "users", len(settings.Policy.Users))
	}
	// Editors write a file in several steps; one reload after the burst is enough.
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload("SIGHUP")
		case ev, ok := <-changed:
			if !ok {
				changed = nil
				continue
			}
			if filepath.Clean(ev.Name) == filepath.Clean(file) && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				debounce = time.After(100 * time.Millisecond)
			}
		case <-debounce:
			debounce = nil
			reload("config file changed")
		}
	}
}
