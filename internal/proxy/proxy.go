package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/httpstatus"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
)

// RoleKey is a role's Klaviyo key as resolved when the settings were loaded, or why there is none.
type RoleKey struct {
	Key secrets.Secret
	Err error
	// fingerprint is the key's, computed once at load rather than hashed again for every call.
	fingerprint string
}

// Fingerprint is the key's fingerprint, for audit entries.
func (k RoleKey) Fingerprint() string {
	if k.fingerprint == "" && !k.Key.IsZero() {
		return k.Key.Fingerprint()
	}
	return k.fingerprint
}

// Settings are what a reload replaces as one: the policy, the role keys, the alert rules and the
// proxies trusted to report a client's address.
type Settings struct {
	Policy         *policy.Policy
	Keys           map[string]RoleKey
	Rules          []audit.Rule
	TrustedProxies []netip.Prefix
	// Source names where the settings came from, for the log.
	Source string

	// scopes is every role's required scopes, worked out once per settings rather than per call.
	scopesOnce sync.Once
	scopes     map[string][]string
}

// roleScopes is the role's required scopes.
func (s *Settings) roleScopes(role policy.Role) []string {
	s.scopesOnce.Do(func() {
		s.scopes = make(map[string][]string, len(s.Policy.Roles))
		for _, r := range s.Policy.Roles {
			s.scopes[r.Name] = s.Policy.RequiredScopes(r)
		}
	})
	if have, ok := s.scopes[role.Name]; ok {
		return have
	}
	return s.Policy.RequiredScopes(role)
}

// Options are a Server's fixed parts.
type Options struct {
	// Upstream is Klaviyo's API base URL.
	Upstream *url.URL
	Tokens   *Tokens
	// Trail records every decision: Record returns once the entry would survive a crash (a store
	// under a GroupCommit, so that concurrent calls share a write), and Ready says, cheaply, whether
	// it is expected to. Alerts are best delivered in the background (AlertsInBackground).
	Trail *audit.Trail
	// Log receives one JSON line per call and the proxy's own events (default: discard).
	Log *slog.Logger
	// Metrics, when set, counts calls.
	Metrics *Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Transport reaches Klaviyo (default: a transport keeping enough idle connections for many
	// concurrent callers).
	Transport http.RoundTripper
}

// Server enforces the policy on calls to Klaviyo. It is an http.Handler.
type Server struct {
	opts     Options
	settings atomic.Pointer[Settings]
	forward  *httputil.ReverseProxy
}

// New returns a Server enforcing settings.
func New(opts Options, settings *Settings) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Transport == nil {
		opts.Transport = NewTransport()
	}
	s := &Server{opts: opts}
	s.settings.Store(settings)
	s.forward = &httputil.ReverseProxy{
		Rewrite:    s.rewrite,
		Transport:  opts.Transport,
		BufferPool: copyBuffers,
		// Bodies stream as they arrive; answers of unknown length (a stream) are flushed at once by
		// ReverseProxy itself, so a flush after every write would only cost a syscall per write.
		FlushInterval:  0,
		ModifyResponse: s.answered,
		ErrorHandler:   s.upstreamFailed,
		ErrorLog:       slog.NewLogLogger(opts.Log.Handler(), slog.LevelWarn),
	}
	return s
}

// NewTransport is how the proxy reaches Klaviyo: connections kept for reuse by as many callers as
// are likely at once (a new connection costs a handshake, and TLS one more), and bodies passed as
// they come, never decompressed: the caller asked for an encoding or not, and gets what Klaviyo sent.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 256
	t.DisableCompression = true
	return t
}

// bufferPool lends ReverseProxy its copy buffers: without one, every answer allocates 32 KiB for
// its copy, and the garbage collector then spends a good part of the proxy's time on them.
type bufferPool struct{ p sync.Pool }

var copyBuffers = &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

func (b *bufferPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufferPool) Put(p []byte) { b.p.Put(&p) }

