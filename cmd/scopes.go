package cmd

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/catalog"
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
		Args: noArgs,
	}
	c.AddCommand(newScopesListCommand(a), newScopesShowCommand(a), newScopesForCommand(a))
	return c
}

func completeMethods(prefix string) []string {
	return slices.DeleteFunc(slices.Clone(catalog.Methods), func(m string) bool { return !strings.HasPrefix(m, strings.ToUpper(prefix)) })
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
