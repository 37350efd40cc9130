package cmd

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/oauthflow"
)

func newConfigCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Create, locate, show and validate the config file",
		Long: `Create, locate, show and validate klrbac's config file: the policy (permissions, roles,
users) and settings (klaviyo, audit, keyring, oauth).

klrbac reads the first of: --config FILE, $KLRBAC_CONFIG, ./klrbac.yaml,
$XDG_CONFIG_HOME/klrbac/config.yaml. With none, the embedded default policy applies.
For each setting a flag beats the environment, which beats the file, which beats the
default.` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Args: noArgs,
	}
	c.AddCommand(newConfigInitCommand(a), newConfigPathCommand(a), newConfigShowCommand(a), newConfigValidateCommand(a))
	return c
}

// checkStructured checks the settings their own packages read (the alert rules, the OAuth apps),
// which loading the config leaves until a command needs them, so that validate, show and doctor
// judge the whole file.
func checkStructured(cfg *config.Config) error {
	_, alertsErr := cfg.AlertRules()
	_, appsErr := oauthflow.ConfiguredApps(cfg)
	return errors.Join(alertsErr, appsErr)
}