// Settings returns the settings in force.
func (s *Server) Settings() *Settings { return s.settings.Load() }

// Swap puts new settings in force for the calls that start from now on.
func (s *Server) Swap(settings *Settings) { s.settings.Store(settings) }

// call is what the proxy learns about one call as it goes, for its audit entry, log line and metrics.
type call struct {
	start    time.Time
	settings *Settings
	client   string
	token    Token
	role     string
	op       catalog.Operation
	found    bool
	key      secrets.Secret
	// fingerprint is the role key's, for the audit entry.
	fingerprint string
	path        string
	decision    string
	reason      string
	status      int
	upstream    time.Duration
	answered    bool // Klaviyo answered
	audited     bool
}

type callKey struct{}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{start: s.opts.Now(), settings: s.settings.Load(), path: r.URL.Path}
	c.client = clientAddress(r, c.settings.TrustedProxies)
	sw := &httpstatus.Recorder{ResponseWriter: w}
	defer func() { s.finish(r, c, sw.Code) }()
	if ref, ok := s.decide(r, c); !ok {
		s.refuse(sw, r, c, ref)
		return
	}
	if err := s.opts.Trail.Ready(r.Context(), r.Method, c.op.Method+" "+c.op.Path); err != nil {
		c.reason = "the audit trail cannot take an entry: " + err.Error()
		s.opts.Log.Error("refusing to forward: audit trail unavailable", "err", err.Error())
		writeRefusal(sw, refusal{status: http.StatusServiceUnavailable, code: "service_unavailable", title: titleUnavailable,
			detail: "The proxy cannot record this call in its audit trail, so it does not forward it. Retry later.", decision: "unavailable"})
		c.decision = "unavailable"
		return
	}
	c.decision = "allowed"
	// Klaviyo speaks no upgraded protocol; a tunnel would carry what the proxy cannot see.
	r.Header.Del("Upgrade")
	r = r.WithContext(context.WithValue(r.Context(), callKey{}, c))
	s.forward.ServeHTTP(sw, r)
}

