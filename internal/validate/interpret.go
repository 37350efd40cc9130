package validate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/klrbac/klrbac/internal/klaviyo"
)

// interpret reads one probe's answer, as the rules go: 2xx, 400 and 404 mean granted; a JSON:API
// 403 permission_denied means not granted; a 401 means Klaviyo rejects the key (returned apart, as it
// ends the key's run); anything else (an edge block, a 5xx, throttling that outlasted the retries,
// no answer, an unexpected status) leaves the scope undetermined, never missing.
//
// A write's 400 or 404 proves the scope only if Klaviyo checks scopes before it validates the body
// and looks up the object. Until calibrated, such a grant is marked inferred; when calibration
// found the opposite order, a write's 400 or 404 says nothing and the scope is undetermined. A 403
// is proof either way: a body check that came first would have answered 400. So is a 2xx: the
// write was carried out.
func interpret(p ProbeRequest, err error, cal CalibrationState) (Finding, *klaviyo.Error) {
	f := Finding{Scope: p.Scope, Request: p.String()}
	if err == nil {
		f.Answer, f.Status, f.Reason = Granted, 200, "answered 2xx"
		return f, nil
	}
	var ke *klaviyo.Error
	if !errors.As(err, &ke) {
		f.Answer, f.Reason = Undetermined, "no answer: "+err.Error()
		return f, nil
	}
	f.Status = ke.Status
	seen := answerText(ke)
	switch ke.Class {
	case klaviyo.NotAuthenticated, klaviyo.AuthenticationFailed:
		return f, ke
	case klaviyo.Invalid, klaviyo.NotFound:
		if p.Write() && cal == Refuted {
			f.Answer = Undetermined
			f.Reason = seen + ", but calibration found that Klaviyo validates a write's body before its scopes, so this says nothing about the scope"
			return f, nil
		}
		f.Answer, f.Reason = Granted, seen
		f.Inferred = p.Write() && cal != Confirmed
	case klaviyo.PermissionDenied:
		f.Answer, f.Reason = Denied, seen
	default:
		f.Answer, f.Reason = Undetermined, seen
		if ke.Class == klaviyo.EdgeBlocked {
			f.Reason += ", which says nothing about the key"
		}
	}
	return f, nil
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
