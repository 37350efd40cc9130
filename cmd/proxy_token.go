package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/proxy"
	"github.com/klrbac/klrbac/internal/proxy/pgtokens"
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
