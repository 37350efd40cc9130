package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
)

// apiError is one error of a JSON:API error document, shaped as Klaviyo's, so that the official SDKs
// surface the proxy's refusals as they surface Klaviyo's.
type apiError struct {
	ID     string         `json:"id"`
	Status int            `json:"status"`
	Code   string         `json:"code"`
	Title  string         `json:"title"`
	Detail string         `json:"detail"`
	Source map[string]any `json:"source"`
}

// refusal is the proxy's own answer to a call it does not forward.
type refusal struct {
	status int
	code   string
	title  string
	detail string
	// param names the query parameter at fault, for the error's source.
	param string
	// allow lists the methods a path takes, for a 405.
	allow string
	// decision is how the call is counted and logged: unauthenticated, no_role, unknown_operation,
	// denied, invalid, unavailable.
	decision string
}

// Titles and details Klaviyo uses (Django REST Framework's defaults), so answers read as Klaviyo's.
const (
	titleNotAuthenticated = "Authentication credentials were not provided."
	titleAuthFailed       = "Incorrect authentication credentials."
	titlePermission       = "You do not have permission to perform this action."
	titleNotFound         = "Not found."
	titleMethod           = "Method not allowed."
	titleInvalid          = "Invalid input."
	titleUnavailable      = "Service unavailable."
	titleBadGateway       = "Bad gateway."
)

func writeRefusal(w http.ResponseWriter, r refusal) {
	e := apiError{ID: errorID(), Status: r.status, Code: r.code, Title: r.title, Detail: r.detail, Source: map[string]any{}}
	if r.param != "" {
		e.Source["parameter"] = r.param
	}
	b, _ := json.Marshal(map[string]any{"errors": []apiError{e}})
	h := w.Header()
	h.Set("Content-Type", "application/vnd.api+json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if r.allow != "" {
		h.Set("Allow", r.allow)
	}
	if r.status == http.StatusUnauthorized {
		// As Klaviyo's 401s: the scheme an SDK should use.
		h.Set("WWW-Authenticate", "Klaviyo-API-Key")
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(b)
}

func errorID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
