package cmd

import (
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/spf13/cobra"
)

func newOAuthRmSecretCommand(a *app) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "rm-secret [APP]",
		Short: "Remove an OAuth app's client secret from the OS keyring",
		Long: `Remove the client secret of OAuth app APP (default "default") from the OS keyring. On a
terminal klrbac asks first unless --yes is given; without a terminal it refuses unless
--yes is given (exit 2).` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Args: rangeArgs(0, 1, "at most one APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, err := appArg(args)
			if err != nil {
				return err
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			return secrets.RemoveCredentials(cmd.Context(), store, []secrets.Credential{secrets.ClientSecretCredential(app)}, yes, terminal{a.io}, a.trail())
		},
	}
	c.Flags().BoolVarP(&yes, "yes", "y", false, "remove without asking")
	return c
}
