package cmd

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/oauthflow"
	"github.com/klrbac/klrbac/internal/secrets"
)

// Completion functions read the same policy the command would, so names complete from the team's
// own config; a broken config completes nothing rather than printing errors into the shell.

// completer completes a positional argument or a flag's value.
type completer = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective)

// complete completes from the names the configuration gives, such as roleNames.
func (a *app) complete(names func(*config.Config) []string) completer {
	return func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		cfg, err := a.config()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(names(cfg), prefix), cobra.ShellCompDirectiveNoFileComp
	}
}

// withPrefix is what completes prefix among names, in their order.
func withPrefix(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

func roleNames(cfg *config.Config) []string       { return cfg.Policy.RoleNames() }
func permissionNames(cfg *config.Config) []string { return cfg.Policy.PermissionNames() }
func userNames(cfg *config.Config) []string       { return cfg.Policy.UserNames() }

// oauthAppNames are the OAuth apps the config defines, and the built-in default app; broken app
// definitions complete none.
func oauthAppNames(cfg *config.Config) []string {
	apps, err := oauthflow.ConfiguredApps(cfg)
	if err != nil {
		return nil
	}
	names := []string{secrets.DefaultApp}
	for _, ap := range apps {
		if ap.Name != secrets.DefaultApp {
			names = append(names, ap.Name)
		}
	}
	return names
}

func completeScopes(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
	return withPrefix(catalog.AssignableScopes(), prefix), cobra.ShellCompDirectiveNoFileComp
}

// firstArgs completes the first n positional arguments with fn and nothing after them.
func firstArgs(n int, fn completer) completer {
	return func(c *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) >= n {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fn(c, args, prefix)
	}
}
