package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/proxy"
	"github.com/klrbac/klrbac/internal/proxy/pgtokens"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/klrbac/klrbac/internal/warn"
)

func newProxyTokenCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke the tokens callers present to klrbac proxy",
		Long: `Manage proxy tokens: what applications present to klrbac proxy instead of a Klaviyo key.
A token belongs to a user; the policy's users: section gives the user a role. Only a hash
of each token is kept, in proxy.tokens_file (KLRBAC_PROXY_TOKENS, by default
$XDG_STATE_HOME/klrbac/proxy-tokens), or, with the team audit trail (audit.dsn), in its
database, where every proxy of the team finds them. Tokens start with ` + proxy.TokenPrefix + `,
which no Klaviyo credential does.` + exitStatus(exitOK, exitUsage),
		Args: noArgs,
	}
	c.AddCommand(newProxyTokenCreateCommand(a), newProxyTokenListCommand(a), newProxyTokenRevokeCommand(a))
	return c
}

// proxyTokens is where the proxy tokens are, as the proxy finds them. done releases the store.
func (a *app) proxyTokens(ctx context.Context) (store proxy.TokenStore, done func(), err error) {
	db, err := a.auditDB(ctx, pgstore.Options{})
	if err != nil {
		return nil, nil, err
	}
	return pgtokens.Choose(db, func() (string, error) {
		cfg, err := a.config()
		if err != nil {
			return "", err
		}
		return cfg.ProxyTokensFile(), nil
	})
}

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

func newProxyTokenListCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Show the proxy tokens: id, user, name, state, created, expiry and last use",
		Long: `Show every proxy token: its id, user, name, state (active, expired, revoked), when it was
created, when it expires and when a proxy last accepted it (saved every 30 seconds and at
shutdown). Never the token itself: klrbac does not have it.` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Args: noArgs,
		RunE: out.run(func(cmd *cobra.Command, f ui.Format, _ []string) error {
			store, done, err := a.proxyTokens(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			return runProxyTokenList(cmd.Context(), a.io, store, time.Now(), f)
		}),
	}
	out.register(c, listFormats...)
	return c
}

func runProxyTokenList(ctx context.Context, io *ui.IO, store proxy.TokenStore, now time.Time, f ui.Format) error {
	views, err := proxy.ListTokens(ctx, store, now)
	if err != nil {
		return err
	}
	if f != ui.Table {
		return io.Encode(f, views)
	}
	rows := make([][]string, len(views))
	for i, v := range views {
		rows[i] = []string{v.ID, v.User, ui.OrDash(v.Name), v.State, v.Created, ui.OrDash(v.Expires), ui.OrDash(v.LastUsed)}
	}
	return io.Table([]string{"ID", "USER", "NAME", "STATE", "CREATED", "EXPIRES", "LAST USED"}, rows)
}

func newProxyTokenRevokeCommand(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "revoke ID|USER",
		Short: "Revoke a proxy token by id, or every token of a user",
		Long: `Revoke the proxy token with id ID, or every active token of USER. Running proxies refuse a
revoked token within a second. Revoked tokens stay listed. The revocation is audited
(proxy.token.revoke), and not made when it cannot be (exit 3).` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Example: "  klrbac proxy token revoke pt-3f9a0c1b2d4e\n  klrbac proxy token revoke crm-sync",
		Args:    exactArgs(1, "ID or USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			store, done, err := a.proxyTokens(ctx)
			if err != nil {
				return err
			}
			defer done()
			revoked, err := proxy.RevokeTokens(ctx, a.trail(), store, args[0])
			if err != nil {
				return err
			}
			ids := make([]string, len(revoked))
			for i, t := range revoked {
				ids[i] = t.ID + " (" + t.User + ")"
			}
			fmt.Fprintf(a.io.Err, "klrbac: revoked %s\n", strings.Join(ids, ", "))
			return nil
		},
	}
	return c
}
