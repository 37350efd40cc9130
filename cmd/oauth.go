package cmd

import (
	"github.com/spf13/cobra"
)

func newOAuthCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "oauth",
		Short: "Keep OAuth apps' client secrets in the OS keyring",
		Long: `Work with Klaviyo OAuth apps. An app's client secret and token set live in the OS keyring
(items "oauth-client:<app>" and "oauth-token:<app>" of service "klrbac"), never in a file.
KLAVIYO_OAUTH_CLIENT_SECRET beats the keyring.` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Args: cobra.NoArgs,
	}
	c.AddCommand(newOAuthSetSecretCommand(a), newOAuthRmSecretCommand(a))
	return c
}
