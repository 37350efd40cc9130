package cmd

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/proxy"
	"github.com/klrbac/klrbac/internal/proxy/pgtokens"
)

func newProxyCommand(a *app) *cobra.Command {
	var o proxy.RunOptions
	c := &cobra.Command{
		Use:   "proxy [--listen ADDR] [--upstream URL]",
		Short: "Enforce the policy on Klaviyo calls: a gateway between applications and Klaviyo",
		Long: `Run a gateway in front of Klaviyo that enforces the policy on every call.

Applications call the proxy instead of Klaviyo, with a proxy token (klrbac proxy token
create) where they would put a Klaviyo key: Authorization: Klaviyo-API-Key <token> or
Bearer <token>. For each call the proxy finds the token's user, the user's role (the
policy's users: section), the Klaviyo operation the call reaches and the scopes it needs,
including the read scope of every related resource asked for with include=. Only a call
whose role holds them all is forwarded, with the role's key (KLAVIYO_KEY_<ROLE> or the
keyring) in place of the token. Refusals are Klaviyo-shaped JSON:API errors: 401 for no,
unknown, expired or revoked token and for a user without a role, 403 permission_denied,
404 or 405 for an unknown operation, 503 when the role has no key or the call cannot be
audited. Every decision is written to the audit trail, durably, before it is answered.
With the team audit trail (audit.dsn), the tokens are kept in its database too, so that
several proxies share them.

The proxy listens on ` + proxy.DefaultListen + ` unless told otherwise. An address other hosts can
reach needs --tls-cert and --tls-key, or --insecure-listen. SIGHUP, or a change to the
config file, reloads the policy, keys and alert rules; a config that fails validation is
refused and the old one stays in force. GET /healthz and GET /metrics (Prometheus) are
served beside the API; a JSON access log goes to standard error. SIGINT or SIGTERM stops
it gracefully: calls under way finish and the audit trail is flushed.` + exitStatus(
			exitUsage, exitUnavailable, exitInterrupted),
		Example: `  klrbac proxy
  klrbac proxy --listen 0.0.0.0:8790 --tls-cert proxy.crt --tls-key proxy.key
  klrbac proxy --upstream http://127.0.0.1:8788   # in front of klrbac sandbox`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := proxy.CheckListen(o.Listen, o.TLSCert, o.TLSKey, o.InsecureListen); err != nil {
				return err
			}
			cfg, err := a.config()
			if err != nil {
				return err
			}
			ctx, cancel := interruptible(cmd)
			defer cancel()
			// The team trail when audit.dsn is set, else the audit log file, as every command records;
			// the proxy opens the file itself, so that its trail hears of a recovered write.
			db, path, err := a.auditLocation(ctx, nil, pgstore.Options{})
			if err != nil {
				return err
			}
			// With the team trail, the tokens live in its database too, so that every proxy of the
			// team accepts the same ones and a revocation reaches them all.
			if db != nil {
				defer db.Close()
				o.AuditStore, o.AuditLog = db, db.Where()
				o.Tokens = pgtokens.Open(db, pgtokens.Options{})
			} else {
				o.AuditLog = path
				// proxy.OpenTokenFile refuses an empty location, with the settings that give one.
				o.TokensFile = cfg.ProxyTokensFile()
			}
			o.Actor = audit.Actor(os.Getenv)
			o.Loader = proxy.Loader{Config: configOptions(a.configFile, a.globals), OpenStore: openSecrets}
			o.Stderr = a.io.Err
			return proxy.Run(ctx, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.Listen, "listen", proxy.DefaultListen, "address to listen on (host:port)")
	f.StringVar(&o.Upstream, "upstream", "", "Klaviyo API base URL to forward to (default: klaviyo.api_url)")
	f.StringVar(&o.TLSCert, "tls-cert", "", "serve TLS with this PEM certificate (with --tls-key)")
	f.StringVar(&o.TLSKey, "tls-key", "", "serve TLS with this PEM private key (with --tls-cert)")
	f.BoolVar(&o.InsecureListen, "insecure-listen", false, "allow plaintext on an address other hosts can reach")
	c.AddCommand(newProxyTokenCommand(a))
	return c
}
