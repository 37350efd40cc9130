package cmd

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
)

// scopeView is the JSON and YAML shape of a scope in `scopes list`.
type scopeView struct {
	Scope      string   `json:"scope" yaml:"scope"`
	Access     string   `json:"access" yaml:"access"`
	Operations int      `json:"operations" yaml:"operations"`
	Roles      []string `json:"roles" yaml:"roles"`
}

func newScopesCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "scopes",
		Short: "List Klaviyo scopes and find the scopes an API call needs",
		Long: `List Klaviyo's scopes and find which scopes a Klaviyo API call needs.

The catalog comes from Klaviyo's published OpenAPI spec (revision ` + catalog.SpecRevision + `). Where an
operation lists several scopes, klrbac treats all of them as required.` + exitStatus(exitOK, exitUsage),
		Args: cobra.NoArgs,
	}
	c.AddCommand(newScopesListCommand(a), newScopesShowCommand(a), newScopesForCommand(a))
	return c
}

var httpMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

func completeMethods(prefix string) []string {
	return slices.DeleteFunc(slices.Clone(httpMethods), func(m string) bool { return !strings.HasPrefix(m, strings.ToUpper(prefix)) })
}

// completeCalls completes a Klaviyo operation's path templates: given the method as a separate
// argument (method "GET "), just the path; given nothing (method ""), "METHOD PATH" as one word, as
// check --endpoint takes it.
func completeCalls(method, prefix string) []string {
	var out []string
	for _, op := range catalog.Operations() {
		if method != "" && op.Method+" " != method {
			continue
		}
		s := op.String()
		if method != "" {
			s = op.Path
		}
		if strings.HasPrefix(s, prefix) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// splitCall accepts "METHOD PATH" as one argument or two.
func splitCall(args []string) (method, path string, err error) {
	if len(args) == 1 {
		args = strings.Fields(args[0])
	}
	if len(args) != 2 {
		return "", "", fault.Usagef("expected METHOD PATH, such as GET /api/profiles").Hint(`quote both together or pass them as two arguments: "GET /api/profiles"`)
	}
	method = strings.ToUpper(args[0])
	for _, m := range httpMethods {
		if m == method {
			return method, args[1], nil
		}
	}
	return "", "", fault.Usagef("%q is not an HTTP method", args[0]).Hint("use one of " + strings.Join(httpMethods, ", "))
}

// findOperation looks a call up in the catalog, or explains with the nearest operations.
func findOperation(method, path string) (catalog.Operation, error) {
	if op, ok := catalog.Find(method, path); ok {
		return op, nil
	}
	e := fault.Usagef("no Klaviyo operation matches %s %s", method, catalog.NormalizePath(path))
	for _, op := range catalog.Nearest(method, path, 3) {
		e.Hint("nearest: " + op.String())
	}
	return catalog.Operation{}, e
}
