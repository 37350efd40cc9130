package cmd

import (
	"fmt"
	"strings"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
)

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
	var out outputFlag
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
		RunE: a.listing(&out, func(pol *policy.Policy, f ui.Format, args []string) error {
			method, path, err := catalog.ParseCall(args...)
			if err != nil {
				return err
			}
			return runScopesFor(a.io, pol, method, path, f)
		}),
	}
	out.register(c, listFormats...)
	return c
}

func runScopesFor(io *ui.IO, pol *policy.Policy, method, path string, f ui.Format) error {
	op, err := catalog.Lookup(method, path)
	if err != nil {
		return err
	}
	v := operationView{
		Method: op.Method, Path: op.Path, OperationID: op.ID, Scopes: nonNil(op.Scopes), Beta: op.Beta,
		PublicKey: op.PublicKey, RateTier: op.Tier(), RateBurst: op.Burst, RateSteady: op.Steady, Roles: []string{},
	}
	// A public-key operation takes no private key, so no role's scopes apply to it.
	if !op.PublicKey {
		v.Roles = nonNil(pol.RolesAllowed(op))
	}
	if f != ui.Table {
		return io.Encode(f, v)
	}
	fmt.Fprintf(io.Out, "operation:  %s (%s %s)\n", v.OperationID, v.Method, v.Path)
	fmt.Fprintf(io.Out, "scopes:     %s\n", ui.JoinOrDash(v.Scopes))
	fmt.Fprintf(io.Out, "rate limit: %s (%d/s burst, %d/m steady)\n", v.RateTier, v.RateBurst, v.RateSteady)
	if op.Beta {
		fmt.Fprintf(io.Out, "revision:   beta: needs a .pre revision\n")
	}
	if op.PublicKey {
		fmt.Fprintf(io.Out, "auth:       public key (company_id); no private key scopes apply\n")
		return nil
	}
	fmt.Fprintf(io.Out, "roles:      %s\n", ui.JoinOrDash(v.Roles))
	return nil
}
