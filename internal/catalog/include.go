package catalog

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// IncludeScopes returns the scopes that reading the related resource named by an include= value
// needs on its own (include=push-tokens: profiles:read, push-tokens:read), and whether the spec
// knows the value at all.
func IncludeScopes(name string) ([]string, bool) {
	s, ok := includeScopes()[name]
	return s, ok
}

// IncludeError is a call's include= that the operation does not allow, or that is given twice: Klaviyo
// refuses both, and an access decision cannot count scopes for a relationship it cannot name.
type IncludeError struct {
	Operation Operation
	// Value is the include value refused; empty when the parameter was repeated.
	Value string
}

func (e *IncludeError) Error() string {
	if e.Value == "" {
		return "include= is given more than once: list the related resources in one include=a,b"
	}
	if len(e.Operation.Includes) == 0 {
		return fmt.Sprintf("%s takes no include=, so %q cannot be included", e.Operation, e.Value)
	}
	return fmt.Sprintf("%s cannot include %q: it includes %s", e.Operation, e.Value, strings.Join(e.Operation.Includes, ", "))
}

// CallScopes returns every scope a call of op with the given query needs, sorted: the operation's own
// scopes plus the read scopes of every related resource it asks for with include=, since the
// included data is that resource's. An include the operation does not allow, or a repeated include=,
// is an *IncludeError.
func CallScopes(op Operation, query url.Values) ([]string, error) {
	set := map[string]bool{}
	for _, s := range op.Scopes {
		set[s] = true
	}
	values := query["include"]
	if len(values) > 1 {
		return nil, &IncludeError{Operation: op}
	}
	if len(values) == 1 {
		for _, v := range strings.Split(values[0], ",") {
			v = strings.TrimSpace(v)
			scopes, known := includeScopes()[v]
			if !known || !slices.Contains(op.Includes, v) {
				return nil, &IncludeError{Operation: op, Value: v}
			}
			for _, s := range scopes {
				set[s] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}
