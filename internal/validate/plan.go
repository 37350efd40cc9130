package validate

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/klrbac/klrbac/internal/catalog"
)

// BogusID is the object id write probes address: no Klaviyo object has it, so a key that holds the
// scope gets 404 (or 400 for the empty body) and nothing is touched.
const BogusID = "klrbac-probe-nonexistent"

// ProbeRequest is the one request that tells whether a key holds a scope. Reads are GET lists with
// the smallest page and a sparse fieldset, so no customer data comes back; writes are built to fail,
// an empty body to a nonexistent id (or an empty-bodied create where no other operation exists).
type ProbeRequest struct {
	Scope  string
	Op     catalog.Operation
	Method string
	Path   string // concrete: path parameters replaced by BogusID
	Query  url.Values
	Body   []byte
	// Risk is what the write would do had its body been valid: none, low, medium or HIGH.
	Risk string
	// Companions are the other scopes the operation lists: without them Klaviyo refuses the probe
	// whatever the key holds of Scope.
	Companions []string
}

// Write reports whether the probe is anything but a read.
func (p ProbeRequest) Write() bool { return p.Method != http.MethodGet && p.Method != http.MethodHead }

// String renders the probe as "METHOD /path".
func (p ProbeRequest) String() string { return p.Method + " " + p.Path }

// betaProbes probe the scopes that no stable operation uses but a beta one does: with the beta
// revision (the client sends <revision>.pre to beta operations), and as free of side effects as the
// stable probes: reads are lists, writes address a made-up id with an empty body.
var betaProbes = []catalog.Probe{
	{Scope: "agents:read", Method: "GET", Path: "/api/agent-tools", Risk: "none"},
	{Scope: "agents:write", Method: "PATCH", Path: "/api/agent-tools/{id}", Body: "{}", Risk: "low"},
	{Scope: "applications:read", Method: "GET", Path: "/api/applications", Risk: "none"},
	{Scope: "brands:read", Method: "GET", Path: "/api/brand-colors", Risk: "none"},
	{Scope: "brands:write", Method: "PATCH", Path: "/api/brand-colors/{id}", Body: "{}", Risk: "low"},
	// The listing of keys shows their names and scopes, never a key: klrbac reads it anyway for the
	// inventory.
	{Scope: "credentials:read", Method: "GET", Path: "/api/api-keys", Risk: "none"},
	{Scope: "credentials:write", Method: "PATCH", Path: "/api/api-keys/{id}", Body: "{}", Risk: "low"},
	{Scope: "sender-config:read", Method: "GET", Path: "/api/sending-domains", Risk: "none"},
	{Scope: "sender-config:write", Method: "DELETE", Path: "/api/sending-domains/{id}", Risk: "low"},
	{Scope: "translations:read", Method: "GET", Path: "/api/translations", Risk: "none"},
	{Scope: "translations:write", Method: "PATCH", Path: "/api/translations/{id}", Body: "{}", Risk: "low"},
	{Scope: "usage:read", Method: "GET", Path: "/api/billing-usage", Risk: "none"},
}

var probeRequests = sync.OnceValues(func() (map[string]ProbeRequest, error) {
	out := map[string]ProbeRequest{}
	for _, p := range append(slices.Clone(catalog.Probes()), betaProbes...) {
		r, err := buildProbe(p)
		if err != nil {
			return nil, err
		}
		out[p.Scope] = r
	}
	return out, nil
})

// buildProbe turns the catalog's suggested probe into a request: path parameters become BogusID,
// page[size] is the smallest the operation allows (and dropped where it takes none), and the
// operation's sparse fieldset is added to reads.
func buildProbe(p catalog.Probe) (ProbeRequest, error) {
	segs := strings.Split(p.Path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = BogusID
		}
	}
	path := strings.Join(segs, "/")
	method := strings.ToUpper(p.Method)
	op, ok := catalog.Find(method, path)
	if !ok {
		return ProbeRequest{}, fmt.Errorf("probe for %s: %s %s is no operation of the catalog", p.Scope, method, path)
	}
	q, err := url.ParseQuery(p.Query)
	if err != nil {
		return ProbeRequest{}, fmt.Errorf("probe for %s: query %q: %w", p.Scope, p.Query, err)
	}
	r := ProbeRequest{Scope: p.Scope, Op: op, Method: method, Path: path, Query: q, Risk: p.Risk}
	if !r.Write() {
		q.Del("page[size]")
		if op.PageSize.Max > 0 {
			q.Set("page[size]", strconv.Itoa(min(max(op.PageSize.Min, 1), op.PageSize.Max)))
		}
		if op.Sparse != "" {
			sparse, err := url.ParseQuery(op.Sparse)
			if err != nil {
				return ProbeRequest{}, fmt.Errorf("probe for %s: sparse fieldset %q: %w", p.Scope, op.Sparse, err)
			}
			for k, v := range sparse {
				if _, set := q[k]; !set {
					q[k] = v
				}
			}
		}
	}
	if p.Body != "" {
		r.Body = []byte(p.Body)
	}
	for _, s := range op.Scopes {
		if s != p.Scope {
			r.Companions = append(r.Companions, s)
		}
	}
	sort.Strings(r.Companions)
	return r, nil
}

// RequestFor returns the probe for scope, if the scope can be probed.
func RequestFor(scope string) (ProbeRequest, bool) {
	m, err := probeRequests()
	if err != nil {
		return ProbeRequest{}, false
	}
	r, ok := m[scope]
	return r, ok
}

// Probeable returns the scopes that have a probe, sorted. The other scopes a key can hold
// (Unprobeable) have no operation at all in Klaviyo's API; only the inventory can tell them.
func Probeable() []string {
	m, _ := probeRequests()
	out := make([]string, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Unprobeable returns the scopes a key can hold that no probe can tell, sorted.
func Unprobeable() []string {
	var out []string
	for _, s := range catalog.AssignableScopes() {
		if _, ok := RequestFor(s); !ok {
			out = append(out, s)
		}
	}
	return out
}

// checkProbes reports a catalog whose probes cannot be built: the catalog is generated, so this is
// a build problem, caught by the tests.
func checkProbes() error {
	_, err := probeRequests()
	return err
}

// ScopesToProbe lists what to probe for a target: every probeable scope, or with requiredOnly (and
// always for a full-access role, whose excess is no finding) only the required ones; plus the
// companions of each, without which a refusal would say nothing.
func ScopesToProbe(t Target, requiredOnly bool) []string {
	base := t.Required
	switch {
	case t.only != nil:
		base = t.only
	case !requiredOnly && !t.FullAccess:
		base = append(Probeable(), t.Required...)
	}
	set := map[string]bool{}
	var add func(s string)
	add = func(s string) {
		if set[s] {
			return
		}
		r, ok := RequestFor(s)
		if !ok {
			return
		}
		set[s] = true
		for _, c := range r.Companions {
			add(c)
		}
	}
	for _, s := range base {
		add(s)
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// sortedUnique returns the sorted distinct values of xs.
func sortedUnique(xs []string) []string {
	out := slices.Clone(xs)
	sort.Strings(out)
	return slices.Compact(out)
}
