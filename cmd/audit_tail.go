package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/ui"
)

type auditTailOptions struct {
	n                 int
	follow            bool
	user, role        string
	action            string
	failed, succeeded bool
	alerts            bool
	since             string
	format            ui.Format
	// now is the time --since counts back from, once for the filter and for the team trail's query.
	now time.Time
}

func newAuditTailCommand(a *app) *cobra.Command {
	var opts auditTailOptions
	var output string
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
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := outputFormat(output, ui.Table, ui.JSON)
			if err != nil {
				return err
			}
			opts.format = f
			if opts.failed && opts.succeeded {
				return fault.Usagef("--failed and --succeeded exclude each other").Hint("give one, or neither for both")
			}
			if opts.n < 0 {
				return fault.Usagef("-n must be 0 or more, not %d", opts.n).
					Hint("-n 0 prints none (with -f: only new entries); for every entry since a time use --since, e.g. --since 7d")
			}
			if opts.since != "" && !cmd.Flags().Changed("lines") {
				opts.n = -1
			}
			opts.now = time.Now()
			sel, err := opts.selection(opts.now)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if opts.follow {
				c, stop := interruptible(cmd)
				defer stop()
				ctx = c
			}
			var db *pgstore.Store
			if len(args) == 0 {
				if db, err = a.auditDB(ctx, pgstore.Options{}); err != nil {
					return err
				}
			}
			if db != nil {
				defer db.Close()
				err = runAuditTailDB(ctx, a.io, db, opts, sel)
			} else {
				path, perr := a.auditPath(firstOr(args, ""))
				if perr != nil {
					return perr
				}
				err = runAuditTail(ctx, a.io, path, opts, sel)
			}
			if opts.follow && ctx.Err() != nil {
				// Ctrl-C is how following ends: exit 130, without an error message.
				return &fault.Error{Kind: fault.Interrupted, Silent: true}
			}
			return err
		},
	}
	fl := c.Flags()
	fl.IntVarP(&opts.n, "lines", "n", 10, "how many of the last entries to print (0: none, e.g. with -f)")
	fl.BoolVarP(&opts.follow, "follow", "f", false, "keep printing entries as they are appended, across rotation and truncation")
	fl.StringVarP(&opts.user, "user", "u", "", "only entries of this actor (userId); * matches anything")
	fl.StringVarP(&opts.role, "role", "r", "", "only entries about this role; * matches anything")
	fl.StringVarP(&opts.action, "action", "a", "", "only this action, e.g. check or 'keys.*'")
	fl.BoolVar(&opts.failed, "failed", false, "only entries whose success is false (denied or failed)")
	fl.BoolVar(&opts.succeeded, "succeeded", false, "only entries whose success is true")
	fl.BoolVar(&opts.alerts, "alerts", false, "only entries that matched an alert rule")
	fl.StringVar(&opts.since, "since", "", "only entries since a time or for a duration: 2026-05-01, 2026-05-01T09:00:00Z, 90m, 7d")
	addOutputFlag(c, &output, ui.Table, ui.JSON)
	_ = c.RegisterFlagCompletionFunc("role", a.complete(roleNames))
	_ = c.RegisterFlagCompletionFunc("action", cobra.FixedCompletions(auditActions, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func firstOr(args []string, def string) string {
	if len(args) > 0 {
		return args[0]
	}
	return def
}

// selection turns the filters into what audit.Last and the follower apply.
func (o auditTailOptions) selection(now time.Time) (audit.Select, error) {
	var since time.Time
	if o.since != "" {
		t, err := parseSince(o.since, now)
		if err != nil {
			return audit.Select{}, err
		}
		since = t
	}
	keep := func(e audit.Entry) bool {
		return (o.user == "" || audit.Glob(o.user, e.UserID)) &&
			(o.role == "" || audit.Glob(o.role, e.Role)) &&
			(o.action == "" || audit.Glob(o.action, e.Action)) &&
			(!o.failed || !e.Success) && (!o.succeeded || e.Success) &&
			(!o.alerts || e.Alert != "") &&
			(since.IsZero() || !e.Timestamp.Before(since))
	}
	sel := audit.Select{Keep: keep}
	if !since.IsZero() {
		sel.Stop = func(e audit.Entry) bool { return e.Timestamp.Before(since) }
	}
	return sel, nil
}

// parseSince reads --since: a duration back from now (with d for days), an RFC 3339 time, or a date
// (midnight UTC).
func parseSince(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fault.Usagef("--since %q is neither a duration nor a time", s).
		Hint("use a duration such as 90m, 36h or 7d, or a time such as 2026-05-01 or 2026-05-01T09:00:00Z")
}

func runAuditTail(ctx context.Context, io *ui.IO, path string, opts auditTailOptions, sel audit.Select) error {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && opts.follow:
		fmt.Fprintf(io.Err, "klrbac: no audit log at %s yet; waiting for it\n", path)
		f = nil
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(io.Err, "klrbac: no audit log at %s: nothing has been recorded there\n", path)
		return nil
	case err != nil:
		return fault.Unavailablef("cannot read audit log: %w", err)
	}
	p := io.NewAuditTail(opts.format, opts.follow)
	var end int64
	if f != nil {
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fault.Unavailablef("cannot read audit log: %w", err)
		}
		if opts.n < 0 {
			// Every entry since a time: find where that range starts without keeping what is read
			// back, then go through it forwards, so memory stays flat however much it holds.
			rng, err := audit.Last(f, st.Size(), -1, audit.Select{Keep: func(audit.Entry) bool { return false }, Stop: sel.Stop})
			var skipped int
			var writeErr error
			if err == nil {
				skipped, writeErr, err = p.Stream(f, rng.Start, rng.End, sel.Keep)
			}
			if writeErr == nil {
				writeErr = p.Flush()
			}
			if err != nil || writeErr != nil {
				f.Close()
				if writeErr != nil {
					return writeErr
				}
				return fault.Unavailablef("cannot read audit log %s: %w", path, err)
			}
			p.Skipped(skipped)
			end = rng.End
		} else {
			recent, err := audit.Last(f, st.Size(), opts.n, sel)
			if err != nil {
				f.Close()
				return fault.Unavailablef("cannot read audit log %s: %w", path, err)
			}
			p.Batch(recent.Records)
			if err := p.Flush(); err != nil {
				f.Close()
				return err
			}
			p.Skipped(recent.Skipped)
			end = recent.End
		}
		if !opts.follow {
			return f.Close()
		}
	}
	return audit.Follow(ctx, path, f, end, audit.FollowOptions{
		Notice: func(s string) { fmt.Fprintln(io.Err, "klrbac: "+s) },
	}, p.Followed(sel.Keep))
}
