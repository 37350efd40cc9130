package cmd

import (
	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
)

func newConfigShowCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration",
		Long: `Print the effective configuration: every setting after flags, environment and file are
applied, the alert rules and OAuth apps, then the policy. The YAML form is itself a valid
config file, with a comment on each setting that does not come from the default saying
where it comes from. Webhook URLs are shown by scheme and host only, since the rest of
such a URL often carries a token.` + exitStatus(exitOK, exitUsage),
		Args: noArgs,
		RunE: out.run(func(cmd *cobra.Command, f ui.Format, _ []string) error {
			cfg, err := a.config()
			if err != nil {
				return err
			}
			if err := checkStructured(cfg); err != nil {
				return err
			}
			return runConfigShow(a.io, cfg, f)
		}),
	}
	out.register(c, ui.YAML, ui.JSON)
	return c
}

func runConfigShow(io *ui.IO, cfg *config.Config, f ui.Format) error {
	if f != ui.JSON {
		return io.YAML(cfg.EffectiveYAML())
	}
	doc, err := cfg.Effective()
	if err != nil {
		return err
	}
	return io.JSON(doc)
}
