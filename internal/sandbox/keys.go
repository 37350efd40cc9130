package sandbox

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The beta GET /api/api-keys, as the sandbox pages it. Klaviyo's beta spec lists no page[size] or
// page[cursor] for it, only links.next in its collection links: the sandbox pages by a cursor in
// links.next, DefaultKeyPageSize keys a page unless the fixture says otherwise, and takes a
// page[size] of 1 to 100 as Klaviyo's other listings do (inferred). So the client's paging is
// exercised, whatever Klaviyo turns out to do.
const (
	// DefaultKeyPageSize is how many keys a page of the listing holds unless the fixture or the
	// request asks otherwise.
	DefaultKeyPageSize = 20
	maxKeyPageSize     = 100
	// createdLayout is how the spec writes created ("2022-11-08T00:00:00+00:00").
	createdLayout = "2006-01-02T15:04:05-07:00"
)

// listKeys answers one page of the account's keys.
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, a *Account) {
	q := r.URL.Query()
	size := s.fixture.KeyPageSize
	if size <= 0 {
		size = DefaultKeyPageSize
	}
	if v := q.Get("page[size]"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxKeyPageSize {
			writeErrorParam(w, http.StatusBadRequest, "invalid", textInvalid,
				fmt.Sprintf("page[size] must be an integer between 1 and %d.", maxKeyPageSize), "page[size]")
			return
		}
		size = n
	}
	offset := 0
	if c := q.Get("page[cursor]"); c != "" {
		n, ok := decodeCursor(c)
		if !ok || n > len(a.Keys) {
			writeErrorParam(w, http.StatusBadRequest, "invalid", textInvalid, "Invalid page[cursor].", "page[cursor]")
			return
		}
		offset = n
	}
	end := min(offset+size, len(a.Keys))
	data := make([]resource, 0, end-offset)
	for _, k := range a.Keys[offset:end] {
		data = append(data, s.keyResource(r, k))
	}
	links := map[string]any{"self": "http://" + r.Host + r.URL.RequestURI(), "next": nil, "prev": nil}
	if end < len(a.Keys) {
		links["next"] = pageLink(r, encodeCursor(end))
	}
	if offset > 0 {
		links["prev"] = pageLink(r, encodeCursor(max(offset-size, 0)))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "links": links})
}

// pageLink is the request's URL with another cursor.
func pageLink(r *http.Request, cursor string) string {
	q := r.URL.Query()
	q.Set("page[cursor]", cursor)
	u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	return strings.NewReplacer("%5B", "[", "%5D", "]").Replace(u.String())
}

func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("keys:" + strconv.Itoa(offset)))
}

func decodeCursor(c string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "keys:"))
	if err != nil || !strings.HasPrefix(string(b), "keys:") || n < 0 {
		return 0, false
	}
	return n, true
}

// createdAt is when the key was made: as the fixture says, or else when the sandbox started.
func (s *Server) createdAt(k Key) time.Time {
	if !k.Created.IsZero() {
		return k.Created.UTC()
	}
	return s.started.UTC().Truncate(time.Second)
}
