package cmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/config"
	"github.com/spf13/cobra"
)

func newConfigInitCommand(a *app) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "init [FILE]",
		Short: "Write the default policy as a commented config file",
		Long: `Write the default policy, with comments explaining each part, to FILE (default: --config,
$KLRBAC_CONFIG, else $XDG_CONFIG_HOME/klrbac/config.yaml). The file is created with mode
0600. An existing file is never replaced without --force.

The audit trail records config.init before the file is written; when that record
cannot be written, nothing is written either (exit 3).` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Example: "  klrbac config init ./klrbac.yaml\n  klrbac config init --force",
		Args:    rangeArgs(0, 1, "at most one FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			} else if paths, explicit := config.Candidates(configOptions(a.configFile, a.globals)); explicit {
				path = paths[0]
			} else {
				p, err := config.DefaultPath()
				if err != nil {
					return err
				}
				path = p
			}
			return runConfigInit(cmd.Context(), a, path, force)
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "replace an existing file")
	return c
}

func runConfigInit(ctx context.Context, a *app, path string, force bool) error {
	if _, err := a.config(); err != nil {
		// The file being replaced may be the broken one: audit with the settings that do not come
		// from a file (flags, environment, defaults).
		a.cfg, a.cfgErr = config.Parse("", nil, configOptions(a.configFile, a.globals).Flags)
	}
	// A refusal is decided before the audit entry, so the log never records an init that did not happen.
	if err := config.CheckInit(path, force); err != nil {
		return err
	}
	resource := path
	if abs, err := filepath.Abs(path); err == nil {
		resource = abs
	}
	reason := "writing the default policy"
	if force {
		reason += ", replacing any existing file"
	}
	err := a.trail().Audited(ctx, audit.Entry{Action: "config.init", Resource: resource, Reason: reason}, func() error {
		return config.Init(path, force)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.io.Err, "wrote %s\n", path)
	// A file written where the search does not reach it first is easy to edit in vain.
	candidates, _ := config.Candidates(configOptions(a.configFile, a.globals))
	if !slices.ContainsFunc(candidates, func(c string) bool { return samePath(c, path) }) {
		fmt.Fprintf(a.io.Err, "note: klrbac reads it only when named: --config %s or KLRBAC_CONFIG=%s\n", path, path)
	} else if found, err := config.Find(configOptions(a.configFile, a.globals)); err == nil && !samePath(found, path) {
		fmt.Fprintf(a.io.Err, "note: %s comes first in the search here, so klrbac reads that file, not this one (klrbac config path shows which)\n", found)
	}
	return nil
}

// samePath reports whether two paths name the same file.
func samePath(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}
