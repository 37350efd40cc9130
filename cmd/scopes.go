package cmd

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/suggest"
	"github.com/klrbac/klrbac/internal/ui"
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

func newScopesListCommand(a *app) *cobra.Command {
	var output string
	var all bool
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List scopes with their access, operation count and the roles needing them",
		Long: `List the scopes Klaviyo's stable operations use: read or write, how many operations need each,
and which roles' keys need it. --all adds the scopes a private key can hold that no stable
operation uses (such as credentials:read).` + exitStatus(exitOK, exitUsage),
		Args: cobra.NoArgs,
		RunE: a.listing(&output, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runScopesList(a.io, pol, all, f)
		}),
	}
	c.Flags().BoolVar(&all, "all", false, "include every scope a private key can hold")
	addOutputFlag(c, &output, listFormats...)
	return c
}

func runScopesList(io *ui.IO, pol *policy.Policy, all bool, f ui.Format) error {
	var views []scopeView
	used := map[string]bool{}
	for _, s := range catalog.Scopes() {
		used[s.Name] = true
		views = append(views, scopeView{Scope: s.Name, Access: string(s.Access), Operations: s.Operations, Roles: nonNil(pol.RolesNeeding(s.Name))})
	}
	if all {
		for _, s := range catalog.AssignableScopes() {
			if !used[s] {
				views = append(views, scopeView{Scope: s, Access: string(catalog.AccessOf(s)), Roles: nonNil(pol.RolesNeeding(s))})
			}
		}
	}
	if f != ui.Table {
		return io.Encode(f, views)
	}
	rows := make([][]string, len(views))
	for i, v := range views {
		rows[i] = []string{v.Scope, v.Access, fmt.Sprint(v.Operations), dash(v.Roles)}
	}
	return io.Table([]string{"SCOPE", "ACCESS", "OPERATIONS", "ROLES"}, rows)
}

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
	var output string
	c := &cobra.Command{
		Use:   "show SCOPE",
		Short: "List the Klaviyo operations a scope opens and the roles needing it",
		Long: `List every stable Klaviyo operation that needs a scope (some need other scopes as well,
shown beside them), and the roles whose keys need it.` + exitStatus(exitOK, exitUsage),
		Example:           "  klrbac scopes show data-privacy:write",
		Args:              exactArgs(1, "SCOPE"),
		ValidArgsFunction: firstArgs(1, completeScopes),
		RunE: a.listing(&output, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runScopesShow(a.io, pol, args[0], f)
		}),
	}
	addOutputFlag(c, &output, listFormats...)
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
	fmt.Fprintf(io.Out, "roles:  %s\n\n", dash(v.Roles))
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
		rows[i] = []string{op.Method, op.Path, dash(others)}
	}
	return io.Table([]string{"METHOD", "PATH", "ALSO NEEDS"}, rows)
}

// operationView is the JSON and YAML shape of `scopes for`.
type operationView struct {
	Method      string   `json:"method" yaml:"method"`
	Path        string   `json:"path" yaml:"path"`
	OperationID string   `json:"operation_id" yaml:"operation_id"`
	Scopes      []string `json:"scopes" yaml:"scopes"`
	Beta        bool     `json:"beta" yaml:"beta"`
	PublicKey   bool     `json:"public_key" yaml:"public_key"`
	RateTier    string   `json:"rate_tier" yaml:"rate_tier"`
	RateBurst   int      `json:"rate_burst" yaml:"rate_burst"`
	RateSteady  int      `json:"rate_steady" yaml:"rate_steady"`
	Roles       []string `json:"roles" yaml:"roles"`
}

func newScopesForCommand(a *app) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "for METHOD PATH",
		Short: "Show the scopes a Klaviyo API call needs",
		Long: `Show the scopes a Klaviyo API call needs, and which roles' scopes cover it. PATH may be
concrete (/api/profiles/01HXYZ), a template (/api/profiles/{id}) or a full URL.` + exitStatus(exitOK, exitUsage),
		Example: "  klrbac scopes for GET /api/profiles/01HXYZ\n  klrbac scopes for 'POST /api/data-privacy-deletion-jobs'",
		Args:    rangeArgs(1, 2, "METHOD PATH"),
		ValidArgsFunction: func(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			switch len(args) {
			case 0:
				return completeMethods(prefix), cobra.ShellCompDirectiveNoFileComp
			case 1:
				return completeCalls(strings.ToUpper(args[0])+" ", prefix), cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: a.listing(&output, func(pol *policy.Policy, f ui.Format, args []string) error {
			method, path, err := splitCall(args)
			if err != nil {
				return err
			}
			return runScopesFor(a.io, pol, method, path, f)
		}),
	}
	addOutputFlag(c, &output, listFormats...)
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

func runScopesFor(io *ui.IO, pol *policy.Policy, method, path string, f ui.Format) error {
	op, err := findOperation(method, path)
	if err != nil {
		return err
	}
	v := operationView{
		Method: op.Method, Path: op.Path, OperationID: op.ID, Scopes: nonNil(op.Scopes), Beta: op.Beta,
		PublicKey: op.PublicKey, RateTier: op.Tier(), RateBurst: op.Burst, RateSteady: op.Steady, Roles: []string{},
	}
	if !op.PublicKey {
		for _, r := range pol.Roles {
			if pol.DecideOperation(r, op).Allowed {
				v.Roles = append(v.Roles, r.Name)
			}
		}
	}
	if f != ui.Table {
		return io.Encode(f, v)
	}
	fmt.Fprintf(io.Out, "operation:  %s (%s %s)\n", v.OperationID, v.Method, v.Path)
	fmt.Fprintf(io.Out, "scopes:     %s\n", dash(v.Scopes))
	fmt.Fprintf(io.Out, "rate limit: %s (%d/s burst, %d/m steady)\n", v.RateTier, v.RateBurst, v.RateSteady)
	if op.Beta {
		fmt.Fprintf(io.Out, "revision:   beta: needs a .pre revision\n")
	}
	if op.PublicKey {
		fmt.Fprintf(io.Out, "auth:       public key (company_id); no private key scopes apply\n")
		return nil
	}
	fmt.Fprintf(io.Out, "roles:      %s\n", dash(v.Roles))
	return nil
}
