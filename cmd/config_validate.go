package cmd

import (
	"fmt"

	"github.com/klrbac/klrbac/internal/config"
	"github.com/spf13/cobra"
)

func newConfigValidateCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check a config file and report every problem with its line",
		Long: `Check a config file (default: the one klrbac would read) and report every problem, each
with its file:line and a hint, the audit alert rules (audit.alerts) and the OAuth apps
(oauth.apps) included. Nothing is changed.` + exitStatus(exitOK, exitUsage),
		Example: "  klrbac config validate\n  klrbac config validate ./klrbac.yaml",
		Args:    rangeArgs(0, 1, "at most one FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := configOptions(a.configFile, a.globals)
			if len(args) == 1 {
				opts.File = args[0]
			}
			cfg, err := config.Load(opts)
			if err != nil {
				return err
			}
			if err := checkStructured(cfg); err != nil {
				return err
			}
			src := cfg.File
			if src == "" {
				src = "no config file; the embedded default"
			}
			p := cfg.Policy
			fmt.Fprintf(a.io.Out, "%s: valid (%s)\n", src, p.Counts())
			return nil
		},
	}
	return c
}
