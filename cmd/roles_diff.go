package cmd

import (
	"fmt"
	"slices"

	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
)

func newRolesDiffCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "diff ROLE_A ROLE_B",
		Short: "Show the permissions and scopes only one of two roles has",
		Long: `Compare two roles: the permissions and Klaviyo scopes that only one of them has.
Shared ones are left out of the table (and listed in JSON).` + exitStatus(exitOK, exitUsage),
		Example:           "  klrbac roles diff marketer developer",
		Args:              exactArgs(2, "ROLE_A ROLE_B"),
		ValidArgsFunction: firstArgs(2, a.complete(roleNames)),
		RunE: a.listing(&out, func(pol *policy.Policy, f ui.Format, args []string) error {
			return runRolesDiff(a.io, pol, args[0], args[1], f)
		}),
	}
	out.register(c, listFormats...)
	return c
}

func runRolesDiff(io *ui.IO, pol *policy.Policy, nameA, nameB string, f ui.Format) error {
	ra, err := pol.LookupRole(nameA)
	if err != nil {
		return err
	}
	rb, err := pol.LookupRole(nameB)
	if err != nil {
		return err
	}
	d := pol.Diff(ra, rb)
	if f != ui.Table {
		return io.Encode(f, d)
	}
	if len(d.OnlyAPerms)+len(d.OnlyBPerms)+len(d.OnlyAScopes)+len(d.OnlyBScopes) == 0 {
		fmt.Fprintf(io.Out, "roles %s and %s grant the same permissions and scopes\n", d.A, d.B)
		return nil
	}
	var rows [][]string
	add := func(kind string, onlyA, onlyB []string) {
		for _, x := range slices.Sorted(slices.Values(append(slices.Clone(onlyA), onlyB...))) {
			rows = append(rows, []string{kind, x, io.Mark(slices.Contains(onlyA, x)), io.Mark(slices.Contains(onlyB, x))})
		}
	}
	add("permission", d.OnlyAPerms, d.OnlyBPerms)
	add("scope", d.OnlyAScopes, d.OnlyBScopes)
	return io.Table([]string{"KIND", "NAME", d.A, d.B}, rows)
}
