package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/proxy"
)

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
