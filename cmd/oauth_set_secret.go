package cmd

import (
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/spf13/cobra"
)

func appArg(args []string) (string, error) {
	app := secrets.DefaultApp
	if len(args) == 1 {
		app = args[0]
	}
	return app, secrets.CheckAppName(app)
}

func newOAuthSetSecretCommand(a *app) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "set-secret [APP]",
		Short: "Store an OAuth app's client secret in the OS keyring",
		Long: `Store the client secret of OAuth app APP (default "default") in the OS keyring, as item
"oauth-client:APP" of service "klrbac". Klaviyo's token endpoint authenticates the app
with it, so a terminal login needs it.

On a terminal the secret is read from a prompt that does not echo it; otherwise from
standard input; never from an argument. A stored secret is replaced only after a yes on
the terminal, or with --force; without a terminal and without --force klrbac refuses
(exit 2). When the keyring is off or cannot be reached nothing is written (exit 3).` + exitStatus(
			exitOK, exitUsage, exitUnavailable, exitInterrupted),
		Example: `  klrbac oauth set-secret
  klrbac oauth set-secret crm-sync < client-secret.txt`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return fault.Usagef("oauth set-secret takes only APP: a secret is never taken as an argument").
					Hint("type it at the prompt, or pipe it in: klrbac oauth set-secret APP < file")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			app, err := appArg(args)
			if err != nil {
				return err
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			return secrets.StoreCredential(cmd.Context(), store, secrets.ClientSecretCredential(app), force, terminal{a.io}, a.trail())
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "replace a stored secret without asking")
	return c
}
