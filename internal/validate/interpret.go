package validate

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
)

// The evidence rules: what an answer to a probe proves about a key. They are the whole of klrbac's
// reading of probe answers, each tested against a fake server that tries to break it
// (evidence_test.go):
//
//   - The answer must be Klaviyo's (klaviyo.NotKlaviyo): an HTML page, JSON that is not JSON:API or a
//     redirect ends the run (NotKlaviyoError, exit 3), since nothing that server says proves
//     anything about any key.
//   - An error about the revision (a JSON:API error whose source is the revision parameter, or
//     that speaks of revisions, such as a 404 "No valid revisions found for method") ends the run as
//     a configuration error (RevisionError, exit 2): it is about klaviyo.revision, not the key.
//   - A read is granted only by a 2xx carrying a JSON:API document.
//   - A write's 400 counts as granted only when an error points into the request body
//     (source.pointer /data...), which Klaviyo reaches after the scope check; an error about a
//     header or parameter never does.
//   - A 404 counts only when it is about the made-up object (its detail or source names BogusID
//     or the id), never about a route.
//   - Grants that rest on Klaviyo checking scopes before the body or the object lookup (every 400
//     or 404 grant, reads such as conversations:read's included) stay inferred until calibration
//     confirms that order, and say nothing when calibration refuted it.
//   - A JSON:API 403 permission_denied proves the scope missing; a 401 rejects the key.
//   - Everything else is undetermined, with its reason.

// NotKlaviyoError ends a run whose API answered in a shape that is not Klaviyo's.
type NotKlaviyoError struct {
	// Request is the probe that got the answer, What what came back (and from which host).
	Request, What string
}

func (e *NotKlaviyoError) Error() string {
	return fmt.Sprintf("the API did not answer as Klaviyo does: %s got %s; no key was judged", e.Request, e.What)
}

// RevisionError ends a run whose revision Klaviyo does not serve.
type RevisionError struct {
	Revision, Request, Detail string
}

func (e *RevisionError) Error() string {
	return fmt.Sprintf("Klaviyo refused the API revision %q: %s answered %s", e.Revision, e.Request, e.Detail)
}

// stopFault gives a run-ending answer its kind and hints.
func stopFault(err error) error {
	var nk *NotKlaviyoError
	var re *RevisionError
	switch {
	case errors.As(err, &nk):
		return fault.Wrap(fault.Unavailable, err).Hint(
			"check klaviyo.api_url (KLRBAC_API_URL): it should be Klaviyo's API, https://a.klaviyo.com, or a klrbac sandbox",
			"a captive portal or a proxy that answers for every host gives such answers: check the network")
	case errors.As(err, &re):
		return fault.Wrap(fault.Config, err).Hint(
			"set klaviyo.revision (KLRBAC_REVISION, --revision) to a revision Klaviyo serves, such as " + klaviyo.DefaultRevision + ", or remove it to use klrbac's default")
	}
	return err
}

// hostOf names the host an API URL points at, for messages.
func hostOf(apiURL string) string {
	u, err := url.Parse(calibrationURL(apiURL))
	if err != nil || u.Host == "" {
		return apiURL
	}
	return u.Host
}

// interpret reads one probe's answer by the evidence rules. It returns the finding, the error that
// rejects the key (a 401, which ends the key's run), and the error that ends the whole run (an
// answer that is not Klaviyo's, or a refused revision).
func interpret(p ProbeRequest, resp *klaviyo.Response, err error, cal CalibrationState, apiURL, revision string) (Finding, *klaviyo.Error, error) {
	f := Finding{Scope: p.Scope, Request: p.String()}
	if what := klaviyo.NotKlaviyo(resp, hostOf(apiURL)); what != "" {
		return f, nil, &NotKlaviyoError{Request: p.String(), What: what}
	}
	if err == nil {
		if resp == nil {
			f.Answer, f.Reason = Undetermined, "no answer"
			return f, nil, nil
		}
		f.Status = resp.Status
		f.Answer, f.Reason = Granted, fmt.Sprintf("answered %d with a JSON:API document", resp.Status)
		return f, nil, nil
	}
	var ke *klaviyo.Error
	if !errors.As(err, &ke) {
		f.Answer, f.Reason = Undetermined, "no answer: "+err.Error()
		return f, nil, nil
	}
	f.Status = ke.Status
	seen := answerText(ke)
	if d, ok := aboutRevision(ke); ok {
		rev := revision
		if p.Op.Beta && !strings.HasSuffix(rev, ".pre") {
			rev += ".pre"
		}
		return f, nil, &RevisionError{Revision: rev, Request: p.String(), Detail: fmt.Sprintf("%s: %s", seen, d)}
	}
	switch ke.Class {
	case klaviyo.NotAuthenticated, klaviyo.AuthenticationFailed:
		return f, ke, nil
	case klaviyo.PermissionDenied:
		f.Answer, f.Reason = Denied, seen
		return f, nil, nil
	case klaviyo.Invalid, klaviyo.NotFound:
		about, proves := passedScopeCheck(p, ke)
		switch {
		case !proves:
			f.Answer, f.Reason = Undetermined, seen+": "+about+", which says nothing about the key's scopes"
		case cal == Refuted:
			f.Answer = Undetermined
			f.Reason = seen + ", but calibration found that Klaviyo validates a write's body before its scopes, so this says nothing about the scope"
		default:
			f.Answer, f.Reason = Granted, seen+": "+about
			f.Inferred = cal != Confirmed
		}
		return f, nil, nil
	}
	f.Answer, f.Reason = Undetermined, seen
	if ke.Class == klaviyo.EdgeBlocked {
		f.Reason += ", which says nothing about the key"
	}
	return f, nil, nil
}

