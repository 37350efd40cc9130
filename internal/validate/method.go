package validate

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
)

// Validate validates each target's key by the method opts.Method asks for:
//   - ByProbe probes every key;
//   - ByInventory reads the account's key inventory with the first credential Klaviyo lets list
//     it (opts.Inventory, then the keys of the roles that may hold credentials:read), and fails
//     when none can; what the listing cannot settle (a key of another account, two keys ending
//     alike) is undetermined;
//   - ByAuto (the default) does the same when some credential can list the keys, probes only what
//     the listing cannot settle, and probes everything when no credential can list them.
//
// On a real account the inventory is one call (one a page, plus one to learn the account when a
// key names its own) where probing every scope of five keys takes over a minute of paced calls.
//
// The error is for the run as a whole, as Probe's and Inventory's are.
func Validate(ctx context.Context, targets []Target, opts Options) (*Report, error) {
	ctx, cancel := opts.withTimeout(ctx)
	defer cancel()
	method := opts.Method
	if method == "" {
		method = ByAuto
	}
	switch method {
	case ByProbe:
		rep, err := probe(ctx, targets, opts)
		if err != nil {
			return nil, err
		}
		for i := range rep.Roles {
			applyAge(&rep.Roles[i], nil, opts)
		}
		rep.summarise(rep.Summary.Requests)
		return rep, nil
	case ByInventory, ByAuto:
	default:
		return nil, fault.Usagef("unknown method %q", method).Hint("use auto (the default), inventory or probe")
	}
	sources := append(append([]InventorySource(nil), opts.Inventory...), roleSources(targets)...)
	if len(sources) == 0 {
		if method == ByInventory {
			return nil, fault.Usagef("--method inventory needs a credential that can list the account's keys, and none is configured").
				Hint("name one with --inventory-role ROLE (a key holding credentials:read) or --inventory-oauth APP",
					"or leave the method to auto, which probes when no credential can list the keys")
		}
		return probeAll(ctx, targets, opts, "no configured credential can list the account's keys: none was named, and no role has full access or needs credentials:read")
	}
	return runInventory(ctx, targets, sources, opts, method == ByAuto)
}

// roleSources are the targets' keys that may list the account's keys: those of full-access roles,
// and of roles that need credentials:read, full access first, each key once.
func roleSources(targets []Target) []InventorySource {
	var full, reading []InventorySource
	seen := map[string]bool{}
	for _, t := range targets {
		needs := false
		for _, s := range t.Required {
			needs = needs || s == "credentials:read"
		}
		if t.Err != nil || t.Key.IsZero() || seen[t.Key.Fingerprint()] || !(t.FullAccess || needs) {
			continue
		}
		seen[t.Key.Fingerprint()] = true
		key := t.Key
		src := InventorySource{Name: "role " + t.Role, AccountID: t.AccountID,
			Credential: func(context.Context) (klaviyo.Credential, error) { return key, nil }}
		if t.FullAccess {
			full = append(full, src)
		} else {
			reading = append(reading, src)
		}
	}
	return append(full, reading...)
}

// probeAll probes every target, for the reason given (auto found no inventory).
func probeAll(ctx context.Context, targets []Target, opts Options, reason string) (*Report, error) {
	rep, err := probe(ctx, targets, opts)
	if err != nil {
		return nil, err
	}
	rep.MethodReason = "auto: " + reason
	for i := range rep.Roles {
		applyAge(&rep.Roles[i], nil, opts)
	}
	rep.summarise(rep.Summary.Requests)
	return rep, nil
}

