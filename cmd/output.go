package cmd

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
)

// addOutputFlag registers -o/--output with the formats a command supports; the first is the default.
func addOutputFlag(c *cobra.Command, p *string, formats ...ui.Format) {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	c.Flags().StringVarP(p, "output", "o", names[0], "output format: "+strings.Join(names, ", "))
	_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(names, cobra.ShellCompDirectiveNoFileComp))
}

// outputFormat validates the -o value of command c.
func outputFormat(s string, formats ...ui.Format) (ui.Format, error) {
	return ui.ParseFormat(s, formats...)
}

var listFormats = []ui.Format{ui.Table, ui.JSON, ui.YAML}

// listing is the RunE of a command that renders the policy: it checks -o, loads the policy (only
// then: a bad flag is reported even when the config is broken) and hands both to run.
func (a *app) listing(output *string, run func(pol *policy.Policy, f ui.Format, args []string) error) func(*cobra.Command, []string) error {
	return func(_ *cobra.Command, args []string) error {
		f, err := outputFormat(*output, listFormats...)
		if err != nil {
			return err
		}
		pol, err := a.policy()
		if err != nil {
			return err
		}
		return run(pol, f, args)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// nonNil keeps empty lists as [] rather than null in JSON, so consumers need no null checks.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
