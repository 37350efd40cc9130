package cmd

import (
	"fmt"

	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/spf13/cobra"
)

func newConfigInitCommand(a *app) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "init [FILE]",
		Short: "Write the default policy as a commented config file",
		Long: `Write the default policy, with comments explaining each part, to FILE (default: --config,
$KLRBAC_CONFIG, else $XDG_CONFIG_HOME/klrbac/config.yaml). The file is created with mode
0600. An existing file is never replaced without --force. FILE - writes it to stdout
instead (nothing is written to disk, so nothing is audited).

The audit trail records config.init before the file is written; when that record
cannot be written, nothing is written either (exit 3).` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Example: "  klrbac config init ./klrbac.yaml\n  klrbac config init --force\n  klrbac config init - | less",
		Args:    rangeArgs(0, 1, "at most one FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && args[0] == "-" {
				_, err := a.io.Out.Write(policy.DefaultYAML)
				return err
			}
			opts := configOptions(a.configFile, a.globals)
			var path string
			var err error
			if len(args) == 1 {
				path = args[0]
			} else if path, err = config.InitPath(opts); err != nil {
				return err
			}
			if _, err := a.config(); err != nil {
				// The file being replaced may be the broken one: audit with the settings that do not
				// come from a file (flags, environment, defaults).
				a.cfg, a.cfgErr = config.Parse("", nil, opts.Flags)
			}
			if err := config.InitAudited(cmd.Context(), a.trail, path, force); err != nil {
				return err
			}
			fmt.Fprintf(a.io.Err, "wrote %s\n", path)
			if note := config.Unread(opts, path); note != "" {
				fmt.Fprintf(a.io.Err, "note: %s\n", note)
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "replace an existing file")
	return c
}
