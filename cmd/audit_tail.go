package cmd

import (
	"bufio"
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

-o json prints each entry's line exactly as stored, one per line, for jq. Lines that
are not entries (a torn write) are skipped with a note on stderr.` + exitStatus(exitOK, exitUsage, exitUnavailable, exitInterrupted),
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
				return fault.Usagef("-n must be 0 or more, not %d", opts.n)
			}
			if opts.since != "" && !cmd.Flags().Changed("lines") {
				opts.n = -1
			}
			path, err := a.auditPath(firstOr(args, ""))
			if err != nil {
				return err
			}
			sel, err := opts.selection(time.Now())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if opts.follow {
				c, stop := interruptible(cmd)
				defer stop()
				ctx = c
			}
			err = runAuditTail(ctx, a.io, path, opts, sel)
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
	_ = c.RegisterFlagCompletionFunc("role", a.completeRoles())
	_ = c.RegisterFlagCompletionFunc("action", cobra.FixedCompletions([]string{"check", "config.init", "keys.set", "keys.rm", "keys.validate",
		"oauth.login", "oauth.refresh", "oauth.revoke", audit.ActionRecovered, audit.ActionAlertFailed}, cobra.ShellCompDirectiveNoFileComp))
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
	p := newTailPrinter(io, opts.format)
	var end int64
	if f != nil {
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fault.Unavailablef("cannot read audit log: %w", err)
		}
		recent, err := audit.Last(f, st.Size(), opts.n, sel)
		if err != nil {
			f.Close()
			return fault.Unavailablef("cannot read audit log %s: %w", path, err)
		}
		for _, r := range recent.Records {
			p.print(r.Entry, r.Line)
		}
		if err := p.flush(); err != nil {
			f.Close()
			return err
		}
		p.skipped(recent.Skipped)
		end = recent.End
		if !opts.follow {
			return f.Close()
		}
	}
	return audit.Follow(ctx, path, f, end, audit.FollowOptions{
		Notice: func(s string) { fmt.Fprintln(io.Err, "klrbac: "+s) },
	}, func(line []byte) error {
		e, err := audit.ParseLine(line)
		if err != nil {
			p.skipped(1)
			return nil
		}
		if sel.Keep != nil && !sel.Keep(e) {
			return nil
		}
		p.print(e, line)
		return p.flush()
	})
}

// tailPrinter prints entries as they come. Its table has fixed minimum column widths rather than
// widths fitted to a batch, so that followed entries line up with the ones printed before them.
type tailPrinter struct {
	io     *ui.IO
	w      *bufio.Writer
	format ui.Format
	header bool
}

func newTailPrinter(io *ui.IO, f ui.Format) *tailPrinter {
	return &tailPrinter{io: io, w: bufio.NewWriterSize(io.Out, 64<<10), format: f}
}

var tailColumns = []struct {
	name  string
	width int
}{{"TIME", 24}, {"SEQ", 6}, {"USER", 20}, {"ROLE", 10}, {"ACTION", 16}, {"RESOURCE", 24}, {"RESULT", 7}, {"REASON", 0}}

func (p *tailPrinter) print(e audit.Entry, line []byte) {
	if p.format == ui.JSON {
		p.w.Write(line)
		p.w.WriteByte('\n')
		return
	}
	if !p.header {
		p.header = true
		names := make([]string, len(tailColumns))
		for i, c := range tailColumns {
			names[i] = c.name
		}
		p.w.WriteString(p.io.Bold(p.row(names)) + "\n")
	}
	result := "ok"
	if !e.Success {
		result = "failed"
		if e.Action == "check" {
			result = "denied"
		}
	}
	reason := e.Reason
	if e.Alert != "" {
		reason = "[alert " + e.Alert + "] " + reason
	}
	row := p.row([]string{e.Timestamp.Format(audit.TimeLayout), strconv.FormatUint(e.Seq, 10), dashEmpty(e.UserID),
		dashEmpty(e.Role), e.Action, dashEmpty(e.Resource), result, reason})
	if !e.Success {
		row = p.io.Red(row)
	}
	p.w.WriteString(row + "\n")
}

func (p *tailPrinter) row(cells []string) string {
	var b strings.Builder
	for i, c := range cells {
		// A stored value cannot break the layout: control characters print as spaces.
		c = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, c)
		b.WriteString(c)
		if i < len(cells)-1 {
			for n := len([]rune(c)); n < tailColumns[i].width; n++ {
				b.WriteByte(' ')
			}
			b.WriteString("  ")
		}
	}
	return strings.TrimRight(b.String(), " ")
}

func (p *tailPrinter) flush() error { return p.w.Flush() }

func (p *tailPrinter) skipped(n int) {
	switch {
	case n == 1:
		fmt.Fprintln(p.io.Err, "klrbac: skipped 1 line that is not an audit entry (torn or damaged); run 'klrbac audit verify'")
	case n > 1:
		fmt.Fprintf(p.io.Err, "klrbac: skipped %d lines that are not audit entries (torn or damaged); run 'klrbac audit verify'\n", n)
	}
}

func dashEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
