// Package catalog is Klaviyo's API as klrbac needs to know it: every operation with its method, path
// template, scopes and rate limits, the scopes a private key can hold, and a probe per scope. It is
// generated from Klaviyo's published OpenAPI spec (third_party/klaviyo-openapi).
package catalog

//go:generate go run ./internal/gen -spec ../../third_party/klaviyo-openapi -out catalog_gen.go

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// PageSize is the range of an operation's page[size] parameter; zero when it has none.
type PageSize struct{ Min, Max, Default int }

// Operation is one Klaviyo API operation.
type Operation struct {
	Method string
	Path   string // template, e.g. /api/profiles/{id}
	ID     string // operationId
	// Scopes the operation lists; klrbac treats all of them as required.
	Scopes []string
	// Burst and Steady are the per-account limits: requests per second and per minute.
	Burst, Steady int
	// PublicKey marks /client operations, which take the 6-character public key, not a private key.
	PublicKey bool
	PageSize  PageSize
	Cursor    bool
	Required  []string // required query and path parameters
	Beta      bool     // needs a ".pre" revision
	HasBody   bool
	// Body is what the spec's schema asks of the request body. Beta operations, whose schemas are
	// not vendored, leave it empty.
	Body RequestBody
	// Sparse is a sparse-fieldset query asking for the least revealing field of each resource type.
	Sparse string
	// Includes are the related resources the operation may add with include=, as the spec lists them.
	Includes []string
	// Success is the status the spec documents for a call that succeeds (200, 201, 202 or 204); 0
	// for beta operations, whose responses the catalog does not carry.
	Success int
	// SuccessDoc is true when that answer carries a JSON:API document (a 202 may or may not; a 204
	// never does).
	SuccessDoc bool
	// Fields are the members each sparse fieldset (fields[TYPE]) may name, by TYPE, as the spec
	// lists them; nil for beta operations.
	Fields map[string][]string
}

// RequestBody is what an operation's request body schema asks for. Klaviyo's bodies are JSON:API
// documents whose data names the resource type it expects; image uploads are the exception.
type RequestBody struct {
	// Required lists the members the body must have at its top level: "data" for JSON:API.
	Required []string
	// Types are the values data.type may take (one, for every body in Klaviyo's spec); none when
	// the body has no data member.
	Types []string
	// List marks bodies whose data is a list of resource objects, as to-many relationships take.
	List bool
}

// String renders the operation as "METHOD /path".
func (o Operation) String() string { return o.Method + " " + o.Path }

// Tier names the operation's rate-limit tier (XS, S, M, L, XL) or, for limits outside the published
// tiers, spells them out.
func (o Operation) Tier() string { return TierName(o.Burst, o.Steady) }

// TierName names a (burst, steady) pair as Klaviyo's rate-limit tiers do.
func TierName(burst, steady int) string {
	switch {
	case burst == 1 && steady == 15:
		return "XS"
	case burst == 3 && steady == 60:
		return "S"
	case burst == 10 && steady == 150:
		return "M"
	case burst == 75 && (steady == 700 || steady == 750):
		return "L"
	case burst == 350 && steady == 3500:
		return "XL"
	}
	return fmt.Sprintf("%d/s %d/m", burst, steady)
}

// Probe is a request that tells whether a key holds one scope (see scope-probes.tsv).
type Probe struct {
	Scope        string
	Method       string
	Path         string
	Query        string
	Body         string
	AlsoRequires []string // companion scopes the probe's operation lists too
	OperationID  string
	Risk         string // what a valid body would do, had the probe one
	Notes        string
}

// Operations returns the stable operations, ordered by path then method. Callers must not modify it.
func Operations() []Operation { return stableOperations() }

// BetaOperations returns the beta operations that have no stable counterpart.
func BetaOperations() []Operation { return betaOperations() }

// AssignableScopes returns every scope a private key can hold, sorted.
func AssignableScopes() []string { return assignableScopes }

// IsAssignable reports whether name is a scope a private key can hold.
func IsAssignable(name string) bool {
	_, ok := slices.BinarySearch(assignableScopes, name)
	return ok
}

// Probes returns one probe per scope used by stable operations.
func Probes() []Probe { return probes }

// ProbeFor returns the probe for scope.
func ProbeFor(scope string) (Probe, bool) {
	for _, p := range probes {
		if p.Scope == scope {
			return p, true
		}
	}
	return Probe{}, false
}

// Access is the kind of access a scope grants.
type Access string

const (
	Read  Access = "read"
	Write Access = "write"
)

// AccessOf tells whether scope grants read or write access.
func AccessOf(scope string) Access {
	if strings.HasSuffix(scope, ":write") {
		return Write
	}
	return Read
}

// Scope summarises one scope used by stable operations.
type Scope struct {
	Name       string
	Access     Access
	Operations int // stable operations listing it
}

var scopesOnce = sync.OnceValue(func() []Scope {
	count := map[string]int{}
	for _, op := range stableOperations() {
		for _, s := range op.Scopes {
			count[s]++
		}
	}
	out := make([]Scope, 0, len(count))
	for name, n := range count {
		out = append(out, Scope{Name: name, Access: AccessOf(name), Operations: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
})

// Scopes returns the scopes that stable operations use, sorted by name.
func Scopes() []Scope { return scopesOnce() }

// OperationsNeeding returns the stable operations that list scope.
func OperationsNeeding(scope string) []Operation {
	var out []Operation
	for _, op := range stableOperations() {
		if slices.Contains(op.Scopes, scope) {
			out = append(out, op)
		}
	}
	return out
}
