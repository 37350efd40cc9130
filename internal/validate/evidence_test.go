package validate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
)

// Each evidence rule against a server that tries to break it. A liar answers every request the
// same way; the run must end as undetermined or as a configuration error, never with a grant.

// liar starts a server answering every request with handler, and options whose client talks to it.
func liar(t *testing.T, handler http.HandlerFunc) Options {
	t.Helper()
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	g := NewGuard(http.DefaultTransport)
	c := klaviyo.New(klaviyo.Options{APIURL: ts.URL, HTTPClient: &http.Client{Transport: g},
		Sleep: func(context.Context, time.Duration) error { return nil }})
	return Options{Client: c, APIURL: ts.URL, Revision: klaviyo.DefaultRevision, Guard: g}
}

func jsonAPIError(w http.ResponseWriter, status int, code, detail string, source string) {
	w.Header().Set("Content-Type", klaviyo.MediaType)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"id":"x","status":%d,"code":%q,"title":"t","detail":%q,"source":%s}]}`, status, code, detail, source)
}

func jsonAPIList(w http.ResponseWriter) {
	w.Header().Set("Content-Type", klaviyo.MediaType)
	fmt.Fprint(w, `{"data":[],"links":{"self":"x","next":null,"prev":null}}`)
}

func viewerTarget() Target {
	return Target{Role: "viewer", Required: []string{"profiles:read", "campaigns:read", "metrics:read", "segments:read"},
		KeySource: "test", Key: klaviyo.PrivateKey("pk_" + strings.Repeat("a", 34))}
}

func TestLiarsEndTheRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		kind    fault.Kind
		says    string
	}{
		{"HTML 200 to everything (a captive portal)", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html><body>Welcome to the hotel wifi</body></html>")
		}, fault.Unavailable, "an HTML page (HTTP 200 text/html) from 127.0.0.1"},
		{"JSON that is not JSON:API", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ok":true,"items":[]}`)
		}, fault.Unavailable, "JSON that is not a JSON:API document"},
		{"JSON error that is not JSON:API", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"message":"bad request"}`)
		}, fault.Unavailable, "not a JSON:API error document (HTTP 400"},
		{"a redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://login.example.com/portal", http.StatusFound)
		}, fault.Unavailable, "a redirect (HTTP 302 to https://login.example.com)"},
		{"plain text", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, "ok")
		}, fault.Unavailable, "not JSON (HTTP 200, text/plain)"},
		{"a JSON:API 400 about the revision header", func(w http.ResponseWriter, r *http.Request) {
			jsonAPIError(w, 400, "invalid", "Invalid revision: 2026-07-16 is not a valid revision.", `{"parameter":"revision"}`)
		}, fault.Config, `Klaviyo refused the API revision "2026-07-15"`},
		{"a JSON:API 404 about the revision", func(w http.ResponseWriter, r *http.Request) {
			jsonAPIError(w, 404, "not_found", "No valid revisions found for method", `{}`)
		}, fault.Config, "No valid revisions found for method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := liar(t, tc.handler)
			rep, err := Probe(context.Background(), []Target{viewerTarget()}, opts)
			if err == nil {
				t.Fatalf("the run went on: %+v", rep.Roles[0])
			}
			if fault.KindOf(err) != tc.kind {
				t.Errorf("kind %v, want %v: %v", fault.KindOf(err), tc.kind, err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			if len(fault.Hints(err)) == 0 {
				t.Error("no hint")
			}
		})
	}
}

// Answers that are Klaviyo-shaped but prove nothing leave the scope undetermined: the role is never
// valid on their strength.
func TestErrorsAboutSomethingElseProveNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		reason  string
	}{
		{"a 404 about a route for every request", func(w http.ResponseWriter, r *http.Request) {
			jsonAPIError(w, 404, "not_found", "Not found.", `{}`)
		}, "not about the made-up object"},
		{"a 400 about a query parameter", func(w http.ResponseWriter, r *http.Request) {
			jsonAPIError(w, 400, "invalid", "page[size] must be an integer between 1 and 10.", `{"parameter":"page[size]"}`)
		}, "an error about the parameter page[size]"},
		{"a 400 that points nowhere", func(w http.ResponseWriter, r *http.Request) {
			jsonAPIError(w, 400, "invalid", "Invalid input.", `{}`)
		}, "does not point into the request body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := liar(t, tc.handler)
			target := viewerTarget()
			target.Required = append(target.Required, "lists:write", "forms:write")
			rep, err := Probe(context.Background(), []Target{target}, opts)
			if err != nil {
				t.Fatal(err)
			}
			rr := rep.Roles[0]
			if rr.Verdict != VerdictUndetermined || len(rr.Granted) != 0 {
				t.Fatalf("verdict %s, granted %v; want undetermined and nothing granted", rr.Verdict, rr.Granted)
			}
			found := false
			for _, r := range rr.Reasons {
				found = found || strings.Contains(r, tc.reason)
			}
			if !found {
				t.Errorf("no reason says %q: %v", tc.reason, rr.Reasons)
			}
		})
	}
}

// What does count: a read's JSON:API 2xx; a write's 400 pointing into the body; a 404 naming the
// made-up object. Writes and the bogus-id read (conversations:read) stay inferred.
func TestEvidenceThatCounts(t *testing.T) {
	opts := liar(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, BogusID):
			jsonAPIError(w, 404, "not_found", fmt.Sprintf("A resource with id %s does not exist.", BogusID), `{"pointer":"/data/id"}`)
		case r.Method == http.MethodGet:
			jsonAPIList(w)
		default:
			jsonAPIError(w, 400, "invalid", "'data' is a required property.", `{"pointer":"/data"}`)
		}
	})
	target := viewerTarget()
	target.Required = []string{"profiles:read", "conversations:read", "events:write", "forms:write"}
	opts.RequiredOnly = true
	rep, err := Probe(context.Background(), []Target{target}, opts)
	if err != nil {
		t.Fatal(err)
	}
	rr := rep.Roles[0]
	if rr.Verdict != VerdictValid {
		t.Fatalf("verdict %s (%v)", rr.Verdict, rr.Reasons)
	}
	want := []string{"conversations:read", "events:write", "forms:write"}
	if strings.Join(rr.Inferred, ",") != strings.Join(want, ",") {
		t.Errorf("inferred %v, want %v", rr.Inferred, want)
	}
}

// The rules one by one, on Klaviyo-shaped errors.
func TestInterpretRules(t *testing.T) {
	read, _ := RequestFor("profiles:read")
	write, _ := RequestFor("lists:write")
	del, _ := RequestFor("forms:write")
	convo, _ := RequestFor("conversations:read")
	obj := func(detail, pointer, param string) klaviyo.ErrorObject {
		o := klaviyo.ErrorObject{Detail: detail}
		o.Source.Pointer, o.Source.Parameter = pointer, param
		return o
	}
	ke := func(c klaviyo.Class, status int, objs ...klaviyo.ErrorObject) error {
		return &klaviyo.Error{Class: c, Status: status, Errors: objs}
	}
	ok := &klaviyo.Response{Status: 200, Header: http.Header{"Content-Type": {klaviyo.MediaType}}, Body: []byte(`{"data":[]}`)}
	body400 := obj("'data' is a required property.", "/data", "")
	found404 := obj("No object with id "+BogusID+" exists.", "/data/id", "")
	for _, tc := range []struct {
		name     string
		probe    ProbeRequest
		resp     *klaviyo.Response
		err      error
		cal      CalibrationState
		answer   Answer
		inferred bool
		rejected bool
		stop     bool
	}{
		{"read 200 JSON:API", read, ok, nil, Uncalibrated, Granted, false, false, false},
		{"read 400 body", read, nil, ke(klaviyo.Invalid, 400, body400), Uncalibrated, Undetermined, false, false, false},
		{"read 404", read, nil, ke(klaviyo.NotFound, 404, found404), Uncalibrated, Undetermined, false, false, false},
		{"read 403", read, nil, ke(klaviyo.PermissionDenied, 403), Uncalibrated, Denied, false, false, false},
		{"read 401", read, nil, ke(klaviyo.AuthenticationFailed, 401), Uncalibrated, NotChecked, false, true, false},
		{"read 401 no scheme", read, nil, ke(klaviyo.NotAuthenticated, 401), Uncalibrated, NotChecked, false, true, false},
		{"edge 403", read, nil, ke(klaviyo.EdgeBlocked, 403), Uncalibrated, Undetermined, false, false, false},
		{"other 403", read, nil, ke(klaviyo.Unexpected, 403), Uncalibrated, Undetermined, false, false, false},
		{"503", read, nil, ke(klaviyo.ServerError, 503), Uncalibrated, Undetermined, false, false, false},
		{"429 outlasting the retries", read, nil, ke(klaviyo.Throttled, 429), Uncalibrated, Undetermined, false, false, false},
		{"no answer", read, nil, ke(klaviyo.Transport, 0), Uncalibrated, Undetermined, false, false, false},
		{"conversations 404 on the made-up profile", convo, nil, ke(klaviyo.NotFound, 404, found404), Confirmed, Granted, false, false, false},
		{"conversations 404 uncalibrated", convo, nil, ke(klaviyo.NotFound, 404, found404), Uncalibrated, Granted, true, false, false},
		{"write 400 body uncalibrated", write, nil, ke(klaviyo.Invalid, 400, body400), Uncalibrated, Granted, true, false, false},
		{"write 400 parameter", write, nil, ke(klaviyo.Invalid, 400, obj("bad", "", "filter")), Confirmed, Undetermined, false, false, false},
		{"write 400 no error object", write, nil, ke(klaviyo.Invalid, 400), Confirmed, Undetermined, false, false, false},
		{"write 400 revision", write, nil, ke(klaviyo.Invalid, 400, obj("bad", "", "revision")), Confirmed, NotChecked, false, false, true},
		{"delete 400 with no body", del, nil, ke(klaviyo.Invalid, 400, body400), Confirmed, Undetermined, false, false, false},
		{"delete 404 object", del, nil, ke(klaviyo.NotFound, 404, found404), Uncalibrated, Granted, true, false, false},
		{"write 404 route", write, nil, ke(klaviyo.NotFound, 404, obj("Not found.", "", "")), Confirmed, Undetermined, false, false, false},
		{"write 404 revisions", write, nil, ke(klaviyo.NotFound, 404, obj("No valid revisions found for method", "", "")), Confirmed, NotChecked, false, false, true},
		{"write 403 uncalibrated", write, nil, ke(klaviyo.PermissionDenied, 403), Uncalibrated, Denied, false, false, false},
		{"write 404 confirmed", del, nil, ke(klaviyo.NotFound, 404, found404), Confirmed, Granted, false, false, false},
		{"write 404 refuted", del, nil, ke(klaviyo.NotFound, 404, found404), Refuted, Undetermined, false, false, false},
		{"write 400 refuted", write, nil, ke(klaviyo.Invalid, 400, body400), Refuted, Undetermined, false, false, false},
		{"write 403 refuted", write, nil, ke(klaviyo.PermissionDenied, 403), Refuted, Denied, false, false, false},
		{"write 503", write, nil, ke(klaviyo.ServerError, 503), Confirmed, Undetermined, false, false, false},
	} {
		f, rej, stop := interpret(tc.probe, tc.resp, tc.err, tc.cal, "https://a.klaviyo.com", klaviyo.DefaultRevision)
		if (rej != nil) != tc.rejected || (stop != nil) != tc.stop {
			t.Errorf("%s: rejected %v stop %v, want %v %v", tc.name, rej != nil, stop, tc.rejected, tc.stop)
			continue
		}
		if tc.rejected || tc.stop {
			var re *RevisionError
			if tc.stop && !errors.As(stop, &re) {
				t.Errorf("%s: stop %v is no revision error", tc.name, stop)
			}
			continue
		}
		if f.Answer != tc.answer || f.Inferred != tc.inferred {
			t.Errorf("%s: %s (inferred %v), want %s (inferred %v)", tc.name, f.Answer, f.Inferred, tc.answer, tc.inferred)
		}
		if f.Answer == Undetermined && f.Reason == "" {
			t.Errorf("%s: undetermined without a reason", tc.name)
		}
	}
}

// A black hole (a host that takes connections and never answers) ends within the run's timeout,
// as could not evaluate, naming the host; the calls that went out are counted for the audit trail.
func TestBlackHoleTimesOut(t *testing.T) {
	release := make(chan struct{})
	opts := liar(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	opts.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := Probe(context.Background(), []Target{viewerTarget()}, opts)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
	var re *RunError
	if !errors.As(err, &re) || fault.KindOf(err) != fault.Unavailable {
		t.Fatalf("%v (kind %v), want a timed-out run", err, fault.KindOf(err))
	}
	if !strings.Contains(err.Error(), "127.0.0.1") || !strings.Contains(err.Error(), "--timeout") || re.Requests < 1 {
		t.Errorf("%v, %d requests", err, re.Requests)
	}
	if !strings.HasPrefix(re.Reason(), "timed out after 1 probe") {
		t.Errorf("reason %q", re.Reason())
	}
	// An interruption is told apart.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	opts.Timeout = 0
	_, err = Probe(ctx, []Target{viewerTarget()}, opts)
	if !errors.As(err, &re) || !errors.Is(err, context.Canceled) || !strings.HasPrefix(re.Reason(), "interrupted after 1 probe") {
		t.Errorf("%v: %q", err, re.Reason())
	}
}