// passedScopeCheck reports whether a 400 or 404 is about what Klaviyo checks only after the
// scopes, and so proves the scope (if scopes come first): for a 400, an error pointing into the
// request body; for a 404, an error about the made-up object. about says what the error is about.
func passedScopeCheck(p ProbeRequest, ke *klaviyo.Error) (about string, proves bool) {
	if len(ke.Errors) == 0 {
		return "an error without a JSON:API error object", false
	}
	switch ke.Class {
	case klaviyo.Invalid:
		if p.Body == nil {
			return "an error about a request that has no body", false
		}
		for _, o := range ke.Errors {
			if o.Source.Parameter != "" {
				return "an error about the parameter " + o.Source.Parameter, false
			}
		}
		for _, o := range ke.Errors {
			if ptr := o.Source.Pointer; ptr == "/data" || strings.HasPrefix(ptr, "/data/") {
				return "the body was checked (" + ptr + ")", true
			}
		}
		return "an error that does not point into the request body", false
	case klaviyo.NotFound:
		if !strings.Contains(p.Path, BogusID) {
			return "a not-found for a path that names no object", false
		}
		for _, o := range ke.Errors {
			if o.Source.Parameter != "" && o.Source.Parameter != "id" {
				return "a not-found about the parameter " + o.Source.Parameter, false
			}
			if strings.Contains(o.Detail, BogusID) || o.Source.Pointer == "/data/id" || o.Source.Parameter == "id" {
				return "the made-up object was looked up", true
			}
		}
		return "a not-found that is not about the made-up object (a route?)", false
	}
	return "", false
}

// aboutRevision reports whether a 400 or 404 is about the revision header rather than the key or
// the request: Klaviyo's wording is unverified, so any error whose source is the revision
// parameter, or whose title or detail speaks of a revision, counts.
func aboutRevision(ke *klaviyo.Error) (string, bool) {
	if ke.Class != klaviyo.Invalid && ke.Class != klaviyo.NotFound {
		return "", false
	}
	for _, o := range ke.Errors {
		text := strings.ToLower(o.Title + " " + o.Detail)
		if strings.EqualFold(o.Source.Parameter, "revision") || strings.Contains(text, "revision") {
			d := strings.TrimSuffix(strings.TrimSpace(o.Detail), ".")
			if d == "" {
				d = strings.TrimSuffix(strings.TrimSpace(o.Title), ".")
			}
			return d, true
		}
	}
	return "", false
}

// answerText says what a failed call got: "not found (HTTP 404 not_found)", "server error (HTTP
// 503) after 4 attempts".
func answerText(e *klaviyo.Error) string {
	var b strings.Builder
	if e.Class == klaviyo.Transport {
		b.WriteString("no answer")
	} else {
		b.WriteString(e.Class.String())
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d", e.Status)
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		}
		b.WriteString(")")
	}
	if e.Class == klaviyo.EdgeBlocked && e.Detail != "" && e.Status == 0 {
		b.WriteString(": " + e.Detail)
	}
	if e.Class == klaviyo.Transport && e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	return b.String()
}

// applyCompanions settles the scopes whose only probe also needs another scope: when the key lacks
// the companion (or it is undetermined), Klaviyo's refusal says nothing about the scope itself.
func applyCompanions(findings map[string]Finding) {
	for scope, f := range findings {
		if f.Answer != Denied {
			continue
		}
		p, _ := RequestFor(scope)
		var lacking []string
		for _, c := range p.Companions {
			if cf, ok := findings[c]; !ok || cf.Answer != Granted {
				lacking = append(lacking, c)
			}
		}
		if len(lacking) == 0 {
			continue
		}
		f.Answer, f.Inferred = Undetermined, false
		f.Inert = true
		for _, c := range lacking {
			f.Inert = f.Inert && findings[c].Answer == Denied
		}
		if f.Inert {
			f.Reason = fmt.Sprintf("its only probe also needs %s, which the key lacks; without %s it would open nothing, so it is no excess either",
				describe(lacking), describe(lacking))
		} else {
			f.Reason = fmt.Sprintf("its only probe also needs %s, which is undetermined", describe(lacking))
		}
		findings[scope] = f
	}
}

// rejection says why Klaviyo refused a key.
func rejection(e *klaviyo.Error) string {
	return fmt.Sprintf("Klaviyo rejected the key (%s): it is mistyped, disabled, deleted or expired", answerText(e))
}
