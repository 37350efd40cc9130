// Package klaviyo is klrbac's HTTP client for Klaviyo's API: authentication headers, the revision
// header, JSON:API errors turned into typed errors, bounded retries that honour Retry-After, and
// pacing that keeps a batch of calls under each account's rate limits. It never writes a key or
// token anywhere: errors and debug output show masks and fingerprints.
package klaviyo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
)

const (
	// DefaultAPIURL is Klaviyo's API base; it also hosts /oauth/token and /oauth/revoke.
	DefaultAPIURL = "https://a.klaviyo.com"
	// DefaultRevision is the API revision klrbac speaks unless configured otherwise.
	DefaultRevision = catalog.SpecRevision
	// DefaultMaxAttempts bounds how often one call is sent, as Klaviyo's own CLI does.
	DefaultMaxAttempts = 4
	// CallTimeout bounds one call to Klaviyo, each retry anew, where a command bounds its calls
	// (keys validate's --request-timeout, doctor --online) and is not told otherwise.
	CallTimeout = 15 * time.Second
	// MediaType is JSON:API's media type, which Klaviyo speaks.
	MediaType = "application/vnd.api+json"

	maxBody = 16 << 20
)

// Options configure a Client. Only APIURL and Revision matter outside tests.
type Options struct {
	APIURL   string // default DefaultAPIURL
	Revision string // YYYY-MM-DD; default DefaultRevision
	// HTTPClient sends the requests; default a client with a 30s timeout. Redirects are never
	// followed, so a credential is only ever sent to APIURL.
	HTTPClient *http.Client
	UserAgent  string // default "klrbac"; klrbac sends "klrbac/<version>"
	// Pacer, when set, spaces calls out to stay under the rate limits of each operation's tier.
	Pacer *Pacer
	// MaxAttempts bounds the sends of one call, retries included; default DefaultMaxAttempts.
	MaxAttempts int
	// MaxRetryWait is the longest wait the client accepts before a retry; a longer Retry-After
	// ends the call with the Throttled error instead. Default 65s, just over a steady window.
	MaxRetryWait time.Duration
	// Backoff is used when a retryable answer says nothing about when to retry.
	Backoff Backoff
	// Debug, when set, receives one line per attempt (method, path, masked credential, status,
	// time taken); never a secret.
	Debug io.Writer
	// Sleep, Now and Jitter replace the clock and randomness in tests.
	Sleep  func(ctx context.Context, d time.Duration) error
	Now    func() time.Time
	Jitter func() float64
}

// Client calls Klaviyo's API. It is safe for concurrent use.
type Client struct {
	base *url.URL
	err  error
	opts Options
}

// Request is one call.
type Request struct {
	Method string
	// Path is the API path, e.g. /api/profiles/01HXYZ, joined to the API URL. A query string in it
	// (as in the catalog's probes) is merged with Query.
	Path  string
	Query url.Values
	// Body is sent as application/vnd.api+json when non-nil.
	Body       []byte
	Credential Credential
	// Beta sends the pre-release revision (<revision>.pre). Operations the catalog knows only as
	// beta get it without asking.
	Beta bool
	// Account names the rate-limit quota the call counts against when the client paces: "" is the
	// default account; see Pacer.
	Account string
}

// Response is Klaviyo's answer. On a Klaviyo error (non-2xx) Do returns both the Response and an
// error, so callers can read headers such as RateLimit-Remaining.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Attempts is how many times the request was sent.
	Attempts int
	// Operation is the catalog operation the call reached; zero when the catalog has none.
	Operation catalog.Operation
}

