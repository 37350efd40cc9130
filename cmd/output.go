package cmd

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/ui"
)

// outputFlag is a command's -o/--output, and the formats the command supports.
type outputFlag struct {
	value   string
	formats []ui.Format
}

// register adds -o/--output to c with the formats it supports; the first is the default.
func (o *outputFlag) register(c *cobra.Command, formats ...ui.Format) {
	o.formats = formats
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	c.Flags().StringVarP(&o.value, "output", "o", names[0], "output format: "+strings.Join(names, ", "))
	_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(names, cobra.ShellCompDirectiveNoFileComp))
}

// run is the RunE of a command with -o: it checks -o before anything else is done or loaded, so a bad
// flag is reported even when the config is broken, and hands the format to run.
func (o *outputFlag) run(run func(cmd *cobra.Command, f ui.Format, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		f, err := ui.ParseFormat(o.value, o.formats...)
		if err != nil {
			return err
		}
		return run(cmd, f, args)
	}
}

var listFormats = []ui.Format{ui.Table, ui.JSON, ui.YAML}

// listing is the RunE of a command that renders the policy: once -o is checked it loads the policy
// and hands both to run.
func (a *app) listing(out *outputFlag, run func(pol *policy.Policy, f ui.Format, args []string) error) func(*cobra.Command, []string) error {
	return out.run(func(_ *cobra.Command, f ui.Format, args []string) error {
		pol, err := a.policy()
		if err != nil {
			return err
		}
		return run(pol, f, args)
	})
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