// decide walks the pipeline: caller, role, operation, scopes, key. It answers the refusal of the
// first step that fails, or ok.
func (s *Server) decide(r *http.Request, c *call) (refusal, bool) {
	presented, scheme := credential(r.Header)
	if presented == "" {
		c.reason = "no proxy token"
		return refusal{status: 401, code: "not_authenticated", title: titleNotAuthenticated, decision: "unauthenticated",
			detail: "Missing or invalid authorization scheme. Please use Klaviyo-API-Key with a klrbac proxy token."}, false
	}
	if !LooksLikeToken(presented) {
		c.reason = "a credential that is no proxy token (" + scheme + ")"
		detail := "The credential is not a klrbac proxy token."
		if strings.HasPrefix(presented, "pk_") {
			detail = "A Klaviyo private key was sent: the proxy takes a klrbac proxy token instead, and holds the keys itself."
		}
		return refusal{status: 401, code: "not_authenticated", title: titleAuthFailed, detail: detail, decision: "unauthenticated"}, false
	}
	now := s.opts.Now()
	tok, ok, err := s.opts.Tokens.Lookup(presented, now)
	switch {
	case err != nil:
		c.reason = "the token file cannot be read: " + err.Error()
		return refusal{status: 503, code: "service_unavailable", title: titleUnavailable, decision: "unavailable",
			detail: "The proxy cannot read its tokens right now. Retry later."}, false
	case !ok:
		c.reason = "unknown proxy token"
		return refusal{status: 401, code: "not_authenticated", title: titleAuthFailed, decision: "unauthenticated",
			detail: "The proxy token is not known."}, false
	}
	c.token = tok
	if st := tok.State(now); st != "active" {
		c.reason = st + " proxy token " + tok.ID
		return refusal{status: 401, code: "not_authenticated", title: titleAuthFailed, decision: "unauthenticated",
			detail: fmt.Sprintf("The proxy token %s is %s.", tok.ID, st)}, false
	}
	pol := c.settings.Policy
	user, ok := pol.User(tok.User)
	if !ok {
		c.reason = "no role assigned to " + tok.User
		return refusal{status: 401, code: "not_authenticated", title: titleAuthFailed, decision: "no_role",
			detail: "No Klaviyo role assigned to " + tok.User}, false
	}
	role, _ := pol.Role(user.Role)
	c.role = role.Name
	if ref, ok := s.operation(r, c); !ok {
		return ref, false
	}
	var query url.Values
	if r.URL.RawQuery != "" {
		if query, err = url.ParseQuery(r.URL.RawQuery); err != nil {
			c.reason = "a query that cannot be read unambiguously"
			return refusal{status: 400, code: "invalid", title: titleInvalid, decision: "invalid",
				detail: "The query string cannot be parsed: " + err.Error()}, false
		}
	}
	needs, err := catalog.CallScopes(c.op, query)
	if err != nil {
		c.reason = err.Error()
		return refusal{status: 400, code: "invalid", title: titleInvalid, decision: "invalid", param: "include", detail: err.Error()}, false
	}
	have := c.settings.roleScopes(role)
	var missing []string
	for _, scope := range needs {
		if !slices.Contains(have, scope) {
			missing = append(missing, scope)
		}
	}
	if len(missing) > 0 {
		parts := make([]string, len(missing))
		for i, scope := range missing {
			parts[i] = scope
			if grants := grantingPermissions(pol, scope); len(grants) > 0 {
				parts[i] += " (granted by " + strings.Join(grants, ", ") + ")"
			}
		}
		c.reason = fmt.Sprintf("role %s lacks %s for %s", role.Name, strings.Join(missing, ", "), c.op.ID)
		return refusal{status: 403, code: "permission_denied", title: titlePermission, decision: "denied",
			detail: fmt.Sprintf("Role '%s' does not have permission: %s", role.Name, strings.Join(parts, "; "))}, false
	}
	rk, ok := c.settings.Keys[role.Name]
	if !ok || rk.Err != nil || rk.Key.IsZero() {
		why := "no key was resolved"
		if rk.Err != nil {
			why = rk.Err.Error()
		}
		c.reason = "role " + role.Name + " has no Klaviyo key: " + why
		s.opts.Log.Error("no Klaviyo key for role", "role", role.Name, "err", why,
			"hint", "store one with `klrbac keys set "+role.Name+"`, or set "+role.EnvVar()+", then reload the proxy (SIGHUP)")
		return refusal{status: 503, code: "service_unavailable", title: titleUnavailable, decision: "unavailable",
			detail: fmt.Sprintf("The proxy has no Klaviyo key for role '%s'. Ask its operator to configure one.", role.Name)}, false
	}
	c.key, c.fingerprint = rk.Key, rk.Fingerprint()
	c.reason = "role " + role.Name + " holds " + strings.Join(needs, ", ") + " for " + c.op.ID
	return refusal{}, true
}

// operation finds the catalog operation a call reaches. Only canonical paths are considered, so that
// what is decided on is exactly what Klaviyo receives: no empty, "." or ".." segments.
func (s *Server) operation(r *http.Request, c *call) (refusal, bool) {
	// Worded only for a call that gets it: printable scans the caller's text for credentials.
	notFound := func() refusal {
		return refusal{status: 404, code: "not_found", title: titleNotFound, decision: "unknown_operation",
			detail: printable(r.Method) + " " + printable(r.URL.Path) + " is not a Klaviyo API operation the proxy knows, so it is not forwarded."}
	}
	path := r.URL.Path
	if !canonicalPath(path) || r.Method != strings.ToUpper(r.Method) {
		c.reason = "not a canonical API path"
		return notFound(), false
	}
	op, ok := catalog.Find(r.Method, path)
	if !ok {
		var allow []string
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if o, ok := catalog.Find(m, path); ok && !o.PublicKey {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			c.reason = "method not allowed on " + printable(path)
			return refusal{status: 405, code: "method_not_allowed", title: titleMethod, decision: "unknown_operation",
				allow:  strings.Join(allow, ", "),
				detail: fmt.Sprintf("Method %q not allowed on %s; it takes %s.", printable(r.Method), printable(path), strings.Join(allow, ", "))}, false
		}
		c.reason = "unknown operation"
		return notFound(), false
	}
	if op.PublicKey {
		c.reason = "a /client operation, which takes a public key, not a role key"
		ref := notFound()
		ref.detail = fmt.Sprintf("%s is a client-side operation, called with the account's public key: the proxy does not forward it.", op)
		return ref, false
	}
	c.op, c.found = op, true
	return refusal{}, true
}

