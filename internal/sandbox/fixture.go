package sandbox

import (
	_ "embed"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/apikey"
	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/suggest"
	"github.com/klrbac/klrbac/internal/yamlcheck"
)

// Fixture is what a sandbox serves: accounts with their keys and OAuth clients, and the faults it
// injects.
type Fixture struct {
	// Source names where the fixture came from, for messages: a file name or "built-in demo".
	Source   string
	Accounts []Account
	// Latency is added to every /api response and to the token and revocation endpoints (the calls
	// that cross the network to Klaviyo's API host); at most MaxLatency.
	Latency time.Duration
	Faults  Faults
	// RateLimits false keeps counting calls and sending RateLimit-* headers but never answers 429,
	// for benchmarks that measure the sandbox rather than Klaviyo's limits.
	RateLimits bool
	// Quota is how rate limits are counted: QuotaPerTier (the default) or QuotaPerOperation.
	Quota string
	// KeyPageSize is how many keys a page of the api-keys listing holds; 0: DefaultKeyPageSize.
	KeyPageSize int
}

// How the rate limits of an account are counted. Klaviyo documents a limit per endpoint and does
// not say whether the endpoints of one tier share a window: QuotaPerTier, one window per account
// and tier, is the reading that gives klrbac the most 429s, so it is the default; QuotaPerOperation
// counts each operation on its own, as the documentation can also be read.
const (
	QuotaPerTier      = "tier"
	QuotaPerOperation = "operation"
)

// MaxLatency bounds the latency a fixture or flag may add: enough to trip any client's timeout
// while a test still ends.
const MaxLatency = time.Minute

// Account is one Klaviyo account.
type Account struct {
	ID           string // the 6-character public key, also its id
	Name         string // organization name
	Keys         []Key
	OAuthClients []OAuthClient

	line int
}

// Key is a private API key of an account.
type Key struct {
	Name   string
	Secret string   // pk_...
	Scopes []string // as written: scope names, or the single word full or read-only
	Status string   // active or disabled
	// Created is when the key was made, as the key listing shows it; zero: when the sandbox
	// started.
	Created time.Time

	line int // where the fixture lists it, for problems found after parsing
}

// Key statuses.
const (
	Active   = "active"
	Disabled = "disabled"
)

// Shorthands a key's scopes may use instead of a list.
const (
	FullAccess = "full"
	ReadOnly   = "read-only"
)

// Granted returns the scopes the key holds, with full and read-only spelled out.
func (k Key) Granted() []string { return expandScopes(k.Scopes) }

// ID is the key's stable identifier in the api-keys listing.
func (k Key) ID() string { return "key_" + fingerprint(k.Secret)[:16] }

// OAuthClient is an OAuth app registered with an account.
type OAuthClient struct {
	Name         string
	ClientID     string
	ClientSecret string
	RedirectURIs []string

	line int
}

func expandScopes(scopes []string) []string {
	if slices.Contains(scopes, FullAccess) {
		return slices.Clone(catalog.AssignableScopes())
	}
	if slices.Contains(scopes, ReadOnly) {
		var out []string
		for _, s := range catalog.AssignableScopes() {
			if catalog.AccessOf(s) == catalog.Read {
				out = append(out, s)
			}
		}
		return out
	}
	return slices.Clone(scopes)
}

//go:embed demo.yaml
var demoYAML []byte

// DemoSource is the Source of the built-in demo fixture.
const DemoSource = "built-in demo"

// DemoYAML is the built-in demo fixture as a fixture file.
func DemoYAML() []byte { return slices.Clone(demoYAML) }

// DemoFixture returns the built-in demo account: one key per role of the default policy, some of
// them deliberately wrong (see demo.yaml), and an OAuth client. Each call returns a fresh copy.
func DemoFixture() *Fixture {
	f, err := ParseFixture(DemoSource, demoYAML)
	if err != nil {
		panic("sandbox: built-in demo fixture is invalid: " + err.Error())
	}
	return f
}