// New returns a client. A malformed APIURL is reported by the first call.
func New(opts Options) *Client {
	if opts.APIURL == "" {
		opts.APIURL = DefaultAPIURL
	}
	if opts.Revision == "" {
		opts.Revision = DefaultRevision
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "klrbac"
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.MaxRetryWait <= 0 {
		opts.MaxRetryWait = 65 * time.Second
	}
	if opts.Backoff.Base <= 0 || opts.Backoff.Max <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.Sleep == nil {
		opts.Sleep = sleepContext
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if opts.HTTPClient != nil {
		cp := *opts.HTTPClient
		hc = &cp
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	opts.HTTPClient = hc
	c := &Client{opts: opts}
	u, err := url.Parse(NormalizeBaseURL(opts.APIURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.err = fault.Configf("Klaviyo API URL %q is not an http(s) URL", opts.APIURL).
			Hint("set klaviyo.api_url or KLRBAC_API_URL to a URL such as " + DefaultAPIURL)
	}
	c.base = u
	return c
}

// NormalizeBaseURL is a Klaviyo base URL (klaviyo.api_url, klaviyo.auth_url) in the form paths are
// joined to and calibrations are keyed by: without trailing slashes, so that "https://a.klaviyo.com/"
// and "https://a.klaviyo.com" are one API. It is the one place that form is decided, so that the
// client, the OAuth endpoints and key validation cannot disagree on which API a URL names.
// Surrounding space is left alone, as the client always has: "https://a.klaviyo.com/ " passes the
// config's URL check and is sent to as given.
func NormalizeBaseURL(u string) string { return strings.TrimRight(u, "/") }

// APIURL is the base URL calls go to.
func (c *Client) APIURL() string { return c.opts.APIURL }

// Revision is the revision header sent with stable operations.
func (c *Client) Revision() string { return c.opts.Revision }

// Paced reports whether the client paces its calls to the rate limits: only then does a batch take
// at least PacedDuration, which callers may hold against a deadline before sending anything.
func (c *Client) Paced() bool { return c.opts.Pacer != nil }

// Do sends req, retrying where that is safe and useful:
//   - 429: after Retry-After, else the seconds in the error detail, else exponential backoff with
//     jitter (and, with a Pacer, every caller of that quota waits too);
//   - 503, 504 and 524, and transport errors: only for GET and HEAD, after backoff;
//   - nothing else.
//
// It gives up after MaxAttempts sends and stops at once when ctx ends. Errors wrap *Error (use
// errors.Is with a Class, or errors.As) inside a fault.Error of kind Unavailable; an ended context
// gives an error wrapping ctx.Err().
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	if c.err != nil {
		return nil, c.err
	}
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	op, known := catalog.Find(method, req.Path)
	beta := req.Beta || (known && op.Beta)
	revision := c.opts.Revision
	if beta && !strings.HasSuffix(revision, ".pre") {
		revision += ".pre"
	}
	path, rawQuery, _ := strings.Cut(req.Path, "?")
	query := url.Values{}
	if rawQuery != "" {
		parsed, err := url.ParseQuery(rawQuery)
		if err != nil {
			return nil, fault.Usagef("%s %s: malformed query: %v", method, req.Path, err)
		}
		query = parsed
	}
	for k, vs := range req.Query {
		query[k] = append(query[k], vs...)
	}
	target := *c.base
	target.Path = c.base.Path + "/" + strings.TrimLeft(path, "/")
	target.RawQuery = encodeQuery(query)
	safe := method == http.MethodGet || method == http.MethodHead

	var last *Error
	for attempt := 1; attempt <= c.opts.MaxAttempts; attempt++ {
		if c.opts.Pacer != nil && known {
			if err := c.opts.Pacer.Wait(ctx, req.Account, op); err != nil {
				return nil, c.stopped(method, req.Path, err)
			}
		}
		resp, err := c.send(ctx, method, target.String(), revision, req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, c.stopped(method, req.Path, ctx.Err())
			}
			last = &Error{Class: Transport, Err: transportCause(err), Attempts: attempt}
			if !safe || attempt == c.opts.MaxAttempts {
				break
			}
			if err := c.opts.Sleep(ctx, c.opts.Backoff.Delay(attempt, c.opts.Jitter())); err != nil {
				return nil, c.stopped(method, req.Path, err)
			}
			continue
		}
		resp.Attempts, resp.Operation = attempt, op
		e := classify(resp.Status, resp.Header, resp.Body)
		if e == nil {
			return resp, nil
		}
		e.Method, e.Path, e.Credential, e.Attempts = method, req.Path, req.Credential.String(), attempt
		wait, retry := c.retryWait(method, resp, e, attempt)
		if !retry || attempt == c.opts.MaxAttempts {
			return resp, e.asFault()
		}
		if e.Class == Throttled && c.opts.Pacer != nil && known {
			c.opts.Pacer.Hold(req.Account, op, c.opts.Now().Add(wait))
		}
		if err := c.opts.Sleep(ctx, wait); err != nil {
			return nil, c.stopped(method, req.Path, err)
		}
	}
	last.Method, last.Path, last.Credential = method, req.Path, req.Credential.String()
	return nil, last.asFault()
}

// retryWait decides whether a failed attempt is worth repeating, and after how long.
func (c *Client) retryWait(method string, resp *Response, e *Error, attempt int) (time.Duration, bool) {
	switch {
	case e.Class == Throttled:
		wait, told := retryAfter(resp.Header, e.Detail)
		if !told {
			wait = c.opts.Backoff.Delay(attempt, c.opts.Jitter())
		}
		return wait, wait <= c.opts.MaxRetryWait
	case (resp.Status == 503 || resp.Status == 504 || resp.Status == 524) &&
		(method == http.MethodGet || method == http.MethodHead):
		return c.opts.Backoff.Delay(attempt, c.opts.Jitter()), true
	}
	return 0, false
}

func (c *Client) send(ctx context.Context, method, target, revision string, req Request) (*Response, error) {
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Accept", MediaType)
	hr.Header.Set("revision", revision)
	hr.Header.Set("User-Agent", c.opts.UserAgent)
	if req.Body != nil {
		hr.Header.Set("Content-Type", MediaType)
	}
	if auth := req.Credential.authorization(); auth != "" {
		hr.Header.Set("Authorization", auth)
	}
	start := c.opts.Now()
	resp, err := c.opts.HTTPClient.Do(hr)
	if err != nil {
		c.debugf("%s %s %s: %v", method, req.Path, req.Credential, transportCause(err))
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	c.debugf("%s %s %s: %d in %s", method, req.Path, req.Credential, resp.StatusCode, c.opts.Now().Sub(start).Round(time.Millisecond))
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

func (c *Client) debugf(format string, args ...any) {
	if c.opts.Debug != nil {
		fmt.Fprintf(c.opts.Debug, "klaviyo: "+format+"\n", args...)
	}
}

// stopped reports a call abandoned because its context ended: errors.Is(err, context.Canceled)
// holds, which klrbac reports as an interruption (exit 130); a deadline is "could not evaluate".
func (c *Client) stopped(method, path string, err error) error {
	e := fmt.Errorf("%s %s: %w", method, path, err)
	if errors.Is(err, context.DeadlineExceeded) {
		return fault.Wrap(fault.Unavailable, e).Hint("Klaviyo did not answer in time: retry later")
	}
	return e
}

// transportCause drops the request URL that net/http puts in its errors: it carries nothing
// secret, but the error already names the method and path.
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// encodeQuery writes a query with Klaviyo's bracketed parameter names (page[size], fields[profile])
// unescaped, as Klaviyo's documentation and SDKs send them.
func encodeQuery(q url.Values) string {
	s := q.Encode()
	if s == "" {
		return ""
	}
	return strings.NewReplacer("%5B", "[", "%5D", "]").Replace(s)
}
