package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/apikey"
	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
)

// InventorySource is the credential that lists an account's keys: it must hold credentials:read.
// Today it is a role's private key (--inventory-role, or a role's key that auto finds); an OAuth
// access token fits the same seam, as Credential returns any klaviyo.Credential
// (klaviyo.BearerToken for a token) and is called only when the listing is made, so a token can be
// refreshed just in time.
type InventorySource struct {
	// Name says what the credential is, for reports and messages: "role admin".
	Name string
	// AccountID is the rate-limit quota the listing counts against: the account the credential
	// belongs to when known ("" for an older key), "oauth:<client id>" for an OAuth app, which has
	// a quota of its own per account. When it is an account id, it is also the account listed.
	AccountID string
	// Credential returns the credential to list the keys with.
	Credential func(ctx context.Context) (klaviyo.Credential, error)
	// Account is the account whose keys the credential lists, when known otherwise (an OAuth
	// token's account, from its login): it saves the call that learns it.
	Account string
	// Optional marks a credential found rather than named (an OAuth app logged in with
	// credentials:read): when it cannot be had, the next source is tried instead of ending the run.
	Optional bool
}

// APIKey is one private key of the account, as the beta GET /api/api-keys lists it.
type APIKey struct {
	ID          string
	Name        string
	Status      string // active or disabled
	Scopes      []string
	RedactedKey string // pk_**** and the last four characters
	// Created is when the key was made; zero when the listing did not say, or said it in a form
	// klrbac does not read.
	Created time.Time
}

// keyListPath is the beta listing of an account's private keys.
const keyListPath = "/api/api-keys"

// maxKeyPages bounds how many pages of keys are read: far more than any account has.
const maxKeyPages = 100

// createdLayouts are the forms of an api-key's created: RFC 3339 as the spec's example has it
// (2022-11-08T00:00:00+00:00), and the spec's description's YYYY-MM-DDTHH:MM:SS.mmmmmm without a
// zone, read as UTC.
var createdLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"}