// LoadFixture reads a fixture file, or returns the built-in demo for path "" (no --fixture). Every
// problem is reported, each naming file:line, as configuration errors (exit 2).
func LoadFixture(path string) (*Fixture, error) {
	if path == "" {
		return DemoFixture(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fault.Configf("cannot read fixture: %w", err).Hint("pass --fixture FILE naming a YAML fixture, or no --fixture for the built-in demo")
	}
	return ParseFixture(path, data)
}

// ParseFixture parses a fixture file's contents; name is used in messages.
func ParseFixture(name string, data []byte) (*Fixture, error) {
	ps := &yamlcheck.Problems{File: name}
	doc, err := yamlcheck.Parse(name, data)
	if err != nil {
		return nil, err
	}
	f := &Fixture{Source: name, RateLimits: true}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		ps.Add(root, "a fixture is a mapping with an accounts: list", "expected a mapping at the top level, found %s", yamlcheck.KindName(root))
		return nil, ps.Err()
	}
	sawAccounts := false
	ps.Fields(root, "fixture", []string{"accounts", "latency", "faults", "rate_limits", "rate_limit_quota", "key_page_size"}, func(field string, k, v *yaml.Node) {
		switch field {
		case "accounts":
			sawAccounts = true
			f.Accounts = parseAccounts(ps, v)
		case "latency":
			f.Latency = duration(ps, v, "latency")
		case "faults":
			f.Faults = parseFaults(ps, v)
		case "rate_limits":
			f.RateLimits = ps.Bool(v, "rate_limits")
		case "rate_limit_quota":
			f.Quota = ps.String(v, "rate_limit_quota")
			if f.Quota != QuotaPerTier && f.Quota != QuotaPerOperation {
				ps.Add(v, "write tier (one window per account and rate tier, the default) or operation (one per account and operation)",
					"rate_limit_quota %q is not tier or operation", f.Quota)
			}
		case "key_page_size":
			var n int
			if v.Kind != yaml.ScalarNode || v.Decode(&n) != nil || n < 1 || n > maxKeyPageSize {
				ps.Add(v, "write a number of keys from 1 to 100, such as 20", "key_page_size: expected a number from 1 to 100, found %s", yamlcheck.KindName(v))
			}
			f.KeyPageSize = n
		}
	})
	if !sawAccounts {
		ps.Add(root, "add an accounts: list with at least one account", "fixture has no accounts")
	}
	checkUnique(ps, f)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

func parseAccounts(ps *yamlcheck.Problems, n *yaml.Node) []Account {
	var out []Account
	items := ps.Sequence(n, "accounts")
	if n.Kind == yaml.SequenceNode && len(items) == 0 || yamlcheck.IsNull(n) {
		ps.Add(n, "add at least one account", "accounts: the list is empty")
	}
	for _, item := range items {
		a := Account{line: item.Line}
		var idNode *yaml.Node
		ps.Fields(item, "account", []string{"id", "name", "keys", "oauth_clients"}, func(field string, k, v *yaml.Node) {
			switch field {
			case "id":
				a.ID, idNode = ps.String(v, "account id"), v
			case "name":
				a.Name = ps.String(v, "account name")
			case "keys":
				a.Keys = parseKeys(ps, v)
			case "oauth_clients":
				a.OAuthClients = parseClients(ps, v)
			}
		})
		switch {
		case idNode == nil:
			ps.Add(item, "give the account a 6-character id, such as DEMO01", "account: missing id")
		case !apikey.IsPublic(a.ID):
			ps.Add(idNode, "an account id is Klaviyo's 6-character public key: letters and digits, such as DEMO01", "account id %q is not 6 letters and digits", a.ID)
		default:
			for _, k := range a.Keys {
				if p, err := apikey.ParsePrivate(k.Secret); err == nil && p.Account != "" && p.Account != a.ID {
					ps.AddLine(k.line, "a key of the form pk_<account id>_<hex> belongs to that account", "key %s: names account %s but is listed under account %s", k.Name, p.Account, a.ID)
				}
			}
		}
		if a.Name == "" {
			a.Name = a.ID
		}
		out = append(out, a)
	}
	return out
}

func parseKeys(ps *yamlcheck.Problems, n *yaml.Node) []Key {
	var out []Key
	for _, item := range ps.Sequence(n, "keys") {
		k := Key{Status: Active, line: item.Line}
		var keyNode, scopesNode *yaml.Node
		ps.Fields(item, "key", []string{"name", "key", "scopes", "status", "created"}, func(field string, _, v *yaml.Node) {
			switch field {
			case "name":
				k.Name = ps.String(v, "key name")
			case "key":
				k.Secret, keyNode = ps.String(v, "key"), v
			case "scopes":
				scopesNode = v
				k.Scopes = parseScopes(ps, v)
			case "status":
				k.Status = ps.String(v, "key status")
				if k.Status != Active && k.Status != Disabled && k.Status != "" {
					ps.Add(v, "use active or disabled", "key status %q is not active or disabled", k.Status)
				}
			case "created":
				k.Created = createdTime(ps, v)
			}
		})
		what := "key"
		if k.Name != "" {
			what = "key " + k.Name
		} else {
			ps.Add(item, "name each key; a key named after a role (admin, viewer, ...) is that role's key", "key: missing name")
		}
		if keyNode == nil {
			ps.Add(item, "give the key a value: "+apikey.PrivateForm, "%s: missing key", what)
		} else if _, err := apikey.ParsePrivate(k.Secret); err != nil {
			ps.Add(keyNode, "a private key is "+apikey.PrivateForm, "%s: %s is not a Klaviyo private key: %v", what, shownKey(k.Secret), err)
		}
		if scopesNode == nil {
			ps.Add(item, "list the key's scopes, or write [full] or [read-only]", "%s: missing scopes", what)
		}
		out = append(out, k)
	}
	return out
}

func parseScopes(ps *yamlcheck.Problems, n *yaml.Node) []string {
	names, nodes := ps.Names(n, "scopes")
	out := []string{}
	for i, s := range names {
		switch {
		case s == FullAccess || s == ReadOnly:
			if len(n.Content) > 1 {
				ps.Add(nodes[i], "write [full] or [read-only] alone, or list the scopes", "scope %q cannot be combined with other scopes", s)
			}
		case !catalog.IsAssignable(s):
			hint := suggest.Hint(suggest.Closest(s, append(catalog.AssignableScopes(), FullAccess, ReadOnly), 2))
			if hint == "" {
				hint = "`klrbac scopes list --all` shows the scopes a key can hold"
			}
			ps.Add(nodes[i], hint, "unknown Klaviyo scope %q", s)
			continue
		}
		out = append(out, s)
	}
	return out
}

func parseClients(ps *yamlcheck.Problems, n *yaml.Node) []OAuthClient {
	var out []OAuthClient
	for _, item := range ps.Sequence(n, "oauth_clients") {
		c := OAuthClient{line: item.Line}
		ps.Fields(item, "oauth client", []string{"name", "client_id", "client_secret", "redirect_uris"}, func(field string, _, v *yaml.Node) {
			switch field {
			case "name":
				c.Name = ps.String(v, "oauth client name")
			case "client_id":
				c.ClientID = ps.String(v, "client_id")
			case "client_secret":
				c.ClientSecret = ps.String(v, "client_secret")
			case "redirect_uris":
				for _, u := range ps.Sequence(v, "redirect_uris") {
					s := ps.String(u, "redirect uri")
					if p, err := url.Parse(s); s != "" && (err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.Fragment != "") {
						ps.Add(u, "a redirect URI is an absolute http(s) URL without a fragment, such as http://127.0.0.1:8765/callback", "redirect uri %q is not an absolute http(s) URL", s)
						continue
					}
					c.RedirectURIs = append(c.RedirectURIs, s)
				}
			}
		})
		for field, val := range map[string]string{"name": c.Name, "client_id": c.ClientID, "client_secret": c.ClientSecret} {
			if val == "" {
				ps.Add(item, "an OAuth client needs name, client_id, client_secret and redirect_uris", "oauth client: missing %s", field)
			}
		}
		if len(c.RedirectURIs) == 0 {
			ps.Add(item, "register at least one redirect URI, such as http://127.0.0.1:8765/callback", "oauth client %s: no redirect_uris", c.Name)
		}
		out = append(out, c)
	}
	return out
}

func parseFaults(ps *yamlcheck.Problems, n *yaml.Node) Faults {
	var f Faults
	ps.Fields(n, "faults", []string{"unavailable", "edge_block", "reset", "throttle", "retry_after", "accept_writes", "liar"}, func(field string, _, v *yaml.Node) {
		switch field {
		case "unavailable":
			f.Unavailable = fraction(ps, v, "faults.unavailable")
		case "edge_block":
			f.EdgeBlock = fraction(ps, v, "faults.edge_block")
		case "reset":
			f.Reset = fraction(ps, v, "faults.reset")
		case "throttle":
			f.Throttle = fraction(ps, v, "faults.throttle")
		case "retry_after":
			f.NoRetryAfter = !ps.Bool(v, "faults.retry_after")
		case "accept_writes":
			f.AcceptWrites = ps.Bool(v, "faults.accept_writes")
		case "liar":
			f.Liar = ps.String(v, "faults.liar")
			if f.Liar != "" && !slices.Contains(Liars, f.Liar) {
				ps.Add(v, "name one of: "+strings.Join(Liars, ", "), "faults.liar %q is no liar the sandbox knows", f.Liar)
			}
		}
	})
	if share := f.Share(); share > 1 {
		ps.Add(n, FaultShareHint, "faults: the fractions add up to %g, more than all /api calls", share)
	}
	return f
}

// FaultShareHint explains why fault fractions may not add up to more than 1.
const FaultShareHint = "each fraction is a share of all /api calls and a call meets one fault at most, so together they are at most 1"

// checkUnique reports what must be unique across the whole fixture: account ids, key values,
// client ids; and key names within an account.
func checkUnique(ps *yamlcheck.Problems, f *Fixture) {
	accounts, secrets, clients := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, a := range f.Accounts {
		if a.ID != "" && accounts[a.ID] {
			ps.AddLine(a.line, "give each account its own id", "account id %s is used twice", a.ID)
		}
		accounts[a.ID] = true
		names := map[string]bool{}
		for _, k := range a.Keys {
			line := k.line
			if k.Name != "" && names[k.Name] {
				ps.AddLine(line, "name each key of an account differently", "account %s: key name %q is used twice", a.ID, k.Name)
			}
			names[k.Name] = true
			if k.Secret != "" && secrets[k.Secret] {
				ps.AddLine(line, "every key must be different", "key %s: the same key value is listed twice", k.Name)
			}
			secrets[k.Secret] = true
		}
		for _, c := range a.OAuthClients {
			if c.ClientID != "" && clients[c.ClientID] {
				ps.AddLine(c.line, "give each OAuth client its own client_id", "oauth client_id %q is used twice", c.ClientID)
			}
			clients[c.ClientID] = true
		}
	}
}

// isAlnum is the character class of the PKCE code verifier and challenge.
func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// shownKey is how a malformed key appears in a problem: masked as every credential is, even one
// that is not a key, since it may be a real secret pasted into the wrong place.
func shownKey(s string) string {
	if m := mask.Secret(s); m != "" {
		return m
	}
	return "an empty value"
}

func duration(ps *yamlcheck.Problems, n *yaml.Node, what string) time.Duration {
	if n.Kind != yaml.ScalarNode || yamlcheck.IsNull(n) {
		ps.String(n, what) // says what is there instead
		return 0
	}
	d, err := time.ParseDuration(n.Value)
	switch {
	case err != nil:
		ps.Add(n, "write a duration such as 0ms, 250ms or 2s", "%s: %s is not a duration", what, yamlcheck.KindName(n))
		return 0
	case d < 0 || d > MaxLatency:
		ps.Add(n, "write a duration such as 0ms, 250ms or 2s", "%s: %s is out of range: it must be from 0s to 1m", what, yamlcheck.KindName(n))
		return 0
	}
	return d
}

func fraction(ps *yamlcheck.Problems, n *yaml.Node, what string) float64 {
	var f float64
	if n.Kind != yaml.ScalarNode || n.Decode(&f) != nil || f < 0 || f > 1 {
		ps.Add(n, "write a fraction of requests between 0 and 1, such as 0.25", "%s: expected a fraction between 0 and 1, found %s", what, yamlcheck.KindName(n))
		return 0
	}
	return f
}

// createdTime reads when a key was made: a date (2025-01-31) or a time in RFC 3339
// (2025-01-31T09:30:00Z).
func createdTime(ps *yamlcheck.Problems, n *yaml.Node) time.Time {
	if n.Kind == yaml.ScalarNode && !yamlcheck.IsNull(n) {
		for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
			if t, err := time.Parse(layout, n.Value); err == nil {
				return t.UTC()
			}
		}
	}
	ps.Add(n, "write a date such as 2025-01-31, or a time such as 2025-01-31T09:30:00Z", "key created: %s is not a date", yamlcheck.KindName(n))
	return time.Time{}
}
