package cmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/proxy"
	"github.com/klrbac/klrbac/internal/warn"
)

func newProxyTokenCreateCommand(a *app) *cobra.Command {
	var ttl, name string
	c := &cobra.Command{
		Use:   "create USER [--ttl 90d] [--name N]",
		Short: "Make a proxy token for a user and print it, once",
		Long: `Make a proxy token for USER, valid for --ttl (days as 90d, or a duration such as 12h), and
print it on standard output. This is the only time the token is shown: klrbac keeps only
its hash. Its id, expiry and the user's role go to standard error. The creation is
audited (proxy.token.create) with the token's fingerprint, and refused when it cannot be
(exit 3).` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Example: `  klrbac proxy token create crm-sync --name "CRM sync" > token.txt`,
		Args:    exactArgs(1, "USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := proxy.ParseTTL(ttl)
			if err != nil {
				return err
			}
			pol, err := a.policy()
			if err != nil {
				return err
			}
			store, done, err := a.proxyTokens(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			user := args[0]
			secret, tok, err := proxy.CreateToken(cmd.Context(), a.trail(), store, user, name, d, a.io.Err)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.io.Out, secret)
			role := "none"
			if u, ok := pol.User(user); ok {
				role = u.Role
			}
			fmt.Fprintf(a.io.Err, "klrbac: proxy token %s for %s (role %s), expires %s; it is not shown again\n", tok.ID, user, role, tok.Expires.Format(time.RFC3339))
			if role == "none" {
				warn.Printf(a.io.Err, "the policy maps no role to %s: the proxy answers its calls 401 until users: does", user)
			}
			return nil
		},
	}
	c.Flags().StringVar(&ttl, "ttl", "90d", "how long the token is valid: days (90d) or a duration (12h)")
	c.Flags().StringVar(&name, "name", "", "a label for the token, shown by list")
	return c
}
