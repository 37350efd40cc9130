// Package validate proves that each role's Klaviyo key holds exactly the scopes its role needs.
//
// Klaviyo has no endpoint that tells a key its own scopes, so they are learnt one of two ways:
//   - inventory (exact): a credential holding credentials:read lists the account's keys with the
//     beta GET /api/api-keys, and each role's key is found by its redacted suffix;
//   - probe: one request per scope, built so that Klaviyo's answer says whether the key holds the
//     scope without reading customer data or changing anything. 2xx, 400 and 404 mean granted, a
//     JSON:API 403 permission_denied means not granted, 401 means the key is rejected, and anything
//     else (an edge block, a 5xx, retries exhausted) leaves the scope undetermined, never missing.
//
// Whether a write probe's 400 or 404 proves the scope rests on Klaviyo checking scopes before it
// validates a body, which Klaviyo does not document: until Calibrate has confirmed it with a
// full-access and a read-only key, write results are marked inferred.
package validate

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
)

// Caller sends a request to Klaviyo: *klaviyo.Client is one.
type Caller interface {
	Do(ctx context.Context, req klaviyo.Request) (*klaviyo.Response, error)
}

// Method is how a key's scopes were learnt.
type Method string

const (
	ByProbe     Method = "probe"
	ByInventory Method = "inventory"
	// ByAuto reads the account's key inventory when a configured credential can, and probes
	// otherwise (and probes the keys the inventory cannot settle).
	ByAuto Method = "auto"
)

// ParseMethod reads --method: auto, inventory or probe ("" is auto).
func ParseMethod(s string) (Method, error) {
	switch m := Method(strings.ToLower(strings.TrimSpace(s))); m {
	case "", ByAuto:
		return ByAuto, nil
	case ByInventory, ByProbe:
		return m, nil
	}
	return "", fault.Usagef("unknown method %q", s).Hint("use auto (the default), inventory or probe")
}

// Verdict is the outcome for one role.
type Verdict string

const (
	// VerdictValid: every required scope is granted, and (with strict) nothing more.
	VerdictValid Verdict = "valid"
	// VerdictInvalid: a finding: a scope missing, an excess scope with strict, or (inventory) the key
	// disabled or not found unambiguously in the account's keys.
	VerdictInvalid Verdict = "invalid"
	// VerdictUndetermined: no finding, but a scope that decides the verdict could not be determined.
	VerdictUndetermined Verdict = "undetermined"
	// VerdictRejected: Klaviyo refused the key itself (401).
	VerdictRejected Verdict = "rejected"
	// VerdictError: the role's key could not be had (none stored, keyring unavailable).
	VerdictError Verdict = "error"
)

// Answer is what was learnt about one scope of one key.
type Answer int

const (
	NotChecked Answer = iota
	Granted
	Denied
	Undetermined
)

func (a Answer) String() string {
	switch a {
	case Granted:
		return "granted"
	case Denied:
		return "not granted"
	case Undetermined:
		return "undetermined"
	}
	return "not checked"
}

// Finding is what one probe (or the inventory) said about one scope.
type Finding struct {
	Scope  string
	Answer Answer
	// Inferred marks a write granted by a 400 or 404, which proves the scope only if Klaviyo checks
	// scopes before the body, as long as calibration has not confirmed it. A 403 or 2xx is proof.
	Inferred bool
	// Reason says why a scope is undetermined, or what a probe saw.
	Reason string
	// Inert marks an undetermined scope that would open no operation even if the key held it: every
	// operation needing it also needs a companion scope the key lacks. It cannot be an excess that
	// matters, so strict does not wait on it.
	Inert bool
	// Request is the probe sent ("PATCH /api/lists/..."), Status its final HTTP status (0 when
	// there was none).
	Request string
	Status  int
}

// Target is one role to validate, with its key.
type Target struct {
	Role       string
	Required   []string
	FullAccess bool
	// KeySource says where the key came from: "env KLAVIYO_KEY_VIEWER", "keyring", "stdin".
	KeySource string
	Key       klaviyo.Credential
	// AccountID is the account a key in the newer format names, else "".
	AccountID string
	// Err says why the role's key could not be had; the role is then reported, not validated.
	Err error

	// only, when set, is all that is probed of the key (and the companions): the scopes that tell
	// apart the listed keys it might be.
	only []string
}

