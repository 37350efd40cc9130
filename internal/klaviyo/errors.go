package klaviyo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
)

// Class is what a failed call means to klrbac. Use it with errors.Is:
//
//	if errors.Is(err, klaviyo.PermissionDenied) { ... the key lacks a scope ... }
type Class int

const (
	// Transport: no HTTP answer at all (DNS, refused or reset connection, TLS, timeout).
	Transport Class = iota + 1
	// NotAuthenticated: 401 not_authenticated, the request carried no usable Authorization header.
	NotAuthenticated
	// AuthenticationFailed: any other 401: the key or token is unknown, disabled or expired.
	AuthenticationFailed
	// PermissionDenied: 403 with a JSON:API body whose code is permission_denied. It is the only
	// answer that means "the credential lacks a scope".
	PermissionDenied
	// EdgeBlocked: Klaviyo's edge network (Cloudflare) answered instead of Klaviyo: an HTML 403 or
	// 400, or any response with a cf-mitigated header. It says nothing about scopes.
	EdgeBlocked
	// Invalid: 400 from Klaviyo: the request (query or body) is not valid.
	Invalid
	// NotFound: 404.
	NotFound
	// Throttled: 429, the account's rate limit for the operation's tier was reached.
	Throttled
	// ServerError: 5xx.
	ServerError
	// Unexpected: any other status, such as 405, 410 or a 403 that is not permission_denied.
	Unexpected
)

func (c Class) String() string {
	switch c {
	case Transport:
		return "transport error"
	case NotAuthenticated:
		return "not authenticated"
	case AuthenticationFailed:
		return "authentication failed"
	case PermissionDenied:
		return "permission denied"
	case EdgeBlocked:
		return "blocked by Klaviyo's edge network"
	case Invalid:
		return "invalid request"
	case NotFound:
		return "not found"
	case Throttled:
		return "throttled"
	case ServerError:
		return "server error"
	case Unexpected:
		return "unexpected response"
	}
	return "unclassified"
}

// Error lets a Class be the target of errors.Is.
func (c Class) Error() string { return c.String() }

// ErrorObject is one entry of a JSON:API error document.
type ErrorObject struct {
	ID     string `json:"id"`
	Status int    `json:"-"`
	Code   string `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Source struct {
		Pointer   string `json:"pointer,omitempty"`
		Parameter string `json:"parameter,omitempty"`
	} `json:"source"`
}

// Error is a failed Klaviyo call. It never holds a secret: Credential is the credential's mask and
// fingerprint.
type Error struct {
	Class      Class
	Method     string
	Path       string
	Status     int // 0 for transport errors
	Credential string
	// Code, Title and Detail come from the first JSON:API error object, when there is one.
	Code, Title, Detail string
	Errors              []ErrorObject
	// RetryAfter is how long Klaviyo asked to wait (429), when it said.
	RetryAfter time.Duration
	// Attempts is how many times the request was sent.
	Attempts int
	// Err is the cause of a transport error.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Method + " " + e.Path)
	if e.Credential != "" && e.Credential != "no credential" {
		b.WriteString(" with " + e.Credential)
	}
	b.WriteString(": " + e.Class.String())
	if e.Status != 0 {
		b.WriteString(" (HTTP " + strconv.Itoa(e.Status))
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		}
		b.WriteString(")")
	}
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if msg = strings.TrimSuffix(strings.TrimSpace(msg), "."); msg != "" {
		b.WriteString(": " + msg)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, klaviyo.PermissionDenied) and the like work.
func (e *Error) Is(target error) bool {
	c, ok := target.(Class)
	return ok && c == e.Class
}

// ClassOf returns the class of the first *Error in err's chain, or 0.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return 0
}

// hint says what to do about a failure of class c.
func (c Class) hint() string {
	switch c {
	case Transport:
		return "check the network connection and the API URL (klaviyo.api_url, KLRBAC_API_URL)"
	case NotAuthenticated:
		return "the request carried no usable credential: a private key starts with pk_"
	case AuthenticationFailed:
		return "Klaviyo does not accept this credential: it may be mistyped, disabled, deleted or expired"
	case PermissionDenied:
		return "the credential lacks a scope this call needs; `klrbac scopes for METHOD PATH` lists them"
	case EdgeBlocked:
		return "Klaviyo's edge network (Cloudflare) stopped the request before Klaviyo saw it; this says nothing about the key's scopes: retry later or from another network"
	case Throttled:
		return "the account's rate limit for this kind of call was reached: wait a minute and retry"
	case ServerError:
		return "Klaviyo is having trouble: retry later"
	case Invalid:
		return "Klaviyo found the request invalid: check the path and query, and the revision (klaviyo.revision)"
	case NotFound:
		return "no such object in this account, or no such API path: `klrbac scopes for METHOD PATH` checks a path"
	case Unexpected:
		return "Klaviyo answered in a way klrbac does not expect: check klaviyo.api_url and klaviyo.revision"
	}
	return ""
}

// asFault gives e klrbac's error kind: every failed call is "could not evaluate" (exit 3); commands
// that read a class as a finding (a missing scope) do so before reporting.
func (e *Error) asFault() error {
	return fault.Wrap(fault.Unavailable, e).Hint(e.Class.hint())
}

// ParseErrors reads a JSON:API error document. It accepts "status" as a number or a string, as
// Klaviyo sends numbers where the JSON:API spec says strings.
func ParseErrors(body []byte) ([]ErrorObject, error) {
	var doc struct {
		Errors []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("not a JSON:API error document: %w", err)
	}
	if doc.Errors == nil {
		return nil, errors.New("not a JSON:API error document: no errors member")
	}
	out := make([]ErrorObject, 0, len(doc.Errors))
	for _, raw := range doc.Errors {
		var o ErrorObject
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, fmt.Errorf("malformed JSON:API error object: %w", err)
		}
		var st struct {
			Status json.RawMessage `json:"status"`
		}
		_ = json.Unmarshal(raw, &st)
		s := strings.Trim(string(bytes.TrimSpace(st.Status)), `"`)
		if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < 1000 {
			o.Status = n
		}
		out = append(out, o)
	}
	return out, nil
}