// runInventory lists the account's keys with the first source that can, and judges each target
// by it. With probing (auto), the targets the listing cannot settle are probed, and when no source
// can list the keys every target is.
func runInventory(ctx context.Context, targets []Target, sources []InventorySource, opts Options, probing bool) (*Report, error) {
	l, refused, lastRefusal, calls, err := list(ctx, sources, targets, opts)
	if err != nil {
		return nil, &RunError{Err: err, Requests: calls}
	}
	if l == nil {
		why := "no credential could list the account's keys: " + strings.Join(refused, "; ")
		if !probing && len(refused) == 1 && lastRefusal != nil {
			// The one credential named: its own error says what it lacks.
			return nil, &RunError{Err: lastRefusal, Requests: calls}
		}
		if !probing {
			return nil, &RunError{Err: fault.Unavailablef("%s", why).
				Hint("the inventory credential needs the credentials:read scope; or probe each scope instead (--method probe)"), Requests: calls}
		}
		rep, err := probeAll(ctx, targets, opts, why)
		if err != nil {
			if re, ok := err.(*RunError); ok {
				re.Requests += calls
			}
			return nil, err
		}
		rep.Summary.Requests += calls
		return rep, nil
	}

	places := make([]placement, len(targets))
	var toProbe []Target
	var probedAt []int
	for i, t := range targets {
		places[i] = place(t, l, opts, probing)
		if p := places[i]; !p.judged {
			pt := t
			pt.only = p.only
			toProbe = append(toProbe, pt)
			probedAt = append(probedAt, i)
		}
	}
	requests := calls
	if len(toProbe) > 0 {
		// One run for all of them: keys probed in full, and keys probed only to tell apart the
		// listed keys they might be, whose verdict is then the listing's.
		prep, err := probe(ctx, toProbe, opts)
		if err != nil {
			// The listing went out: the run's record counts it, however the probing ended.
			if re, ok := err.(*RunError); ok {
				re.Requests += calls
				return nil, re
			}
			return nil, &RunError{Err: err, Requests: calls}
		}
		requests += prep.Summary.Requests
		for j, i := range probedAt {
			places[i] = resolveProbed(targets[i], places[i], prep.Roles[j], opts)
		}
	}

	rep := newReport(ByInventory, targets, opts)
	rep.Inventory, rep.InventoryAccount = l.src.Name, l.account
	if len(refused) > 0 {
		rep.MethodReason = "listed with " + l.src.Name + " after " + strings.Join(refused, "; ")
	}
	for i, p := range places {
		rep.Roles[i] = p.rr
	}
	rep.Keys = keyViews(l, places, targets, opts)
	rep.summarise(requests)
	return rep, nil
}

// resolveProbed turns the probe of a target the listing could not settle into its report: the
// probe's own verdict for a key probed in full; for an ambiguous match, the listed key the probe
// showed it to be, judged by the listing.
func resolveProbed(t Target, p placement, pr RoleReport, opts Options) placement {
	if p.probe {
		applyAge(&pr, nil, opts)
		pr.Notes = append(pr.Notes, "probed: "+p.why)
		p.rr, p.judged = pr, true
		return p
	}
	mask := t.Key.Mask()
	if pr.Verdict == VerdictRejected || pr.Verdict == VerdictError {
		pr.Notes = append(pr.Notes, "probed to tell apart "+ambiguity(p.cands, mask))
		p.rr, p.judged = pr, true
		return p
	}
	left := settle(p.cands, pr)
	if len(left) == 1 {
		k := left[0]
		p.rr, p.judged, p.key, p.exact = judgeKey(t, k, opts), true, &k, true
		p.rr.Notes = append(p.rr.Notes, fmt.Sprintf("%s; probing %s showed it is %q", ambiguity(p.cands, mask), describe(p.only), k.Name))
		return p
	}
	rr := newRoleReport(t, ByInventory)
	rr.Verdict = VerdictUndetermined
	what := "could not tell which"
	if len(left) == 0 {
		what = "fits none of them"
	}
	rr.Problems = append(rr.Problems, fmt.Sprintf("ambiguous: %s, and probing %s %s", ambiguity(p.cands, mask), describe(p.only), what))
	p.rr, p.judged = rr, true
	return p
}

// RevisionWarning says, for a configured revision the catalog does not know, that klrbac's probes
// and reading of answers were made for another one; "" for the catalog's own revision. Klaviyo's
// own refusal of a revision ends a run (exit 2); this only warns.
func RevisionWarning(revision string) string {
	if revision == "" || catalog.KnownRevision(revision) {
		return ""
	}
	return fmt.Sprintf("klaviyo.revision %s is not the revision klrbac's catalog was built from (%s): its operations, scopes and probes may differ in %s",
		revision, catalog.SpecRevision, revision)
}

// ParseAge reads a maximum key age: days (180d), weeks (26w), or a Go duration (4320h).
func ParseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v <= 0 {
				break
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fault.Usagef("invalid key age %q", s).Hint("give a positive age in days, weeks or hours: 180d, 26w, 4320h")
	}
	return d, nil
}

// FormatAge writes an age as ParseAge reads it: whole days as 180d, anything else as a duration;
// "" for none.
func FormatAge(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}
