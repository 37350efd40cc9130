package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
)

// InventorySource is the credential that lists an account's keys: it must hold credentials:read.
// Today it is a role's private key (--inventory-role); an OAuth access token fits the same seam, as
// Credential returns any klaviyo.Credential (klaviyo.BearerToken for a token) and is called only
// when the listing is made, so a token can be refreshed just in time.
type InventorySource struct {
	// Name says what the credential is, for reports and messages: "role admin".
	Name string
	// AccountID is the account the credential belongs to, when known ("" for an older key); an
	// OAuth app has a quota of its own per account: give it "oauth:<client id>".
	AccountID string
	// Credential returns the credential to list the keys with.
	Credential func(ctx context.Context) (klaviyo.Credential, error)
}

// APIKey is one private key of the account, as the beta GET /api/api-keys lists it.
type APIKey struct {
	ID          string
	Name        string
	Status      string // active or disabled
	Scopes      []string
	RedactedKey string // pk_**** and the last four characters
}

// keyListPath is the beta listing of an account's private keys.
const keyListPath = "/api/api-keys"

// maxKeyPages bounds how many pages of keys are read: far more than any account has.
const maxKeyPages = 100

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
		keys = append(keys, APIKey{ID: d.ID, Name: a.Name, Status: a.Status, Scopes: sortedUnique(a.Scopes), RedactedKey: a.RedactedKey})
	}
	next := ""
	if doc.Links.Next != nil {
		next = *doc.Links.Next
	}
	return keys, next, nil
}

// ListKeys lists every private key of the credential's account, following the listing's pages.
// It returns the keys and the number of calls made.
func ListKeys(ctx context.Context, client Caller, apiURL string, cred klaviyo.Credential, account string) ([]APIKey, int, error) {
	base, err := url.Parse(NormalizeAPIURL(apiURL))
	if err != nil {
		return nil, 0, fault.Configf("Klaviyo API URL %q: %v", apiURL, err)
	}
	var all []APIKey
	req := klaviyo.Request{Method: http.MethodGet, Path: keyListPath, Beta: true, Credential: cred, Account: account,
		Query: url.Values{"additional-fields[api-key]": {"redacted_key"}}}
	for page := 1; ; page++ {
		resp, err := client.Do(ctx, req)
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

// Inventory validates each target's key against the account's key listing, read with src's
// credential: each key is found by its redacted form (pk_**** and its last four characters), and its
// scopes and status are read. A key found nowhere, or in several places, or disabled, is a finding.
//
// The error is for the run as a whole: the listing could not be read.
func Inventory(ctx context.Context, targets []Target, src InventorySource, opts Options) (*Report, error) {
	ctx, cancel := opts.withTimeout(ctx)
	defer cancel()
	cred, err := src.Credential(ctx)
	if err != nil {
		return nil, err
	}
	accounts := []string{src.AccountID}
	for _, t := range targets {
		if t.Err == nil {
			accounts = append(accounts, t.AccountID)
		}
	}
	keys, calls, err := ListKeys(ctx, opts.Client, opts.APIURL, cred, QuotaAccount(accounts)(src.AccountID))
	if err != nil {
		return nil, &RunError{Err: listingFault(err, src, opts, ctx), Requests: calls}
	}
	rep := &Report{Method: ByInventory, APIURL: opts.APIURL, Revision: opts.Revision, Strict: opts.Strict,
		RequiredOnly: opts.RequiredOnly, AllowExcess: opts.AllowExcess, Inventory: src.Name, Calibration: opts.Calibration.View(), Roles: make([]RoleReport, len(targets))}
	for i, t := range targets {
		if t.Err != nil {
			rep.Roles[i] = unevaluated(t, ByInventory)
			continue
		}
		rep.Roles[i] = judgeInventory(t, keys, opts.rules())
	}
	rep.summarise(calls)
	return rep, nil
}

// listingFault says why the account's keys could not be listed.
func listingFault(err error, src InventorySource, opts Options, ctx context.Context) error {
	var denied *klaviyo.Error
	switch {
	case errors.As(err, &denied) && denied.Class == klaviyo.PermissionDenied:
		// The bare API error, without the client's general hint about missing scopes: this
		// one says which scope and what else to do.
		return fault.Wrap(fault.Unavailable, fmt.Errorf("cannot list the account's keys with %s: %w", src.Name, denied)).
			Hint("the inventory credential needs the credentials:read scope; or probe each scope instead, without --inventory-role or --inventory-oauth")
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

func judgeInventory(t Target, keys []APIKey, how rules) RoleReport {
	rr := newRoleReport(t, ByInventory)
	matches := Match(keys, t.Key)
	switch len(matches) {
	case 0:
		rr.Verdict = VerdictInvalid
		rr.Problems = append(rr.Problems, fmt.Sprintf("no key of the account ends like %s: the key belongs to another account, or was deleted", t.Key.Mask()))
		return rr
	case 1:
	default:
		names := make([]string, len(matches))
		for i, m := range matches {
			names[i] = fmt.Sprintf("%q", m.Name)
		}
		rr.Verdict = VerdictInvalid
		rr.Problems = append(rr.Problems, fmt.Sprintf("%d keys of the account end like %s (%s): cannot tell which is this one; probe it instead (leave out --inventory-role)",
			len(matches), t.Key.Mask(), strings.Join(names, ", ")))
		return rr
	}
	k := matches[0]
	rr.KeyStatus = k.Status
	findings := map[string]Finding{}
	for _, s := range catalog.AssignableScopes() {
		findings[s] = Finding{Scope: s, Answer: Denied, Reason: "not in the key's scopes"}
	}
	for _, s := range k.Scopes {
		findings[s] = Finding{Scope: s, Answer: Granted, Reason: "in the key's scopes"}
	}
	judge(&rr, t, findings, how)
	if k.Status != "active" {
		rr.Verdict = VerdictInvalid
		rr.Problems = append(rr.Problems, fmt.Sprintf("the key (%q in Klaviyo) is %s: Klaviyo rejects it", k.Name, k.Status))
	}
	return rr
}
