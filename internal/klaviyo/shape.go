package klaviyo

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// NotKlaviyo says why an answer cannot be Klaviyo's, or returns "" when it has Klaviyo's shape: a
// JSON:API document (a "data" member on a 2xx, an "errors" list on any other status) in a JSON
// media type, and never a redirect. A captive portal, a wrong host in klaviyo.api_url or a proxy
// that answers for everyone fails this, whatever status it gives: such an answer proves nothing
// about a key. Cloudflare's challenge in front of Klaviyo (an HTML page with cf-mitigated) is the
// one HTML answer that is Klaviyo's own edge: it passes here, and the caller reads it as
// EdgeBlocked (nothing about the key, but Klaviyo is there).
//
// host names where the answer came from, for the message.
func NotKlaviyo(resp *Response, host string) string {
	if resp == nil {
		return ""
	}
	from := ""
	if host != "" {
		from = " from " + host
	}
	if resp.Status >= 300 && resp.Status < 400 {
		to := headerValue(resp.Header, "Location")
		if u, err := url.Parse(to); err == nil && u.Host != "" {
			to = u.Scheme + "://" + u.Host
		} else if to != "" {
			to = "a path on the same host"
		}
		if to == "" {
			return fmt.Sprintf("a redirect (HTTP %d)%s", resp.Status, from)
		}
		return fmt.Sprintf("a redirect (HTTP %d to %s)%s", resp.Status, to, from)
	}
	ct := headerValue(resp.Header, "Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if headerValue(resp.Header, "cf-mitigated") != "" {
		return ""
	}
	switch {
	case mt == "text/html" || mt == "application/xhtml+xml":
		return fmt.Sprintf("an HTML page (HTTP %d %s)%s", resp.Status, mt, from)
	case mt != "application/json" && mt != MediaType && !strings.HasSuffix(mt, "+json"):
		if mt == "" {
			mt = "no content type"
		}
		return fmt.Sprintf("an answer that is not JSON (HTTP %d, %s)%s", resp.Status, mt, from)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(resp.Body, &doc); err != nil {
		return fmt.Sprintf("a body that is not a JSON object (HTTP %d %s)%s", resp.Status, mt, from)
	}
	if resp.Status >= 200 && resp.Status < 300 {
		if !isResourceData(doc["data"]) {
			return fmt.Sprintf("JSON that is not a JSON:API document: no resource data (HTTP %d)%s", resp.Status, from)
		}
		return ""
	}
	if _, err := ParseErrors(resp.Body); err != nil || len(doc["errors"]) == 0 || string(doc["errors"]) == "[]" {
		return fmt.Sprintf("JSON that is not a JSON:API error document (HTTP %d %s)%s", resp.Status, http.StatusText(resp.Status), from)
	}
	return ""
}

// isResourceData reports whether raw is a JSON:API primary data member as Klaviyo sends it: a
// resource object, a list of them (possibly empty), or null for an empty to-one relationship.
func isResourceData(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	if string(raw) == "null" {
		return true
	}
	resource := func(r json.RawMessage) bool {
		var o struct {
			Type *string `json:"type"`
			ID   *string `json:"id"`
		}
		return json.Unmarshal(r, &o) == nil && o.Type != nil && *o.Type != "" && o.ID != nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err == nil {
		for _, r := range list {
			if !resource(r) {
				return false
			}
		}
		return true
	}
	return resource(raw)
}