// RoleReport is the outcome for one role: its JSON and YAML shape is documented in docs/validation.md and
// is stable (fields may be added, never renamed or removed).
type RoleReport struct {
	Role           string  `json:"role" yaml:"role"`
	KeySource      string  `json:"key_source" yaml:"key_source"`
	Key            string  `json:"key" yaml:"key"`
	KeyFingerprint string  `json:"key_fingerprint" yaml:"key_fingerprint"`
	AccountID      string  `json:"account_id" yaml:"account_id"`
	Method         Method  `json:"method" yaml:"method"`
	FullAccess     bool    `json:"full_access" yaml:"full_access"`
	Verdict        Verdict `json:"verdict" yaml:"verdict"`
	// Required is what the role needs; Checked what was looked at (the probed scopes, or every
	// scope the inventory lists); Granted, Missing, Excess and Undetermined partition what was found.
	Required     []string `json:"required" yaml:"required"`
	Checked      []string `json:"checked" yaml:"checked"`
	Granted      []string `json:"granted" yaml:"granted"`
	Missing      []string `json:"missing" yaml:"missing"`
	Excess       []string `json:"excess" yaml:"excess"`
	Undetermined []string `json:"undetermined" yaml:"undetermined"`
	// NotChecked lists the scopes the key might hold that the method could not look at: by probe,
	// those no operation of Klaviyo's uses (accounts:write, users:read, ...). They fail the run only
	// with --strict, which asks for proof that the key holds nothing more.
	NotChecked []string `json:"not_checked" yaml:"not_checked"`
	// Reasons says, for each undetermined scope, why.
	Reasons map[string]string `json:"reasons" yaml:"reasons"`
	// WritesInferred is true when a write scope is granted on the strength of the check order
	// Klaviyo has not been calibrated for (a 400 or 404 to its probe); Inferred lists those scopes.
	WritesInferred bool     `json:"writes_inferred" yaml:"writes_inferred"`
	Inferred       []string `json:"inferred" yaml:"inferred"`
	// KeyStatus is the key's status in the inventory (active, disabled); "" when probed.
	KeyStatus string `json:"key_status" yaml:"key_status"`
	// Problems says what else is wrong: the key rejected, disabled, not found, unreadable, older
	// than the maximum age.
	Problems []string `json:"problems" yaml:"problems"`
	// KeyName is the key's name in Klaviyo, as the inventory lists it ("" when probed); KeyCreated
	// when it was made (RFC 3339, "" when not known) and KeyAgeDays its age in whole days (null
	// when not known): only the inventory shows them.
	KeyName    string `json:"key_name" yaml:"key_name"`
	KeyCreated string `json:"key_created" yaml:"key_created"`
	KeyAgeDays *int   `json:"key_age_days" yaml:"key_age_days"`
	// Notes are remarks that change no verdict: how an ambiguous match was settled, why the key was
	// probed rather than found in the inventory.
	Notes []string `json:"notes" yaml:"notes"`
}

// KeyView is one private key of the account, as the inventory listed it: for the report's section
// on the account's keys, which never fails a run by itself.
type KeyView struct {
	Name string `json:"name" yaml:"name"`
	// Key is Klaviyo's redacted form of the key (pk_**** and its last four characters).
	Key     string   `json:"key" yaml:"key"`
	Status  string   `json:"status" yaml:"status"`
	Scopes  []string `json:"scopes" yaml:"scopes"`
	Created string   `json:"created" yaml:"created"`
	AgeDays *int     `json:"age_days" yaml:"age_days"`
	// Roles are the roles of this run whose key it is.
	Roles []string `json:"roles" yaml:"roles"`
	// Unused is true when the run covered every role of the policy (--all) and none holds the key.
	Unused bool `json:"unused" yaml:"unused"`
	// TooOld is true when the key is older than the maximum age (--max-key-age).
	TooOld bool `json:"too_old" yaml:"too_old"`
	// InventoryCredential is true for the key that listed the keys: unused by any role, maybe,
	// but not idle.
	InventoryCredential bool `json:"inventory_credential" yaml:"inventory_credential"`
}

// Summary counts the verdicts of a run.
type Summary struct {
	Roles        int `json:"roles" yaml:"roles"`
	Valid        int `json:"valid" yaml:"valid"`
	Invalid      int `json:"invalid" yaml:"invalid"`
	Undetermined int `json:"undetermined" yaml:"undetermined"`
	Rejected     int `json:"rejected" yaml:"rejected"`
	Errors       int `json:"errors" yaml:"errors"`
	// Requests is how many calls were made to Klaviyo (retries not counted).
	Requests int `json:"requests" yaml:"requests"`
	// Result is "valid" (every role valid), "invalid" (a finding) or "incomplete" (no finding, but
	// something could not be evaluated).
	Result string `json:"result" yaml:"result"`
}

