package klaviyo

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzParseErrors feeds Klaviyo's error parser and classifier whatever a server might send: they
// never panic, a document that parses has its fields, and only a JSON:API permission_denied 403
// without Cloudflare's marks reads as a missing scope.
func FuzzParseErrors(f *testing.F) {
	for _, seed := range []string{
		`{"errors":[{"id":"1","status":403,"code":"permission_denied","title":"You do not have permission to perform this action.","detail":"You do not have permission to perform this action.","source":{"pointer":"/data/"},"links":{},"meta":{}}]}`,
		`{"errors":[{"status":"429","code":"throttled","detail":"Request was throttled. Expected available in 12 seconds."}]}`,
		`{"errors":[{"status":401,"code":"not_authenticated"}]}`,
		`{"errors":[]}`, `{"errors":null}`, `{"errors":[1]}`, `{"errors":[{"status":true}]}`, `{}`, `[]`, `null`, ``,
		`<!DOCTYPE html><html><title>Just a moment...</title></html>`,
		`{"errors":[{"status":99999999999999999999,"code":"permission_denied"}]}`,
	} {
		for _, status := range []int{400, 401, 403, 404, 429, 503} {
			f.Add(status, "application/vnd.api+json", "", seed)
		}
	}
	f.Add(403, "text/html; charset=UTF-8", "challenge", `<html></html>`)
	f.Add(429, "application/json", "", `{"errors":[{"detail":"Expected available in 1e308 seconds."}]}`)
	f.Fuzz(func(t *testing.T, status int, contentType, mitigated, body string) {
		objs, err := ParseErrors([]byte(body))
		if err == nil {
			for _, o := range objs {
				if o.Status < 0 || o.Status >= 1000 {
					t.Fatalf("status %d out of range", o.Status)
				}
			}
		}
		h := http.Header{}
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		if mitigated != "" {
			h.Set("cf-mitigated", mitigated)
		}
		e := classify(status, h, []byte(body))
		if status >= 200 && status < 300 {
			if e != nil {
				t.Fatalf("%d classified as %v", status, e.Class)
			}
			return
		}
		if e == nil || e.Class == 0 || e.Class.String() == "unclassified" {
			t.Fatalf("%d %q: no class", status, body)
		}
		if e.Class == PermissionDenied && (status != 403 || err != nil || !strings.Contains(body, "permission_denied") || mitigated != "" || isHTML(contentType)) {
			t.Fatalf("%d %q %q read as a missing scope", status, contentType, body)
		}
		if e.RetryAfter < 0 || e.RetryAfter > 24*time.Hour {
			t.Fatalf("retry after %s", e.RetryAfter)
		}
		_ = e.Error()
	})
}

// FuzzDetailRetryAfter: the wait read from a detail text is never negative or absurd, and the
// wordings Klaviyo and DRF use are read.
func FuzzDetailRetryAfter(f *testing.F) {
	for _, seed := range []string{
		"Request was throttled. Expected available in 1 second.",
		"Request was throttled. Expected available in 45 seconds.",
		"Request was throttled. Expected available in 3 second(s).",
		"Expected available in 0.5 seconds", "available in seconds", "available in 99999999999 seconds", "", "Expected available in -1 seconds",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, detail string) {
		d, ok := DetailRetryAfter(detail)
		if d < 0 || d > 24*time.Hour || (!ok && d != 0) {
			t.Fatalf("%q: %s %v", detail, d, ok)
		}
	})
}

func TestDetailRetryAfterWordings(t *testing.T) {
	for detail, want := range map[string]time.Duration{
		"Request was throttled. Expected available in 1 second.":    time.Second,
		"Request was throttled. Expected available in 45 seconds.":  45 * time.Second,
		"Request was throttled. Expected available in 3 second(s).": 3 * time.Second,
		"request was throttled. expected AVAILABLE IN 2 Seconds.":   2 * time.Second,
	} {
		if got, ok := DetailRetryAfter(detail); !ok || got != want {
			t.Errorf("%q: %s %v, want %s", detail, got, ok, want)
		}
	}
	for _, detail := range []string{"Request was throttled.", "available in many seconds", "available in 5 minutes"} {
		if got, ok := DetailRetryAfter(detail); ok {
			t.Errorf("%q: read %s", detail, got)
		}
	}
}