// canonicalPath reports whether p is an /api/ (or /client/) path without empty, "." or ".." segments (one trailing
// slash is allowed, as Klaviyo allows it).
func canonicalPath(p string) bool {
	if !strings.HasPrefix(p, "/api/") && !strings.HasPrefix(p, "/client/") {
		return false
	}
	for s := range strings.SplitSeq(strings.TrimSuffix(p[1:], "/"), "/") {
		if s == "" || s == "." || s == ".." {
			return false
		}
	}
	return true
}

// printable is a caller's text as answers, logs and audit entries may show it: control characters
// replaced, bounded, and anything shaped like a Klaviyo key or a proxy token masked, since callers do
// paste credentials into paths.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	s = mask.InText(s)
	for i := strings.Index(s, TokenPrefix); i >= 0; i = strings.Index(s, TokenPrefix) {
		j := i + len(TokenPrefix)
		for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
			j++
		}
		s = s[:i] + "klrbac_pt****" + s[j:]
	}
	return s
}

func grantingPermissions(pol *policy.Policy, scope string) []string {
	var out []string
	for _, p := range pol.Permissions {
		if slices.Contains(p.Scopes, scope) {
			out = append(out, p.Name)
		}
	}
	return out
}

// credential reads the caller's token from Authorization: Klaviyo-API-Key <token> (as Klaviyo's SDKs
// send keys) or Bearer <token> (as they send OAuth tokens).
func credential(h http.Header) (value, scheme string) {
	v := strings.TrimSpace(h.Get("Authorization"))
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok {
		return "", ""
	}
	if strings.EqualFold(scheme, "klaviyo-api-key") || strings.EqualFold(scheme, "bearer") {
		return strings.TrimSpace(rest), scheme
	}
	return "", ""
}

// clientAddress is the caller's address: the connection's peer, or, when the peer is a trusted proxy,
// the last address in X-Forwarded-For that no trusted proxy added.
func clientAddress(r *http.Request, trusted []netip.Prefix) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	peer := ap.Addr().Unmap()
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break
		}
		client = a.Unmap()
		if !isTrusted(client, trusted) {
			break
		}
	}
	return client.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// refuse audits a refused call and answers it; when the refusal cannot be audited, the answer is 503.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, c *call, ref refusal) {
	c.decision, c.status = ref.decision, ref.status
	if err := s.record(r.Context(), r, c); err != nil {
		ref = s.auditFailed(c, err)
	}
	writeRefusal(w, ref)
}

func (s *Server) auditFailed(c *call, err error) refusal {
	s.opts.Log.Error("audit entry not written", "err", err.Error())
	c.decision, c.status = "unavailable", http.StatusServiceUnavailable
	return refusal{status: http.StatusServiceUnavailable, code: "service_unavailable", title: titleUnavailable, decision: "unavailable",
		detail: "The proxy cannot record this call in its audit trail. Retry later."}
}

// errUnaudited stops a response whose audit entry could not be written from reaching the caller.
var errUnaudited = errors.New("audit entry not written")

