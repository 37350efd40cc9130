package sandbox

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/catalog"
)

// How Klaviyo answers the revision header, as far as it is known. Klaviyo's documentation says only
// that the value "must be a valid revision"; the rest is inferred from answers reported in public
// (a third-party integration's notes on a beta endpoint, and klaviyo-swift-sdk PR #730):
//
//   - a date after today: 400, "Unable to specify a future revision date";
//   - a date before the earliest revision of the endpoint: 400, naming the earliest;
//   - a stable revision (no .pre) for an endpoint that exists only in beta: 404, "No valid
//     revisions found for method, please check our documentation";
//   - any other date reaches the newest revision of the endpoint on or before it (the reports
//     name dates between revisions that worked).
//
// The sandbox knows one version of each operation, the catalog's, and serves it for every date it
// accepts. Its "today" is never earlier than the catalog's own revision, so that the catalog's
// revision is served whatever the clock of a test says. The exact wording and codes are
// unverified: klrbac must read any error about the revision as such, never as a verdict on a key.
const (
	// firstRevision is the first revision of Klaviyo's current API (its changelog starts there):
	// the earliest any stable endpoint has.
	firstRevision = "2022-10-17"

	detailNoRevision = "No valid revisions found for method, please check our documentation"
)

// checkRevision picks the operation the request's revision reaches: a .pre revision reaches the beta
// operation where there is one, any revision the stable one.
func (s *Server) checkRevision(w http.ResponseWriter, r *http.Request, rt *route) (*catalog.Operation, bool) {
	rev := r.Header.Get("revision")
	date, pre := strings.CutSuffix(rev, ".pre")
	if rev == "" {
		writeErrorParam(w, http.StatusBadRequest, "invalid", textInvalid,
			"Missing required header: revision. Send the API revision, such as revision: "+catalog.SpecRevision+".", "revision")
		return nil, false
	}
	day, err := time.Parse(time.DateOnly, date)
	if err != nil || len(date) != 10 {
		writeErrorParam(w, http.StatusBadRequest, "invalid", textInvalid,
			fmt.Sprintf("Invalid revision %q: expected a date such as %s, or %s.pre for beta endpoints.", rev, catalog.SpecRevision, catalog.SpecRevision), "revision")
		return nil, false
	}
	if day.After(s.today()) {
		writeErrorParam(w, http.StatusBadRequest, "invalid", textInvalid,
			fmt.Sprintf("Invalid revision %q: unable to specify a future revision date.", rev), "revision")
		return nil, false
	}
	op := rt.stable
	if pre && rt.beta != nil {
		op = rt.beta
	}
	if op == nil {
		// A beta-only endpoint asked with a stable revision. The reported answer names no source.
		writeError(w, http.StatusNotFound, "not_found", textNotFound, detailNoRevision, "")
		return nil, false
	}
	earliest := firstRevision
	if op.Beta {
		earliest = catalog.SpecRevision
	}
	if date < earliest {
		writeErrorParam(w, http.StatusBadRequest, "invalid", textInvalid,
			fmt.Sprintf("Invalid revision %q: it is before the earliest available revision of this endpoint; use a date on or after %s.", rev, earliest), "revision")
		return nil, false
	}
	return op, true
}

// today is the sandbox's date for revisions: its clock's, but never before the catalog's revision.
func (s *Server) today() time.Time {
	now := s.now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if spec, err := time.Parse(time.DateOnly, catalog.SpecRevision); err == nil && spec.After(day) {
		return spec
	}
	return day
}
