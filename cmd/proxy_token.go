package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/proxy"
	"github.com/klrbac/klrbac/internal/proxy/pgtokens"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/klrbac/klrbac/internal/warn"
)

// Audit actions of the token commands.
const (
	actionProxyTokenCreate = "proxy.token.create"
	actionProxyTokenRevoke = "proxy.token.revoke"
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

// proxyTokens is where the proxy tokens are: the team audit trail's database when audit.dsn is set,
// as the proxy finds them, else the token file. done releases the database's connections.
func (a *app) proxyTokens(ctx context.Context) (store proxy.TokenStore, done func(), err error) {
	db, err := a.auditDB(ctx, pgstore.Options{})
	if err != nil {
		return nil, nil, err
	}
	if db != nil {
		return pgtokens.Open(db, pgtokens.Options{}), db.Close, nil
	}
	cfg, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	path, err := proxyTokensPath(cfg)
	if err != nil {
		return nil, nil, err
	}
	file, err := proxy.OpenTokenFile(path, nil)
	if err != nil {
		return nil, nil, err
	}
	return file, func() {}, nil
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
			return a.runProxyTokenCreate(cmd.Context(), store, args[0], name, d, pol.User)
		},
	}
	c.Flags().StringVar(&ttl, "ttl", "90d", "how long the token is valid: days (90d) or a duration (12h)")
	c.Flags().StringVar(&name, "name", "", "a label for the token, shown by list")
	return c
}

func (a *app) runProxyTokenCreate(ctx context.Context, store proxy.TokenStore, user, name string, ttl time.Duration, lookup func(string) (policy.User, bool)) error {
	if err := a.trail().Ready(ctx, actionProxyTokenCreate, user); err != nil {
		return err
	}
	secret, tok, err := store.Create(ctx, user, name, ttl)
	if err != nil {
		return err
	}
	_, err = a.trail().Record(ctx, audit.Entry{Action: actionProxyTokenCreate, Resource: user, Success: true,
		Fingerprint: mask.Fingerprint(secret), Reason: fmt.Sprintf("token %s, expires %s", tok.ID, tok.Expires.Format(time.RFC3339))})
	if err != nil {
		// Unrecorded, the token must not work: take it back before saying why.
		if _, rerr := store.Revoke(context.WithoutCancel(ctx), tok.ID); rerr != nil {
			warn.Printf(a.io.Err, "token %s was made but could not be revoked: %v", tok.ID, rerr)
		}
		return a.trail().Refuse(actionProxyTokenCreate, user, err)
	}
	fmt.Fprintln(a.io.Out, secret)
	role := "none"
	if u, ok := lookup(user); ok {
		role = u.Role
	}
	fmt.Fprintf(a.io.Err, "klrbac: proxy token %s for %s (role %s), expires %s; it is not shown again\n", tok.ID, user, role, tok.Expires.Format(time.RFC3339))
	if role == "none" {
		warn.Printf(a.io.Err, "the policy maps no role to %s: the proxy answers its calls 401 until users: does", user)
	}
	return nil
}

// proxyTokenView is the JSON and YAML shape of a token in `proxy token list`.
type proxyTokenView struct {
	ID       string `json:"id" yaml:"id"`
	User     string `json:"user" yaml:"user"`
	Name     string `json:"name" yaml:"name"`
	State    string `json:"state" yaml:"state"`
	Created  string `json:"created" yaml:"created"`
	Expires  string `json:"expires" yaml:"expires"`
	LastUsed string `json:"last_used" yaml:"last_used"`
}

func newProxyTokenListCommand(a *app) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Show the proxy tokens: id, user, name, state, created, expiry and last use",
		Long: `Show every proxy token: its id, user, name, state (active, expired, revoked), when it was
created, when it expires and when a proxy last accepted it (saved every 30 seconds and at
shutdown). Never the token itself: klrbac does not have it.` + exitStatus(exitOK, exitUsage, exitUnavailable),
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := outputFormat(output, listFormats...)
			if err != nil {
				return err
			}
			store, done, err := a.proxyTokens(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			return runProxyTokenList(cmd.Context(), a.io, store, time.Now(), f)
		},
	}
	addOutputFlag(c, &output, listFormats...)
	return c
}

func runProxyTokenList(ctx context.Context, io *ui.IO, store proxy.TokenStore, now time.Time, f ui.Format) error {
	tokens, err := store.List(ctx)
	if err != nil {
		return err
	}
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	views := make([]proxyTokenView, len(tokens))
	for i, t := range tokens {
		views[i] = proxyTokenView{ID: t.ID, User: t.User, Name: t.Name, State: t.State(now),
			Created: stamp(t.Created), Expires: stamp(t.Expires), LastUsed: stamp(t.LastUsed)}
	}
	if f != ui.Table {
		return io.Encode(f, views)
	}
	rows := make([][]string, len(views))
	for i, v := range views {
		rows[i] = []string{v.ID, v.User, orDash(v.Name), v.State, v.Created, orDash(v.Expires), orDash(v.LastUsed)}
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
			ref := args[0]
			if proxy.LooksLikeToken(ref) || mask.LooksSecret(ref) {
				ref = "(credential-shaped argument)"
			}
			var revoked []proxy.Token
			err = a.trail().Audited(ctx, audit.Entry{Action: actionProxyTokenRevoke, Resource: ref}, func() error {
				var err error
				revoked, err = store.Revoke(ctx, args[0])
				return err
			})
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
