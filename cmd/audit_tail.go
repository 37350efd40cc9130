package cmd

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/ui"
)

func newAuditTailCommand(a *app) *cobra.Command {
	var q audit.TailQuery
	var out outputFlag
	var since string
	c := &cobra.Command{
		Use:   "tail [FILE]",
		Short: "Print the last audit entries; -f follows new ones",
		Long: `Print the last entries of the audit log (default 10), oldest first, reading from the end
of the file: a long log costs no more than a short one.

-f keeps printing entries as they are appended, and carries on across rotation (the
file renamed and a new one started) and truncation, as tail -F does; Ctrl-C stops it
(exit 130). Filters narrow both the last entries and the followed ones: --user, --role
and --action take exact names or patterns with * (--action 'keys.*'); --since takes a
duration (90m, 36h, 7d) or a time (2026-05-01, 2026-05-01T09:00:00Z), and without -n
prints every entry since then.

The table's columns fit the entries printed; on a terminal it also fits the terminal's
width, long values losing their middle to an ellipsis. With -f, later entries are cut
to the columns of the first ones. -o json prints each entry's line exactly as stored,
in full, one per line, for jq. Lines that are not entries (a torn write) are skipped
with a note on stderr.` + exitStatus(exitOK, exitUsage, exitUnavailable, exitInterrupted),
		Example: `  klrbac audit tail
  klrbac audit tail -n 50 --failed
  klrbac audit tail -f --action 'keys.*'
  klrbac audit tail --since 24h --role admin -o json | jq -r .userId | sort | uniq -c`,
		Args: rangeArgs(0, 1, "at most one FILE"),
		RunE: out.run(func(cmd *cobra.Command, f ui.Format, args []string) error {
			if q.Failed && q.Succeeded {
				return fault.Usagef("--failed and --succeeded exclude each other").Hint("give one, or neither for both")
			}
			if q.N < 0 {
				return fault.Usagef("-n must be 0 or more, not %d", q.N).
					Hint("-n 0 prints none (with -f: only new entries); for every entry since a time use --since, e.g. --since 7d")
			}
			if since != "" {
				var err error
				if q.Since, err = audit.ParseSince(since, time.Now()); err != nil {
					return err
				}
				if !cmd.Flags().Changed("lines") {
					q.N = -1
				}
			}
			ctx := cmd.Context()
			if q.Follow {
				c, stop := interruptible(cmd)
				defer stop()
				ctx = c
			}
			db, path, err := a.auditLocation(ctx, args, pgstore.Options{})
			if err != nil {
				return err
			}
			p := a.io.NewAuditTail(f, q.Follow)
			if db != nil {
				defer db.Close()
				err = db.Tail(ctx, q, p, a.io.Notice)
			} else {
				err = audit.TailFile(ctx, path, q, p, a.io.Notice)
			}
			if q.Follow && ctx.Err() != nil {
				// Ctrl-C is how following ends: exit 130, without an error message.
				return &fault.Error{Kind: fault.Interrupted, Silent: true}
			}
			return err
		}),
	}
	fl := c.Flags()
	fl.IntVarP(&q.N, "lines", "n", 10, "how many of the last entries to print (0: none, e.g. with -f)")
	fl.BoolVarP(&q.Follow, "follow", "f", false, "keep printing entries as they are appended, across rotation and truncation")
	fl.StringVarP(&q.User, "user", "u", "", "only entries of this actor (userId); * matches anything")
	fl.StringVarP(&q.Role, "role", "r", "", "only entries about this role; * matches anything")
	fl.StringVarP(&q.Action, "action", "a", "", "only this action, e.g. check or 'keys.*'")
	fl.BoolVar(&q.Failed, "failed", false, "only entries whose success is false (denied or failed)")
	fl.BoolVar(&q.Succeeded, "succeeded", false, "only entries whose success is true")
	fl.BoolVar(&q.Alerts, "alerts", false, "only entries that matched an alert rule")
	fl.StringVar(&since, "since", "", "only entries since a time or for a duration: 2026-05-01, 2026-05-01T09:00:00Z, 90m, 7d")
	out.register(c, ui.Table, ui.JSON)
	_ = c.RegisterFlagCompletionFunc("role", a.complete(roleNames))
	_ = c.RegisterFlagCompletionFunc("action", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return auditActions(), cobra.ShellCompDirectiveNoFileComp
	})
	return c
}
