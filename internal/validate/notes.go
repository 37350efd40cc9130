package validate

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Brief lists a few scopes: a table cell or a note holding thirty is unreadable; -o json lists them
// all. No scopes is "-", as an empty table cell is.
func Brief(scopes []string) string {
	const shown = 4
	if len(scopes) > shown+1 {
		return strings.Join(scopes[:shown], ", ") + fmt.Sprintf(" and %d more", len(scopes)-shown)
	}
	if len(scopes) == 0 {
		return "-"
	}
	return strings.Join(scopes, ", ")
}

// Line is the event as --verbose prints it: the roles and their key, the scope, the probe sent, and
// what its answer proved.
func (e Event) Line() string {
	f := e.Finding
	answer := f.Answer.String()
	if f.Answer == NotChecked {
		answer = "key rejected"
	}
	if f.Inferred {
		answer += " (inferred)"
	}
	return fmt.Sprintf("%s %s: %s: %s -> %s: %s", strings.Join(e.Roles, ","), e.Key, f.Scope, f.Request, f.Reason, answer)
}

// Progress is the progress line of a run elapsed into it at this event: the roles and probes done,
// and about how long is left, never less than Klaviyo's rate limits allow.
func (e Event) Progress(elapsed time.Duration) string {
	left := e.Estimate - elapsed
	if e.Done > 0 {
		left = max(left, time.Duration(float64(elapsed)/float64(e.Done)*float64(e.Total-e.Done)))
	}
	eta := ""
	if e.Done < e.Total {
		eta = fmt.Sprintf(", about %s left", max(left, 0).Round(time.Second))
	}
	return fmt.Sprintf("validating: %d/%d roles, %d/%d probes%s", e.RolesDone, e.RolesTotal, e.Done, e.Total, eta)
}

// unusedKey reports whether k is a key no role uses that is worth telling about: the inventory's
// own credential is used, by the run itself.
func unusedKey(k KeyView) bool { return k.Unused && !k.InventoryCredential }

// Notes explain what the report's table cannot: why a role failed or a scope is undetermined, what
// inferred means, the method chosen, and keys unused or too old. Roles with the same note share one,
// named first ("admin, viewer: ..."), in the order the notes were first met.
func (r *Report) Notes() []string {
	var order []string
	roles := map[string][]string{}
	note := func(role, text string) {
		if _, seen := roles[text]; !seen {
			order = append(order, text)
		}
		roles[text] = append(roles[text], role)
	}
	for _, rr := range r.Roles {
		for _, p := range rr.Problems {
			note(rr.Role, p)
		}
		for _, n := range rr.Notes {
			note(rr.Role, n)
		}
		byReason := map[string][]string{}
		for _, s := range rr.Undetermined {
			byReason[rr.Reasons[s]] = append(byReason[rr.Reasons[s]], s)
		}
		reasons := make([]string, 0, len(byReason))
		for reason := range byReason {
			reasons = append(reasons, reason)
		}
		sort.Slice(reasons, func(i, j int) bool { return byReason[reasons[i]][0] < byReason[reasons[j]][0] })
		for _, reason := range reasons {
			note(rr.Role, Brief(byReason[reason])+" undetermined: "+reason)
		}
		if len(rr.NotChecked) > 0 && !r.Strict {
			note(rr.Role, "not checked: "+Brief(rr.NotChecked)+": no operation of Klaviyo's uses them, so no probe can tell; the inventory (--inventory-role ROLE) checks them")
		}
		if rr.WritesInferred {
			note(rr.Role, "write scopes granted by a 400 or 404 are inferred: whether Klaviyo checks scopes before a write's body is not calibrated for this API; run klrbac keys validate --calibrate --full-role ROLE --read-only-role ROLE")
		}
	}
	out := make([]string, 0, len(order)+2)
	for _, text := range order {
		out = append(out, strings.Join(roles[text], ", ")+": "+text)
	}
	if r.MethodReason != "" {
		out = append(out, fmt.Sprintf("method %s: %s", r.Method, r.MethodReason))
	}
	for _, k := range r.Keys {
		switch {
		case unusedKey(k):
			out = append(out, fmt.Sprintf("key %s (%s) is used by no role of the policy: remove it in Klaviyo if nothing else needs it", k.Name, k.Key))
		case k.TooOld:
			out = append(out, fmt.Sprintf("key %s (%s) is older than --max-key-age %s (created %s)", k.Name, k.Key, r.MaxKeyAge, k.Created))
		}
	}
	if r.Calibration.State == Refuted && r.Method == ByProbe {
		out = append(out, "calibration found that Klaviyo validates a write's body before its scopes, so write probes cannot prove a scope: use --inventory-role ROLE for exact answers")
	}
	return out
}

// Annotation is one finding or notice of the report for a CI log: its level (error, warning or
// notice), what it is about (a role, "keys" or "run") and its message.
type Annotation struct {
	Level, Subject, Message string
}

// Annotations are the report as CI annotations: an error per finding (a warning for excess that is
// allowed), a notice per valid role, per role with scopes no probe can check, and per unused key.
func (r *Report) Annotations() []Annotation {
	var out []Annotation
	emit := func(level, subject, msg string) { out = append(out, Annotation{level, subject, msg}) }
	for _, w := range r.Warnings {
		emit("warning", "run", w)
	}
	for _, k := range r.Keys {
		if unusedKey(k) {
			emit("notice", "keys", fmt.Sprintf("key %s (%s) is used by no role of the policy", k.Name, k.Key))
		}
	}
	for _, rr := range r.Roles {
		key := rr.Key
		if key == "" {
			key = "-"
		}
		who := fmt.Sprintf("role %s's key (%s, %s)", rr.Role, key, rr.KeySource)
		inferred := func(s string) string {
			if slices.Contains(rr.Inferred, s) {
				return " (inferred: Klaviyo's check order is not calibrated)"
			}
			return ""
		}
		for _, p := range rr.Problems {
			emit("error", rr.Role, who+": "+p)
		}
		for _, s := range rr.Missing {
			emit("error", rr.Role, fmt.Sprintf("%s lacks %s, which the role needs%s", who, s, inferred(s)))
		}
		level := "error"
		if r.AllowExcess {
			level = "warning"
		}
		for _, s := range rr.Excess {
			emit(level, rr.Role, fmt.Sprintf("%s holds %s, which the role does not need%s", who, s, inferred(s)))
		}
		if rr.Verdict == VerdictUndetermined {
			for _, s := range rr.Undetermined {
				emit("error", rr.Role, fmt.Sprintf("%s: %s could not be determined: %s", who, s, rr.Reasons[s]))
			}
		}
		if len(rr.NotChecked) > 0 && !r.Strict {
			emit("notice", rr.Role, fmt.Sprintf("%s: not checked: %s (no operation of Klaviyo's uses them; the inventory (--inventory-role ROLE) checks them)", who, strings.Join(rr.NotChecked, ", ")))
		}
		if rr.Verdict == VerdictValid {
			emit("notice", rr.Role, fmt.Sprintf("%s holds every scope the role needs (%d, by %s)", who, len(rr.Required), rr.Method))
		}
	}
	return out
}
