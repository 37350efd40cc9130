package sandbox

import (
	"io"
	"net/http"
	"time"
)

// Liars are servers that answer in place of Klaviyo and must never make a key look valid: a wrong
// host in klaviyo.api_url, a captive portal, a proxy that answers for everyone, a Klaviyo that
// refuses the revision, a host that takes connections and never answers. Faults.Liar makes the
// sandbox answer every /api and /client call as one of them, before anything else is looked at.
const (
	// LiarHTML answers 200 with an HTML page, as a captive portal does.
	LiarHTML = "html"
	// LiarJSON answers 200 with JSON that is not a JSON:API document.
	LiarJSON = "json"
	// LiarRedirect answers 302 to a login page elsewhere.
	LiarRedirect = "redirect"
	// LiarRevision answers 400 with Klaviyo's JSON:API error about the revision header, as Klaviyo
	// does to a revision it does not serve.
	LiarRevision = "revision"
	// LiarNoRevision answers 404 "No valid revisions found for method", as Klaviyo does to an
	// operation asked with a revision it does not exist in.
	LiarNoRevision = "no-revision"
	// LiarRoute answers 404 with a JSON:API not-found about no object: a route that is not there.
	LiarRoute = "route"
	// LiarParameter answers 400 with a JSON:API error about a query parameter: an error about
	// something other than the key or the request body.
	LiarParameter = "parameter"
	// LiarBlackHole takes the request and never answers (until the client gives up).
	LiarBlackHole = "black-hole"
)

// Liars lists the liars a fixture may name.
var Liars = []string{LiarHTML, LiarJSON, LiarRedirect, LiarRevision, LiarNoRevision, LiarRoute, LiarParameter, LiarBlackHole}

// blackHoleHold bounds how long a black hole holds a request whose client never gives up, so that a
// test server can still close.
var blackHoleHold = 5 * time.Minute

// lie answers r as the liar named.
func (s *Server) lie(w http.ResponseWriter, r *http.Request, liar string) {
	switch liar {
	case LiarHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, portalPage)
	case LiarJSON:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"status":"ok","message":"request received"}`)
	case LiarRedirect:
		w.Header().Set("Location", "https://portal.example.net/login?continue=klaviyo")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusFound)
		_, _ = io.WriteString(w, `<html><body><a href="https://portal.example.net/login">Sign in</a></body></html>`)
	case LiarRevision:
		writeErrorParam(w, http.StatusBadRequest, "invalid", textInvalid,
			"Invalid revision: "+r.Header.Get("revision")+" is not a valid revision.", "revision")
	case LiarNoRevision:
		writeError(w, http.StatusNotFound, "not_found", textNotFound, detailNoRevision, "")
	case LiarRoute:
		writeError(w, http.StatusNotFound, "not_found", textNotFound, textNotFound, "")
	case LiarParameter:
		writeErrorParam(w, http.StatusBadRequest, "invalid", textInvalid, "'filter' is not a valid filter for this endpoint.", "filter")
	case LiarBlackHole:
		t := time.NewTimer(blackHoleHold)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		// The handler returns without writing: net/http would answer 200; drop the connection
		// instead, as a host that never answers does.
		panic(http.ErrAbortHandler)
	}
}

const portalPage = `<!DOCTYPE html><html><head><title>Welcome</title></head><body>` +
	`<h1>Welcome to the guest network</h1><p>Accept the terms to continue.</p>` +
	`<!-- klrbac sandbox: simulated captive portal --></body></html>`