// classify turns a non-2xx response into an *Error (nil for 2xx).
func classify(status int, header http.Header, body []byte) *Error {
	if status >= 200 && status < 300 {
		return nil
	}
	e := &Error{Status: status}
	objs, perr := ParseErrors(body)
	if perr == nil {
		e.Errors = objs
		if len(objs) > 0 {
			e.Code, e.Title, e.Detail = objs[0].Code, objs[0].Title, objs[0].Detail
		}
	}
	html := isHTML(header.Get("Content-Type"))
	switch {
	case headerValue(header, "cf-mitigated") != "" || (html && (status == 403 || status == 400)):
		e.Class = EdgeBlocked
		e.Detail = edgeDetail(header, status)
	case status == 401:
		e.Class = AuthenticationFailed
		if hasCode(objs, "not_authenticated") {
			e.Class = NotAuthenticated
		}
	case status == 403:
		e.Class = Unexpected
		if perr == nil && hasCode(objs, "permission_denied") {
			e.Class = PermissionDenied
			e.Code = "permission_denied"
		}
	case status == 400:
		e.Class = Invalid
	case status == 404:
		e.Class = NotFound
	case status == 429:
		e.Class = Throttled
		e.RetryAfter, _ = retryAfter(header, e.Detail)
	case status >= 500:
		e.Class = ServerError
	default:
		e.Class = Unexpected
	}
	if perr != nil && e.Detail == "" && e.Class != EdgeBlocked {
		e.Detail = http.StatusText(status)
	}
	return e
}

func hasCode(objs []ErrorObject, code string) bool {
	for _, o := range objs {
		if o.Code == code {
			return true
		}
	}
	return false
}

func isHTML(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}

func edgeDetail(header http.Header, status int) string {
	if m := headerValue(header, "cf-mitigated"); m != "" {
		return fmt.Sprintf("HTTP %d with cf-mitigated: %s", status, m)
	}
	return fmt.Sprintf("HTTP %d with an HTML body", status)
}

// headerValue reads a header by name whatever the case the server or a proxy gave it: Go
// canonicalises names it parses, but a header map built by hand or by a test need not be.
func headerValue(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}