func parseCreated(s string) time.Time {
	for _, layout := range createdLayouts {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// ParseKeyList reads one page of GET /api/api-keys: the keys, and the next page's URL ("" for the
// last page).
func ParseKeyList(body []byte) ([]APIKey, string, error) {
	var doc struct {
		Data *[]struct {
			Type       string `json:"type"`
			ID         string `json:"id"`
			Attributes struct {
				Name        string   `json:"name"`
				Status      string   `json:"status"`
				Scopes      []string `json:"scopes"`
				RedactedKey string   `json:"redacted_key"`
				Created     string   `json:"created"`
			} `json:"attributes"`
		} `json:"data"`
		Links struct {
			Next *string `json:"next"`
		} `json:"links"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, "", fmt.Errorf("the key listing is not a JSON:API document: %w", err)
	}
	if doc.Data == nil {
		return nil, "", errors.New("the key listing has no data")
	}
	keys := make([]APIKey, 0, len(*doc.Data))
	for i, d := range *doc.Data {
		if d.Type != "api-key" {
			return nil, "", fmt.Errorf("the key listing's item %d is a %q, not an api-key", i+1, d.Type)
		}
		a := d.Attributes
		keys = append(keys, APIKey{ID: d.ID, Name: a.Name, Status: a.Status, Scopes: sortedUnique(a.Scopes), RedactedKey: a.RedactedKey,
			Created: parseCreated(a.Created)})
	}
	next := ""
	if doc.Links.Next != nil {
		next = *doc.Links.Next
	}
	return keys, next, nil
}

// ListKeys lists every private key of the credential's account, following the listing's pages. It
// returns the keys and the number of calls made. The evidence rules hold here too: an answer that
// is not Klaviyo's ends the run (NotKlaviyoError), and so does Klaviyo refusing the revision
// (RevisionError, with the beta revision the listing was asked with).
func ListKeys(ctx context.Context, client Caller, apiURL, revision string, cred klaviyo.Credential, account string) ([]APIKey, int, error) {
	base, err := url.Parse(calibrationURL(apiURL))
	if err != nil {
		return nil, 0, fault.Configf("Klaviyo API URL %q: %v", apiURL, err)
	}
	var all []APIKey
	req := klaviyo.Request{Method: http.MethodGet, Path: keyListPath, Beta: true, Credential: cred, Account: account,
		Query: url.Values{"additional-fields[api-key]": {"redacted_key"}}}
	for page := 1; ; page++ {
		resp, err := client.Do(ctx, req)
		if stop := answerStops("GET "+keyListPath, resp, err, apiURL, betaRevision(revision)); stop != nil {
			return nil, page, stop
		}
		if err != nil {
			return nil, page, err
		}
		keys, next, err := ParseKeyList(resp.Body)
		if err != nil {
			return nil, page, fault.Unavailablef("GET %s: %v", keyListPath, err).
				Hint("Klaviyo answered in a way klrbac does not expect: check klaviyo.api_url and klaviyo.revision")
		}
		all = append(all, keys...)
		if next == "" {
			return all, page, nil
		}
		if page == maxKeyPages {
			return nil, page, fault.Unavailablef("GET %s: more than %d pages of keys", keyListPath, maxKeyPages)
		}
		u, err := url.Parse(next)
		if err != nil || (u.Host != "" && (u.Scheme != base.Scheme || u.Host != base.Host)) {
			// The credential goes only to the configured API.
			return nil, page, fault.Unavailablef("GET %s: refusing to follow a next page outside %s", keyListPath, base.Host)
		}
		path := strings.TrimPrefix(u.Path, base.Path)
		if op, ok := catalog.Find(http.MethodGet, path); !ok || op.Path != keyListPath {
			return nil, page, fault.Unavailablef("GET %s: refusing to follow a next page to another path", keyListPath)
		}
		req.Path, req.Query = path, u.Query()
	}
}

// answerStops applies the run-ending evidence rules to an answer outside the probes (the key
// listing, the account): an answer that is not Klaviyo's, or Klaviyo refusing the revision.
func answerStops(request string, resp *klaviyo.Response, err error, apiURL, revision string) error {
	if what := klaviyo.NotKlaviyo(resp, hostOf(apiURL)); what != "" {
		return &NotKlaviyoError{Request: request, What: what}
	}
	var ke *klaviyo.Error
	if errors.As(err, &ke) {
		if d, ok := aboutRevision(ke); ok {
			return &RevisionError{Revision: revision, Request: request, Detail: fmt.Sprintf("%s: %s", answerText(ke), d)}
		}
	}
	return nil
}

func betaRevision(revision string) string {
	if revision == "" || strings.HasSuffix(revision, ".pre") {
		return revision
	}
	return revision + ".pre"
}

// listedAccount asks Klaviyo which account a credential belongs to (GET /api/accounts, which
// needs accounts:read): the account whose keys the credential lists. "" when it cannot tell.
func listedAccount(ctx context.Context, client Caller, apiURL, revision string, cred klaviyo.Credential, quota string) (string, error) {
	resp, err := client.Do(ctx, klaviyo.Request{Method: http.MethodGet, Path: "/api/accounts", Credential: cred, Account: quota,
		Query: url.Values{"fields[account]": {"public_api_key"}}})
	if stop := answerStops("GET /api/accounts", resp, err, apiURL, revision); stop != nil {
		return "", stop
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", err
		}
		return "", nil
	}
	var doc struct {
		Data []struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"data"`
	}
	if json.Unmarshal(resp.Body, &doc) != nil || len(doc.Data) != 1 || doc.Data[0].Type != "account" || !apikey.IsPublic(doc.Data[0].ID) {
		return "", nil
	}
	return doc.Data[0].ID, nil
}

// Inventory validates each target's key against the account's key listing, read with src's
// credential: each key is found by its account and its redacted form (pk_**** and its last four
// characters), and its scopes, status and age are read. A key absent from its own account's
// listing, or disabled, is a finding; one that cannot be told apart from another key ending alike,
// or that names another account, is undetermined (Validate with ByAuto probes those).
//
// The error is for the run as a whole: the listing could not be read.
func Inventory(ctx context.Context, targets []Target, src InventorySource, opts Options) (*Report, error) {
	opts.Method = ByInventory
	ctx, cancel := opts.withTimeout(ctx)
	defer cancel()
	return runInventory(ctx, targets, []InventorySource{src}, opts, false)
}

// listing is what one credential read of an account's keys.
type listing struct {
	src     InventorySource
	cred    klaviyo.Credential
	keys    []APIKey
	account string // the account listed; "" when not known
}

// list tries the sources in order until one lists the account's keys. A source that Klaviyo
// refuses the listing (401, 403), or an optional source whose credential cannot be had, is passed
// over: refused says why, for the report, and lastRefusal is the error of the last one refused.
// Any other failure ends the run.
func list(ctx context.Context, sources []InventorySource, targets []Target, opts Options) (l *listing, refused []string, lastRefusal error, calls int, err error) {
	accounts := make([]string, 0, len(targets)+len(sources))
	needAccount := false
	for _, t := range targets {
		if t.Err == nil {
			accounts = append(accounts, t.AccountID)
			needAccount = needAccount || t.AccountID != ""
		}
	}
	for _, src := range sources {
		accounts = append(accounts, src.AccountID)
	}
	quota := QuotaAccount(accounts)
	for _, src := range sources {
		cred, err := src.Credential(ctx)
		if err != nil {
			if src.Optional && ctx.Err() == nil {
				refused = append(refused, fmt.Sprintf("%s: %v", src.Name, err))
				continue
			}
			return nil, refused, nil, calls, err
		}
		keys, n, err := ListKeys(ctx, opts.Client, opts.APIURL, opts.Revision, cred, quota(src.AccountID))
		calls += n
		if err != nil {
			if refusedListing(err) {
				refused = append(refused, fmt.Sprintf("%s: %s", src.Name, refusalText(err)))
				lastRefusal = listingFault(err, src, opts, ctx)
				continue
			}
			var nk *NotKlaviyoError
			var re *RevisionError
			if errors.As(err, &nk) || errors.As(err, &re) {
				return nil, refused, nil, calls, stopFault(err)
			}
			return nil, refused, nil, calls, listingFault(err, src, opts, ctx)
		}
		l := &listing{src: src, cred: cred, keys: keys}
		switch {
		case apikey.IsPublic(src.Account):
			l.account = src.Account
		case apikey.IsPublic(src.AccountID):
			l.account = src.AccountID
		case needAccount:
			// A key that names its account can be matched only in that account's listing: learn
			// which account this is.
			acct, err := listedAccount(ctx, opts.Client, opts.APIURL, opts.Revision, cred, quota(src.AccountID))
			calls++
			if err != nil {
				return nil, refused, nil, calls, stopFault(err)
			}
			l.account = acct
		}
		return l, refused, lastRefusal, calls, nil
	}
	return nil, refused, lastRefusal, calls, nil
}

// refusedListing reports whether Klaviyo refused the credential the listing: it lacks
// credentials:read (403), or Klaviyo rejects it (401). Another credential may do better.
func refusedListing(err error) bool {
	c := klaviyo.ClassOf(err)
	return c == klaviyo.PermissionDenied || c == klaviyo.NotAuthenticated || c == klaviyo.AuthenticationFailed
}

func refusalText(err error) string {
	var ke *klaviyo.Error
	if errors.As(err, &ke) {
		if ke.Class == klaviyo.PermissionDenied {
			return "not permitted (" + answerText(ke) + "): it lacks credentials:read"
		}
		return "rejected (" + answerText(ke) + ")"
	}
	return err.Error()
}

// listingFault says why the account's keys could not be listed.
func listingFault(err error, src InventorySource, opts Options, ctx context.Context) error {
	var denied *klaviyo.Error
	switch {
	case errors.As(err, &denied) && denied.Class == klaviyo.PermissionDenied:
		// The bare API error, without the client's general hint about missing scopes: this
		// one says which scope and what else to do.
		return fault.Wrap(fault.Unavailable, fmt.Errorf("cannot list the account's keys with %s: %w", src.Name, denied)).
			Hint("the inventory credential needs the credentials:read scope; or probe each scope instead: --method probe, without --inventory-role or --inventory-oauth")
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return timedOut(opts, 0, 1)
	case errors.Is(err, context.Canceled):
		return err
	}
	return fault.Wrap(fault.Unavailable, fmt.Errorf("cannot list the account's keys with %s: %w", src.Name, err))
}

// Match returns the listed keys whose redacted form fits key's mask.
func Match(keys []APIKey, key klaviyo.Credential) []APIKey {
	want := key.Mask()
	var out []APIKey
	for _, k := range keys {
		if redactedMatches(k.RedactedKey, want) {
			out = append(out, k)
		}
	}
	return out
}

// redactedMatches compares Klaviyo's redacted key with klrbac's mask of a key: both keep pk_ and
// the last four characters; the stars between are not counted.
func redactedMatches(redacted, mask string) bool {
	tail := func(s string) (string, bool) {
		s = strings.TrimSpace(s)
		if !strings.HasPrefix(s, "pk_") || len(s) < len("pk_")+4 {
			return "", false
		}
		return s[len(s)-4:], !strings.ContainsRune(s[len(s)-4:], '*')
	}
	a, ok1 := tail(redacted)
	b, ok2 := tail(mask)
	return ok1 && ok2 && a == b
}

// placement is where the inventory puts one target: judged from a listed key, or to be probed
// (in full, or only for the scopes that tell apart the listed keys it might be).
type placement struct {
	rr      RoleReport
	judged  bool
	key     *APIKey  // the listed key it is, once known (or, for keys alike, the oldest)
	exact   bool     // key is the one listed key it is, not one of several it might be
	probe   bool     // to be probed in full (why says why)
	why     string   // why it is probed, or why it is undetermined
	only    []string // to be probed for these scopes only, to settle which of candidates it is
	cands   []APIKey // the listed keys it might be
	settled string   // how an ambiguity was settled, for a note
}

// place finds t in the listing. With probing allowed (auto), what the listing cannot settle is
// left to a probe; without, it is undetermined, or a finding where the listing is evidence enough.
func place(t Target, l *listing, opts Options, probing bool) placement {
	if t.Err != nil {
		return placement{rr: unevaluated(t, ByInventory), judged: true}
	}
	mask := t.Key.Mask()
	unsettled := func(why string) placement {
		if probing {
			return placement{probe: true, why: why}
		}
		rr := newRoleReport(t, ByInventory)
		rr.Verdict = VerdictUndetermined
		rr.Problems = append(rr.Problems, why+"; probing can tell (--method auto or probe)")
		return placement{rr: rr, judged: true, why: why}
	}
	switch {
	case t.AccountID != "" && l.account != "" && t.AccountID != l.account:
		return unsettled(fmt.Sprintf("the key names account %s, and the inventory lists account %s's keys", t.AccountID, l.account))
	case t.AccountID != "" && l.account == "":
		return unsettled(fmt.Sprintf("the key names account %s, and which account the inventory lists could not be learnt (GET /api/accounts needs accounts:read)", t.AccountID))
	}
	matches := Match(l.keys, t.Key)
	switch {
	case len(matches) == 0 && t.AccountID == "":
		if probing {
			return placement{probe: true, why: fmt.Sprintf("no key of the listed account ends like %s: the key may be another account's", mask)}
		}
		rr := newRoleReport(t, ByInventory)
		rr.Verdict = VerdictInvalid
		rr.Problems = append(rr.Problems, fmt.Sprintf("no key of the account ends like %s: the key belongs to another account, or was deleted", mask))
		return placement{rr: rr, judged: true}
	case len(matches) == 0:
		// The key names this very account, and the account does not list it.
		rr := newRoleReport(t, ByInventory)
		rr.Verdict = VerdictInvalid
		rr.Problems = append(rr.Problems, fmt.Sprintf("no key of account %s ends like %s: the key was deleted", t.AccountID, mask))
		return placement{rr: rr, judged: true}
	case len(matches) == 1:
		return placement{rr: judgeKey(t, matches[0], opts), judged: true, key: &matches[0], exact: true}
	}
	if k, same := alike(matches); same {
		// Whichever it is, it holds the same scopes with the same status: the verdict is the same.
		// Its age is taken as the oldest's, the side that finds a key too old.
		p := placement{rr: judgeKey(t, k, opts), judged: true, key: &k, cands: matches}
		p.rr.Notes = append(p.rr.Notes, fmt.Sprintf("%s; they hold the same scopes and status, so the verdict holds for either (the age is the oldest's)", ambiguity(matches, mask)))
		return p
	}
	if !probing {
		rr := newRoleReport(t, ByInventory)
		rr.Verdict = VerdictUndetermined
		rr.Problems = append(rr.Problems, fmt.Sprintf("ambiguous: %s, holding different scopes or statuses; a probe can tell them apart (--method auto)", ambiguity(matches, mask)))
		return placement{rr: rr, judged: true, cands: matches}
	}
	return placement{only: telling(matches), cands: matches}
}

// alike reports whether the candidates hold the same scopes with the same status, and returns the
// oldest of them.
func alike(cands []APIKey) (APIKey, bool) {
	oldest := cands[0]
	for _, c := range cands[1:] {
		if c.Status != oldest.Status || !slices.Equal(c.Scopes, oldest.Scopes) {
			return APIKey{}, false
		}
		if !c.Created.IsZero() && (oldest.Created.IsZero() || c.Created.Before(oldest.Created)) {
			oldest = c
		}
	}
	return oldest, true
}

// telling lists the probeable scopes some candidates hold and others do not: probing them tells
// the candidates apart. When they differ only in status, any answer does (a disabled key gets
// none), so one read of the roomiest tier is enough.
func telling(cands []APIKey) []string {
	held := map[string]int{}
	for _, c := range cands {
		for _, s := range c.Scopes {
			held[s]++
		}
	}
	var out []string
	for s, n := range held {
		if _, ok := RequestFor(s); ok && n < len(cands) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		out = []string{pick(Probeable(), false)}
	}
	return sortedUnique(out)
}

func ambiguity(cands []APIKey, mask string) string {
	names := make([]string, len(cands))
	for i, m := range cands {
		names[i] = fmt.Sprintf("%q", m.Name)
	}
	return fmt.Sprintf("%d keys of the account end like %s (%s)", len(cands), mask, strings.Join(names, ", "))
}

// settle picks, from the candidates of an ambiguous match, those a probe of the key is consistent
// with: a scope proven granted (never an inferred grant) rules out the candidates that lack it, one
// proven not granted those that hold it, and any answer at all the disabled ones.
func settle(cands []APIKey, pr RoleReport) []APIKey {
	var out []APIKey
	for _, c := range cands {
		ok := c.Status == "active"
		for _, s := range pr.Checked {
			undetermined := slices.Contains(pr.Undetermined, s)
			granted := slices.Contains(pr.Granted, s) && !slices.Contains(pr.Inferred, s)
			denied := !slices.Contains(pr.Granted, s) && !undetermined
			holds := slices.Contains(c.Scopes, s)
			if (granted && !holds) || (denied && holds) {
				ok = false
			}
		}
		if ok {
			out = append(out, c)
		}
	}
	return out
}

// judgeKey judges a target by its listed key: every scope a key can hold is looked at.
func judgeKey(t Target, k APIKey, opts Options) RoleReport {
	rr := newRoleReport(t, ByInventory)
	rr.KeyStatus, rr.KeyName = k.Status, k.Name
	findings := map[string]Finding{}
	for _, s := range catalog.AssignableScopes() {
		findings[s] = Finding{Scope: s, Answer: Denied, Reason: "not in the key's scopes"}
	}
	for _, s := range k.Scopes {
		findings[s] = Finding{Scope: s, Answer: Granted, Reason: "in the key's scopes"}
	}
	judge(&rr, t, findings, opts.rules())
	if k.Status != "active" {
		rr.Verdict = VerdictInvalid
		rr.Problems = append(rr.Problems, fmt.Sprintf("the key (%q in Klaviyo) is %s: Klaviyo rejects it", k.Name, k.Status))
	}
	applyAge(&rr, &k, opts)
	return rr
}

// applyAge reports a key's age and holds it to the maximum age: an older key is a finding. A key
// whose age is not known (probed, or listed without created) leaves an otherwise valid role
// undetermined when a maximum age is asked for: its age is not proven.
func applyAge(rr *RoleReport, k *APIKey, opts Options) {
	if k != nil && !k.Created.IsZero() {
		age := opts.now().Sub(k.Created)
		days := max(int(age/(24*time.Hour)), 0)
		rr.KeyCreated, rr.KeyAgeDays = k.Created.Format(time.RFC3339), &days
		if opts.MaxKeyAge > 0 && age > opts.MaxKeyAge {
			rr.Problems = append(rr.Problems, fmt.Sprintf("the key is %d days old (created %s), older than --max-key-age %s: rotate it",
				days, k.Created.Format(time.DateOnly), FormatAge(opts.MaxKeyAge)))
			if rr.Verdict == VerdictValid || rr.Verdict == VerdictUndetermined {
				rr.Verdict = VerdictInvalid
			}
		}
		return
	}
	if opts.MaxKeyAge > 0 && rr.Verdict == VerdictValid {
		rr.Verdict = VerdictUndetermined
		how := "the key listing did not say when it was made"
		if k == nil {
			how = "only the account's key inventory shows when a key was made, and it was not read for this key"
		}
		rr.Problems = append(rr.Problems, fmt.Sprintf("--max-key-age %s: the key's age is not known: %s", FormatAge(opts.MaxKeyAge), how))
	}
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// keyViews is the report's section on the account's keys: each listed key with its age, the
// roles of this run that hold it, and whether no role does.
func keyViews(l *listing, places []placement, targets []Target, opts Options) []KeyView {
	out := make([]KeyView, 0, len(l.keys))
	lister := ""
	if l.cred.Kind() == klaviyo.APIKey {
		lister = l.cred.Mask()
	}
	for _, k := range l.keys {
		v := KeyView{Name: k.Name, Key: k.RedactedKey, Status: k.Status, Scopes: nonNil(k.Scopes), Roles: []string{}}
		if !k.Created.IsZero() {
			age := opts.now().Sub(k.Created)
			days := max(int(age/(24*time.Hour)), 0)
			v.Created, v.AgeDays = k.Created.Format(time.RFC3339), &days
			v.TooOld = opts.MaxKeyAge > 0 && age > opts.MaxKeyAge
		}
		for i, p := range places {
			// A key known exactly, or any of the keys a role's key might be: none of them is
			// unused.
			holds := p.exact && p.key.ID == k.ID ||
				!p.exact && slices.ContainsFunc(p.cands, func(c APIKey) bool { return c.ID == k.ID })
			if holds {
				v.Roles = append(v.Roles, targets[i].Role)
			}
		}
		v.InventoryCredential = lister != "" && redactedMatches(k.RedactedKey, lister)
		v.Unused = opts.EveryRole && len(v.Roles) == 0
		out = append(out, v)
	}
	return out
}
