package cmd

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/klrbac/klrbac/internal/validate"
)

func probeLine(e validate.Event) string {
	f := e.Finding
	answer := f.Answer.String()
	if f.Answer == validate.NotChecked {
		answer = "key rejected"
	}
	if f.Inferred {
		answer += " (inferred)"
	}
	return fmt.Sprintf("%s %s: %s: %s -> %s: %s", strings.Join(e.Roles, ","), e.Key, f.Scope, f.Request, f.Reason, answer)
}

func progressLine(e validate.Event, elapsed time.Duration) string {
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

// renderValidation prints the report in format f: a table with notes on stderr, JSON or YAML, or
// GitHub annotations.
func renderValidation(io *ui.IO, rep *validate.Report, f ui.Format) error {
	switch f {
	case ui.JSON, ui.YAML:
		return io.Encode(f, rep)
	case githubFormat:
		return writeAnnotations(io, rep)
	}
	rows := make([][]string, len(rep.Roles))
	for i, rr := range rep.Roles {
		inferred := func(scopes []string) []string {
			out := make([]string, len(scopes))
			for j, s := range scopes {
				out[j] = s
				if slices.Contains(rr.Inferred, s) {
					out[j] += " (inferred)"
				}
			}
			return out
		}
		rows[i] = []string{rr.Role, rr.KeySource, string(rr.Method), paintVerdict(io, rr.Verdict),
			brief(inferred(rr.Missing)), brief(inferred(rr.Excess)), brief(rr.Undetermined)}
	}
	if err := io.Table([]string{"ROLE", "KEY SOURCE", "METHOD", "VERDICT", "MISSING", "EXCESS", "UNDETERMINED"}, rows); err != nil {
		return err
	}
	validationNotes(io.Err, rep)
	return nil
}

// brief lists a few scopes: a table cell holding thirty is unreadable; -o json lists them all.
func brief(scopes []string) string {
	const shown = 4
	if len(scopes) > shown+1 {
		return strings.Join(scopes[:shown], ", ") + fmt.Sprintf(" and %d more", len(scopes)-shown)
	}
	return dash(scopes)
}

func paintVerdict(io *ui.IO, v validate.Verdict) string {
	switch v {
	case validate.VerdictValid:
		return io.Green(string(v))
	case validate.VerdictUndetermined:
		return io.Yellow(string(v))
	}
	return io.Red(string(v))
}

// validationNotes explains, on stderr, what the table cannot: why a role failed or a scope is
// undetermined, and what inferred means. Roles with the same note share one line.
func validationNotes(w io.Writer, rep *validate.Report) {
	var order []string
	roles := map[string][]string{}
	note := func(role, text string) {
		if _, seen := roles[text]; !seen {
			order = append(order, text)
		}
		roles[text] = append(roles[text], role)
	}
	for _, rr := range rep.Roles {
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
		for r := range byReason {
			reasons = append(reasons, r)
		}
		sort.Slice(reasons, func(i, j int) bool { return byReason[reasons[i]][0] < byReason[reasons[j]][0] })
		for _, r := range reasons {
			note(rr.Role, brief(byReason[r])+" undetermined: "+r)
		}
		if len(rr.NotChecked) > 0 && !rep.Strict {
			note(rr.Role, "not checked: "+brief(rr.NotChecked)+": no operation of Klaviyo's uses them, so no probe can tell; the inventory (--inventory-role ROLE) checks them")
		}
		if rr.WritesInferred {
			note(rr.Role, "write scopes granted by a 400 or 404 are inferred: whether Klaviyo checks scopes before a write's body is not calibrated for this API; run klrbac keys validate --calibrate --full-role ROLE --read-only-role ROLE")
		}
	}
	for _, text := range order {
		fmt.Fprintf(w, "note: %s: %s\n", strings.Join(roles[text], ", "), text)
	}
	if rep.MethodReason != "" {
		fmt.Fprintf(w, "note: method %s: %s\n", rep.Method, rep.MethodReason)
	}
	for _, k := range rep.Keys {
		switch {
		case k.Unused && !k.InventoryCredential:
			fmt.Fprintf(w, "note: key %s (%s) is used by no role of the policy: remove it in Klaviyo if nothing else needs it\n", k.Name, k.Key)
		case k.TooOld:
			fmt.Fprintf(w, "note: key %s (%s) is older than --max-key-age %s (created %s)\n", k.Name, k.Key, rep.MaxKeyAge, k.Created)
		}
	}
	if rep.Calibration.State == validate.Refuted && rep.Method == validate.ByProbe {
		fmt.Fprintln(w, "note: calibration found that Klaviyo validates a write's body before its scopes, so write probes cannot prove a scope: use --inventory-role ROLE for exact answers")
	}
}

// writeAnnotations prints GitHub Actions workflow commands: an error per finding (a warning for
// excess without --strict) and a notice per valid role.
func writeAnnotations(io *ui.IO, rep *validate.Report) error {
	var b strings.Builder
	emit := func(level, role, msg string) {
		b.WriteString("::" + level + " title=" + escapeProperty("klrbac keys validate: "+role) + "::" + escapeData(msg) + "\n")
	}
	for _, w := range rep.Warnings {
		emit("warning", "run", w)
	}
	for _, k := range rep.Keys {
		if k.Unused && !k.InventoryCredential {
			emit("notice", "keys", fmt.Sprintf("key %s (%s) is used by no role of the policy", k.Name, k.Key))
		}
	}
	for _, rr := range rep.Roles {
		who := fmt.Sprintf("role %s's key (%s, %s)", rr.Role, orDash(rr.Key), rr.KeySource)
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
		if rep.AllowExcess {
			level = "warning"
		}
		for _, s := range rr.Excess {
			emit(level, rr.Role, fmt.Sprintf("%s holds %s, which the role does not need%s", who, s, inferred(s)))
		}
		if rr.Verdict == validate.VerdictUndetermined {
			for _, s := range rr.Undetermined {
				emit("error", rr.Role, fmt.Sprintf("%s: %s could not be determined: %s", who, s, rr.Reasons[s]))
			}
		}
		if len(rr.NotChecked) > 0 && !rep.Strict {
			emit("notice", rr.Role, fmt.Sprintf("%s: not checked: %s (no operation of Klaviyo's uses them; the inventory (--inventory-role ROLE) checks them)", who, strings.Join(rr.NotChecked, ", ")))
		}
		if rr.Verdict == validate.VerdictValid {
			emit("notice", rr.Role, fmt.Sprintf("%s holds every scope the role needs (%d, by %s)", who, len(rr.Required), rr.Method))
		}
	}
	_, err := fmt.Fprint(io.Out, b.String())
	return err
}

// annotateFailure prints, for -o github, the error that ended a run as a whole (the guard tripped,
// the keys could not be listed, no audit record) as one ::error annotation, besides the usual
// message on stderr: a CI log shows annotations first, and a run that failed as a whole has no
// per-role annotation to show. Findings already annotated (a silent error) and interruptions are
// not repeated.
func annotateFailure(io *ui.IO, err error) {
	if err == nil || fault.IsSilent(err) || exitCode(err) == exitInterrupted {
		return
	}
	lines := []string{err.Error()}
	for _, h := range fault.Hints(err) {
		lines = append(lines, "hint: "+h)
	}
	msg := mask.InText(strings.Join(lines, "\n"))
	fmt.Fprintf(io.Out, "::error title=%s::%s\n", escapeProperty("klrbac keys validate"), escapeData(msg))
}

// escapeData and escapeProperty follow the escaping of GitHub Actions workflow commands: a
// message may not hold %, CR or LF as such, and a property value not : or , either.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