// CalibrationView is the calibration a report's write results rest on.
type CalibrationView struct {
	State        CalibrationState `json:"state" yaml:"state"`
	CalibratedAt string           `json:"calibrated_at" yaml:"calibrated_at"`
}

// Report is the outcome of a run.
type Report struct {
	// Method is how the run learnt scopes: inventory when it read the account's key listing (some
	// roles may still have been probed: each role says), probe otherwise. MethodRequested is what
	// was asked for (auto, inventory, probe), and MethodReason why auto chose as it did.
	Method          Method `json:"method" yaml:"method"`
	MethodRequested Method `json:"method_requested" yaml:"method_requested"`
	MethodReason    string `json:"method_reason" yaml:"method_reason"`
	APIURL          string `json:"api_url" yaml:"api_url"`
	Revision        string `json:"revision" yaml:"revision"`
	Strict          bool   `json:"strict" yaml:"strict"`
	RequiredOnly    bool   `json:"required_only" yaml:"required_only"`
	// AllowExcess reports excess scopes without failing (--allow-excess).
	AllowExcess bool `json:"allow_excess" yaml:"allow_excess"`
	// Inventory names the credential that listed the keys ("role admin"), for the inventory method.
	Inventory string `json:"inventory,omitempty" yaml:"inventory,omitempty"`
	// InventoryAccount is the account whose keys the inventory listed, when known.
	InventoryAccount string          `json:"inventory_account" yaml:"inventory_account"`
	Calibration      CalibrationView `json:"calibration" yaml:"calibration"`
	// MaxKeyAge is --max-key-age ("180d"), "" when not set.
	MaxKeyAge string       `json:"max_key_age" yaml:"max_key_age"`
	Roles     []RoleReport `json:"roles" yaml:"roles"`
	// Keys are the account's keys as the inventory listed them, with their ages and the roles that
	// use them; [] when probed.
	Keys []KeyView `json:"keys" yaml:"keys"`
	// Warnings are about the run as a whole (a revision the catalog does not know).
	Warnings []string `json:"warnings" yaml:"warnings"`
	Summary  Summary  `json:"summary" yaml:"summary"`
}

// Results of a run, as Summary.Result says them.
const (
	ResultValid      = "valid"
	ResultInvalid    = "invalid"
	ResultIncomplete = "incomplete"
)

// summarise counts the verdicts. A finding outranks what could not be evaluated: re-running will
// not fix a missing scope, and the report names both.
func (r *Report) summarise(requests int) {
	s := Summary{Roles: len(r.Roles), Requests: requests}
	for _, rr := range r.Roles {
		switch rr.Verdict {
		case VerdictValid:
			s.Valid++
		case VerdictInvalid:
			s.Invalid++
		case VerdictUndetermined:
			s.Undetermined++
		case VerdictRejected:
			s.Rejected++
		default:
			s.Errors++
		}
	}
	switch {
	case s.Invalid > 0:
		s.Result = ResultInvalid
	case s.Valid < s.Roles:
		s.Result = ResultIncomplete
	default:
		s.Result = ResultValid
	}
	r.Summary = s
}

// newRoleReport starts a role's report from its target.
func newRoleReport(t Target, m Method) RoleReport {
	return RoleReport{
		Role: t.Role, KeySource: t.KeySource, Key: t.Key.Mask(), KeyFingerprint: t.Key.Fingerprint(),
		AccountID: t.AccountID, Method: m, FullAccess: t.FullAccess,
		Required: nonNil(sortedUnique(t.Required)), Checked: []string{}, Granted: []string{}, Missing: []string{},
		Excess: []string{}, Undetermined: []string{}, NotChecked: []string{}, Reasons: map[string]string{}, Inferred: []string{},
		Problems: []string{}, Notes: []string{},
	}
}

// newReport starts a run's report with what the options say.
func newReport(m Method, targets []Target, opts Options) *Report {
	requested := opts.Method
	if requested == "" {
		requested = ByAuto
	}
	rep := &Report{Method: m, MethodRequested: requested, APIURL: opts.APIURL, Revision: opts.Revision, Strict: opts.Strict,
		RequiredOnly: opts.RequiredOnly, AllowExcess: opts.AllowExcess, Calibration: opts.Calibration.View(),
		MaxKeyAge: FormatAge(opts.MaxKeyAge), Roles: make([]RoleReport, len(targets)), Keys: []KeyView{}, Warnings: []string{}}
	if w := RevisionWarning(opts.Revision); w != "" {
		rep.Warnings = append(rep.Warnings, w)
	}
	return rep
}

