package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/ui"
)

func newConfigValidateCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check a config file and report every problem with its line",
		Long: `Check a config file (default: the one klrbac would read) and report every problem, each
with its file:line and a hint, the audit alert rules (audit.alerts) and the OAuth apps
(oauth.apps) included. Nothing is changed.

With -o json or -o yaml the verdict and every problem go to stdout as one document (file,
valid, roles, permissions, users, problems: line, message, hints), for CI; the exit status
is the same.` + exitStatus(exitOK, exitUsage),
		Example: "  klrbac config validate\n  klrbac config validate ./klrbac.yaml\n  klrbac config validate -o json",
		Args:    rangeArgs(0, 1, "at most one FILE"),
		RunE: out.run(func(cmd *cobra.Command, f ui.Format, args []string) error {
			opts := configOptions(a.configFile, a.globals)
			if len(args) == 1 {
				opts.File = args[0]
			}
			cfg, err := config.Load(opts)
			if err == nil {
				err = checkStructured(cfg)
			}
			if f != ui.Table {
				return renderConfigValidate(a.io, f, opts, cfg, err)
			}
			if err != nil {
				return err
			}
			src := cfg.File
			if src == "" {
				src = "no config file; the embedded default"
			}
			fmt.Fprintf(a.io.Out, "%s: valid (%s)\n", src, cfg.Policy.Counts())
			return nil
		}),
	}
	out.register(c, listFormats...)
	return c
}

// renderConfigValidate prints config validate's verdict as one document. A file with problems still
// exits 2, silently: the problems are in the document.
func renderConfigValidate(io *ui.IO, f ui.Format, opts config.Options, cfg *config.Config, err error) error {
	if rerr := io.Encode(f, config.Judged(opts, cfg, err)); rerr != nil {
		return rerr
	}
	if err != nil {
		kind := fault.KindOf(err)
		if kind == fault.Unclassified {
			kind = fault.Config
		}
		return fault.Silent(kind)
	}
	return nil
}
