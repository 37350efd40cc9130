package cmd

import (
	"fmt"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/suggest"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
)

// scopeDetailView is the JSON and YAML shape of `scopes show`.
type scopeDetailView struct {
	Scope      string          `json:"scope" yaml:"scope"`
	Access     string          `json:"access" yaml:"access"`
	Assignable bool            `json:"assignable" yaml:"assignable"`
	Roles      []string        `json:"roles" yaml:"roles"`
	Operations []operationLine `json:"operations" yaml:"operations"`
}

type operationLine struct {
	Method      string   `json:"method" yaml:"method"`
	Path        string   `json:"path" yaml:"path"`
	OperationID string   `json:"operation_id" yaml:"operation_id"`
	Scopes      []string `json:"scopes" yaml:"scopes"`
}

func newScopesShowCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "show SCOPE",
		Short: "List the Klaviyo operations a scope opens and the roles needing it",
		Long: `List every stable Klaviyo operation that needs a scope (some need other scopes as well,
shown beside them), and the roles whose keys need it.` + exitStatus(exitOK, exitUsage),
		Example:           "  klrbac scopes show data-privacy:write",
		Args:              exactArgs(1, "SCOPE"),
		ValidArgsFunction: firstArgs(1, completeScopes),
		RunE: a.listing(&out, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runScopesShow(a.io, pol, args[0], f)
		}),
	}
	out.register(c, listFormats...)
	return c
}

func runScopesShow(io *ui.IO, pol *policy.Policy, scope string, f ui.Format) error {
	if !catalog.IsAssignable(scope) {
		e := fault.Usagef("unknown Klaviyo scope %q", scope)
		if h := suggest.Hint(suggest.Closest(scope, catalog.AssignableScopes(), 3)); h != "" {
			return e.Hint(h)
		}
		return e.Hint("`klrbac scopes list --all` shows them")
	}
	v := scopeDetailView{Scope: scope, Access: string(catalog.AccessOf(scope)), Assignable: true,
		Roles: nonNil(pol.RolesNeeding(scope)), Operations: []operationLine{}}
	for _, op := range catalog.OperationsNeeding(scope) {
		v.Operations = append(v.Operations, operationLine{op.Method, op.Path, op.ID, op.Scopes})
	}
	if f != ui.Table {
		return io.Encode(f, v)
	}
	fmt.Fprintf(io.Out, "scope:  %s (%s)\n", v.Scope, v.Access)
	fmt.Fprintf(io.Out, "roles:  %s\n\n", ui.JoinOrDash(v.Roles))
	if len(v.Operations) == 0 {
		fmt.Fprintln(io.Out, "no stable Klaviyo operation needs this scope")
		return nil
	}
	rows := make([][]string, len(v.Operations))
	for i, op := range v.Operations {
		var others []string
		for _, s := range op.Scopes {
			if s != scope {
				others = append(others, s)
			}
		}
		rows[i] = []string{op.Method, op.Path, ui.JoinOrDash(others)}
	}
	return io.Table([]string{"METHOD", "PATH", "ALSO NEEDS"}, rows)
}