// unevaluated reports a role whose key could not be had.
func unevaluated(t Target, m Method) RoleReport {
	rr := newRoleReport(t, m)
	if rr.KeySource == "" {
		rr.KeySource = "none"
	}
	rr.Verdict = VerdictError
	rr.Problems = append(rr.Problems, t.Err.Error())
	return rr
}

// rules are how a run judges what it found.
type rules struct {
	// Strict asks for proof that a key holds nothing more than its role needs: an undetermined or
	// not-checked scope then decides the verdict.
	Strict bool
	// AllowExcess reports excess scopes without making them a finding.
	AllowExcess bool
	// NotChecked are the scopes the method could not look at (see RoleReport.NotChecked).
	NotChecked []string
}

func (o Options) rules() rules { return rules{Strict: o.Strict, AllowExcess: o.AllowExcess} }

// judge compares what was found about a key with what its role needs. findings holds an entry for
// each scope looked at; scopes not looked at are neither granted nor missing. An excess scope is a
// finding (the key must hold exactly what its role needs) unless the role has full access or excess
// is allowed.
func judge(rr *RoleReport, t Target, findings map[string]Finding, how rules) {
	strict := how.Strict
	required := sortedUnique(t.Required)
	for _, f := range findings {
		rr.Checked = append(rr.Checked, f.Scope)
		switch f.Answer {
		case Granted:
			rr.Granted = append(rr.Granted, f.Scope)
		case Undetermined:
			rr.Undetermined = append(rr.Undetermined, f.Scope)
			rr.Reasons[f.Scope] = f.Reason
		}
		if f.Inferred && f.Answer != Undetermined {
			rr.Inferred = append(rr.Inferred, f.Scope)
		}
		if f.Answer == Denied && slices.Contains(required, f.Scope) {
			rr.Missing = append(rr.Missing, f.Scope)
		}
	}
	for _, s := range required {
		if _, looked := findings[s]; !looked {
			rr.Undetermined = append(rr.Undetermined, s)
			rr.Reasons[s] = "no operation of Klaviyo's API needs this scope alone, so no probe can tell; the inventory can (--inventory-role ROLE)"
		}
	}
	if !t.FullAccess {
		for _, s := range rr.Granted {
			if !slices.Contains(required, s) {
				rr.Excess = append(rr.Excess, s)
			}
		}
	}
	if !t.FullAccess {
		for _, s := range how.NotChecked {
			if _, looked := findings[s]; !looked && !slices.Contains(required, s) {
				rr.NotChecked = append(rr.NotChecked, s)
			}
		}
	}
	for _, l := range []*[]string{&rr.Checked, &rr.Granted, &rr.Missing, &rr.Excess, &rr.Undetermined, &rr.Inferred, &rr.NotChecked} {
		sort.Strings(*l)
	}
	rr.WritesInferred = len(rr.Inferred) > 0
	decisive := false
	for _, s := range rr.Undetermined {
		if slices.Contains(required, s) || (strict && !t.FullAccess && !findings[s].Inert) {
			decisive = true
		}
	}
	unproven := strict && len(rr.NotChecked) > 0
	if unproven {
		rr.Problems = append(rr.Problems, fmt.Sprintf("--strict asks for proof that the key holds nothing more, and probing cannot tell %s: no operation of Klaviyo's uses %s; the inventory can (--inventory-role ROLE)",
			describe(rr.NotChecked), pronoun(len(rr.NotChecked))))
	}
	switch {
	case len(rr.Missing) > 0 || (!how.AllowExcess && len(rr.Excess) > 0):
		rr.Verdict = VerdictInvalid
	case decisive || unproven:
		rr.Verdict = VerdictUndetermined
	default:
		rr.Verdict = VerdictValid
	}
}

// IsWrite reports whether scope grants write access.
func IsWrite(scope string) bool { return catalog.AccessOf(scope) == catalog.Write }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// describe lists scopes for messages: "a, b and c".
func describe(scopes []string) string {
	switch len(scopes) {
	case 0:
		return "none"
	case 1:
		return scopes[0]
	}
	return strings.Join(scopes[:len(scopes)-1], ", ") + " and " + scopes[len(scopes)-1]
}