func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	c := pr.In.Context().Value(callKey{}).(*call)
	up := s.opts.Upstream
	out := pr.Out
	out.URL.Scheme, out.URL.Host = up.Scheme, up.Host
	out.URL.Path = strings.TrimSuffix(up.Path, "/") + pr.In.URL.Path
	out.URL.RawPath = ""
	out.URL.RawQuery = pr.In.URL.RawQuery
	out.Host = up.Host
	// The caller's credentials stay here: Klaviyo sees only the role's key.
	for _, h := range []string{"Authorization", "Proxy-Authorization", "Cookie", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip"} {
		out.Header.Del(h)
	}
	out.Header.Set("Authorization", "Klaviyo-API-Key "+c.key.Reveal())
}

// answered runs when Klaviyo's answer has arrived, before any of it is passed on: the call's entry
// is written, durably, first.
func (s *Server) answered(resp *http.Response) error {
	c := resp.Request.Context().Value(callKey{}).(*call)
	c.status, c.answered = resp.StatusCode, true
	c.upstream = s.opts.Now().Sub(c.start)
	if err := s.record(resp.Request.Context(), resp.Request, c); err != nil {
		return fmt.Errorf("%w: %w", errUnaudited, err)
	}
	return nil
}

func (s *Server) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	c := r.Context().Value(callKey{}).(*call)
	if errors.Is(err, errUnaudited) {
		writeRefusal(w, s.auditFailed(c, err))
		return
	}
	c.status = http.StatusBadGateway
	c.decision = "upstream_error"
	c.reason += "; Klaviyo could not be reached: " + err.Error()
	s.opts.Log.Warn("klaviyo unreachable", "err", err.Error())
	if !c.audited {
		if rerr := s.record(r.Context(), r, c); rerr != nil {
			writeRefusal(w, s.auditFailed(c, rerr))
			return
		}
	}
	writeRefusal(w, refusal{status: http.StatusBadGateway, code: "bad_gateway", title: titleBadGateway,
		detail: "The proxy could not reach Klaviyo.", decision: "upstream_error"})
}

// record writes the call's audit entry with the reference design's fields.
func (s *Server) record(ctx context.Context, r *http.Request, c *call) error {
	endpoint := printable(r.Method + " " + c.path)
	if c.found {
		endpoint = c.op.Method + " " + c.op.Path
	}
	user := c.token.User
	if user == "" {
		user = "anonymous"
	}
	reason := c.reason
	if c.status != 0 {
		reason = "status " + strconv.Itoa(c.status) + " in " + s.opts.Now().Sub(c.start).Round(time.Microsecond).String() + "; " + reason
	}
	if c.token.ID != "" {
		reason += "; token " + c.token.ID
	}
	e := audit.Entry{
		UserID:          user,
		Role:            c.role,
		Action:          printable(r.Method),
		Resource:        printable(c.path),
		Success:         c.decision == "allowed" && c.status >= 200 && c.status < 300,
		KlaviyoEndpoint: endpoint,
		IPAddress:       c.client,
		Reason:          reason,
	}
	if c.decision == "allowed" {
		e.Fingerprint = c.fingerprint
	}
	_, err := s.opts.Trail.Record(ctx, e)
	if err == nil {
		c.audited = true
	}
	return err
}

// finish logs and counts the call once it is answered.
func (s *Server) finish(r *http.Request, c *call, status int) {
	d := s.opts.Now().Sub(c.start)
	// Typed attributes in an array: the log line is written for every call, so it should not box
	// every value and grow a slice to do so.
	attrs := [...]slog.Attr{
		slog.String("method", printable(r.Method)), slog.String("path", printable(c.path)), slog.Int("status", status),
		slog.String("decision", c.decision), slog.String("user", c.token.User), slog.String("role", c.role),
		slog.String("operation", c.op.ID), slog.String("client", c.client),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Float64("upstream_ms", float64(c.upstream.Microseconds())/1000),
	}
	n := len(attrs)
	if !c.answered {
		n-- // upstream_ms is last
	}
	s.opts.Log.LogAttrs(context.Background(), slog.LevelInfo, "call", attrs[:n]...)
	if s.opts.Metrics != nil {
		s.opts.Metrics.observe(c, status)
	}
}
