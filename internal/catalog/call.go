package catalog

import (
	"slices"
	"strings"

	"github.com/klrbac/klrbac/internal/fault"
)

// Methods are the HTTP methods Klaviyo's operations use, in the order hints list them.
var Methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// ParseCall reads a call as people give it: "METHOD PATH" as one argument or as two. The method
// comes back upper case; the path as given, for Lookup to normalise.
func ParseCall(args ...string) (method, path string, err error) {
	if len(args) == 1 {
		args = strings.Fields(args[0])
	}
	if len(args) != 2 {
		return "", "", fault.Usagef("expected METHOD PATH, such as GET /api/profiles").Hint(`quote both together or pass them as two arguments: "GET /api/profiles"`)
	}
	method = strings.ToUpper(args[0])
	if !slices.Contains(Methods, method) {
		return "", "", fault.Usagef("%q is not an HTTP method", args[0]).Hint("use one of " + strings.Join(Methods, ", "))
	}
	return method, args[1], nil
}

// Lookup finds the operation a call reaches. A call that reaches none is a usage error naming the
// nearest operations, since it is most likely mistyped.
func Lookup(method, path string) (Operation, error) {
	if op, ok := Find(method, path); ok {
		return op, nil
	}
	e := fault.Usagef("no Klaviyo operation matches %s %s", method, NormalizePath(path))
	for _, op := range Nearest(method, path, 3) {
		e.Hint("nearest: " + op.String())
	}
	return Operation{}, e
}

// LookupCall parses one "METHOD PATH" argument and finds its operation. stored is the call as the
// audit trail keeps it: the method and the path without host or query string.
func LookupCall(call string) (op Operation, stored string, err error) {
	method, path, err := ParseCall(call)
	if err != nil {
		return Operation{}, "", err
	}
	if op, err = Lookup(method, path); err != nil {
		return Operation{}, "", err
	}
	return op, method + " " + NormalizePath(path), nil
}
