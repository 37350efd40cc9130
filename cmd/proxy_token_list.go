package cmd

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/proxy"
	"github.com/klrbac/klrbac/internal/ui"
)

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
