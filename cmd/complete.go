package cmd

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
)

// Completion functions read the same policy the command would, so names complete from the team's
// own config; a broken config completes nothing rather than printing errors into the shell.

func (a *app) completeNames(names func(*policy.Policy) []string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		pol, err := a.policy()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, n := range names(pol) {
			if strings.HasPrefix(n, prefix) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func (a *app) completeRoles() func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return a.completeNames((*policy.Policy).RoleNames)
}

func (a *app) completePermissions() func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return a.completeNames((*policy.Policy).PermissionNames)
}

func (a *app) completeUsers() func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return a.completeNames((*policy.Policy).UserNames)
}

func completeScopes(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, s := range catalog.AssignableScopes() {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// firstArgs completes the first n positional arguments with fn and nothing after them.
func firstArgs(n int, fn func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective)) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(c *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) >= n {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fn(c, args, prefix)
	}
}

// completeOAuthApps completes the OAuth apps the config defines, and the built-in default app.
func (a *app) completeOAuthApps() func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		apps, err := a.oauthApps()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := []string{secrets.DefaultApp}
		for _, ap := range apps {
			if ap.Name != secrets.DefaultApp {
				names = append(names, ap.Name)
			}
		}
		var out []string
		for _, n := range names {
			if strings.HasPrefix(n, prefix) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
