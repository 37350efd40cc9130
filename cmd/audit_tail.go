package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

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
				return fault.Usagef("-n must be 0 or more, not %d", opts.n)
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
	_ = c.RegisterFlagCompletionFunc("role", a.completeRoles())
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
	p := newTailPrinter(io, opts.format, opts.follow)
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
				skipped, writeErr, err = p.stream(f, rng.Start, rng.End, sel.Keep)
			}
			if writeErr == nil {
				writeErr = p.flush()
			}
			if err != nil || writeErr != nil {
				f.Close()
				if writeErr != nil {
					return writeErr
				}
				return fault.Unavailablef("cannot read audit log %s: %w", path, err)
			}
			p.skipped(skipped)
			end = rng.End
		} else {
			recent, err := audit.Last(f, st.Size(), opts.n, sel)
			if err != nil {
				f.Close()
				return fault.Unavailablef("cannot read audit log %s: %w", path, err)
			}
			p.batch(recent.Records)
			if err := p.flush(); err != nil {
				f.Close()
				return err
			}
			p.skipped(recent.Skipped)
			end = recent.End
		}
		if !opts.follow {
			return f.Close()
		}
	}
	return audit.Follow(ctx, path, f, end, audit.FollowOptions{
		Notice: func(s string) { fmt.Fprintln(io.Err, "klrbac: "+s) },
	}, p.followed(sel.Keep))
}

// followed prints each followed line that keep accepts as it comes, noting lines that are not
// entries.
func (p *tailPrinter) followed(keep func(audit.Entry) bool) func(line []byte) error {
	return func(line []byte) error {
		e, err := audit.ParseLine(line)
		if err != nil {
			p.skipped(1)
			return nil
		}
		if keep != nil && !keep(e) {
			return nil
		}
		p.print(e, line)
		return p.flush()
	}
}

// tailPrinter prints entries as a table, or as their raw lines for -o json.
//
// The columns fit the entries printed at once (the last -n), as any table does. On a terminal the
// table also fits the terminal's width: the widest of USER, ROLE, ACTION and RESOURCE give way
// first, and values too long for their column lose their middle to an ellipsis (…); REASON, the
// last column, is cut at the right edge. Followed entries arrive one by one, so -f keeps the widths
// of the first batch, at least tailColumns' minimums, and cuts longer values to them: every line
// keeps its columns. -o json has every value in full.
type tailPrinter struct {
	io     *ui.IO
	w      *bufio.Writer
	format ui.Format
	// follow: entries will come after the first batch.
	follow bool
	// maxWidth is the terminal's width (0: no limit, output is not a terminal).
	maxWidth int
	// widths of the columns but the last, fixed by the first batch (nil before it).
	widths []int
	header bool
	// warned holds the seqs of edited entries already reported on stderr.
	warned map[uint64]bool
}

func newTailPrinter(io *ui.IO, f ui.Format, follow bool) *tailPrinter {
	return &tailPrinter{io: io, w: bufio.NewWriterSize(io.Out, 64<<10), format: f, follow: follow, maxWidth: terminalWidth(io)}
}

// terminalWidth is the width of the terminal on stdout, or 0 when stdout is not one.
func terminalWidth(io *ui.IO) int {
	if !io.OutTTY {
		return 0
	}
	if f, ok := unmasked(io.Out).(interface{ Fd() uintptr }); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	if w, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && w > 0 {
		return w
	}
	return 0
}

// tailColumns are the table's columns. width is the minimum width when following; shrink says a
// column may be narrowed, down to floor, to fit the terminal.
var tailColumns = []struct {
	name   string
	width  int
	shrink bool
	floor  int
}{{"TIME", 24, false, 0}, {"SEQ", 6, false, 0}, {"USER", 20, true, 10}, {"ROLE", 10, true, 8}, {"ACTION", 16, true, 10},
	{"RESOURCE", 24, true, 14}, {"RESULT", 7, false, 0}, {"REASON", 0, false, 0}}

// minReason is the least room REASON keeps on a terminal. With every column at its floor a table
// needs 100 columns; on a narrower terminal lines wrap, but the columns stay where they are.
const minReason = 10

// batch prints entries read at once, fitting the columns to them first.
func (p *tailPrinter) batch(records []audit.Record) {
	if p.format == ui.JSON {
		for _, r := range records {
			p.print(r.Entry, r.Line)
		}
		return
	}
	rows := make([][]string, len(records))
	for i, r := range records {
		rows[i] = tailCells(r.Entry, p.edited(r.Entry, r.Line))
	}
	p.fit(rows)
	for i, r := range records {
		p.printRow(rows[i], r.Success && rows[i][resultColumn] != resultEdited)
	}
}

// cellWidths are the widest value of each column among the rows added.
type cellWidths []int

func (m *cellWidths) add(row []string) {
	if *m == nil {
		*m = make(cellWidths, len(tailColumns))
	}
	for i, c := range row {
		(*m)[i] = max((*m)[i], utf8.RuneCountInString(c))
	}
}

// of is the widest value of column i (0 when no row was added).
func (m cellWidths) of(i int) int {
	if m == nil {
		return 0
	}
	return m[i]
}

// stream prints the entries keep accepts (nil: all) among the lines of r in [start, end), reading
// forwards: JSON as it goes, a table after a first pass that fits its columns. It returns how many
// lines were not entries, and apart the error of writing (a closed pipe, as with | head, ends the
// reading) and that of reading.
func (p *tailPrinter) stream(r io.ReaderAt, start, end int64, keep func(audit.Entry) bool) (skipped int, writeErr, readErr error) {
	each := func(fn func(e audit.Entry, line []byte)) error {
		skipped = 0
		return audit.Lines(r, start, end, func(line []byte) error {
			e, err := audit.ParseLine(line)
			if err != nil {
				skipped++
				return nil
			}
			if keep == nil || keep(e) {
				fn(e, line)
			}
			_, writeErr = p.w.Write(nil) // bufio keeps the first write error
			return writeErr
		})
	}
	if p.format != ui.JSON {
		var m cellWidths
		if err := each(func(e audit.Entry, line []byte) { m.add(tailCells(e, p.edited(e, line))) }); err != nil {
			return 0, nil, err
		}
		p.fitWidths(m)
	}
	readErr = each(p.print)
	if writeErr != nil {
		readErr = nil
	}
	return skipped, writeErr, readErr
}

// fit sets the column widths for rows.
func (p *tailPrinter) fit(rows [][]string) {
	var m cellWidths
	for _, r := range rows {
		m.add(r)
	}
	p.fitWidths(m)
}

// fitWidths sets the column widths for rows whose widest values are m.
func (p *tailPrinter) fitWidths(m cellWidths) {
	last := len(tailColumns) - 1
	w := make([]int, last)
	for i, c := range tailColumns[:last] {
		w[i] = max(utf8.RuneCountInString(c.name), m.of(i))
		if p.follow {
			w[i] = max(w[i], c.width)
		}
	}
	if p.maxWidth > 0 {
		// REASON competes for room like the others, with what it needs: the longest reason of
		// the batch, or, when following, any room there is.
		reason := p.maxWidth
		if !p.follow {
			reason = max(minReason, m.of(last))
		}
		total := reason
		for _, n := range w {
			total += n + len(tailGap)
		}
		// Narrow the widest column, a character at a time, so that short values stay whole.
		for total > p.maxWidth {
			widest, most := -1, 0
			for i, c := range tailColumns[:last] {
				if c.shrink && w[i] > c.floor && w[i] > most {
					widest, most = i, w[i]
				}
			}
			if reason > minReason && reason >= most {
				reason--
			} else if widest >= 0 {
				w[widest]--
			} else {
				break
			}
			total--
		}
	}
	p.widths = w
}

const tailGap = "  "

func (p *tailPrinter) print(e audit.Entry, line []byte) {
	if p.format == ui.JSON {
		p.edited(e, line) // the line goes out as stored; stderr says it was altered
		p.w.Write(line)
		p.w.WriteByte('\n')
		return
	}
	if p.widths == nil {
		p.fit(nil)
	}
	edited := p.edited(e, line)
	p.printRow(tailCells(e, edited), e.Success && !edited)
}

// edited reports whether the line read for e does not match its hash, and says so on stderr once
// per entry: tail shows entries as read, and must not call one "ok" that was altered since.
func (p *tailPrinter) edited(e audit.Entry, line []byte) bool {
	if line == nil || audit.Sealed(line) {
		return false
	}
	if p.warned == nil {
		p.warned = map[uint64]bool{}
	}
	if !p.warned[e.Seq] {
		p.warned[e.Seq] = true
		fmt.Fprintf(p.io.Err, "klrbac: entry seq %d does not match its hash: it was edited after it was written\n", e.Seq)
		if len(p.warned) == 1 {
			fmt.Fprintln(p.io.Err, "hint: run `klrbac audit verify` to see what else is wrong")
		}
	}
	return true
}

// resultColumn is RESULT's place among tailCells, and resultEdited its value for an entry that
// does not match its hash.
const (
	resultColumn = 6
	resultEdited = "EDITED"
)

func (p *tailPrinter) printRow(cells []string, success bool) {
	if !p.header {
		p.header = true
		names := make([]string, len(tailColumns))
		for i, c := range tailColumns {
			names[i] = c.name
		}
		p.w.WriteString(p.io.Bold(p.row(names)) + "\n")
	}
	row := p.row(cells)
	if !success {
		row = p.io.Red(row)
	}
	p.w.WriteString(row + "\n")
}

// tailCells are an entry's values in the table, as printed before fitting. An edited entry's
// RESULT says so, whatever its success field claims.
func tailCells(e audit.Entry, edited bool) []string {
	result := "ok"
	if !e.Success {
		result = "failed"
		if e.Action == "check" {
			result = "denied"
		}
	}
	if edited {
		result = resultEdited
	}
	reason := e.Reason
	if e.Alert != "" {
		reason = "[alert " + e.Alert + "] " + reason
	}
	cells := []string{e.Timestamp.Format(audit.TimeLayout), strconv.FormatUint(e.Seq, 10), orDash(e.UserID),
		orDash(e.Role), e.Action, orDash(e.Resource), result, reason}
	for i, c := range cells {
		// A stored value cannot break the layout: control characters print as spaces.
		cells[i] = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || r == 0x85 || r == '\u2028' || r == '\u2029' {
				return ' '
			}
			return r
		}, c)
	}
	return cells
}

func (p *tailPrinter) row(cells []string) string {
	var b strings.Builder
	used := 0
	for i, c := range cells {
		if i == len(cells)-1 {
			if p.maxWidth > 0 {
				c = cutEnd(c, max(p.maxWidth-used, minReason))
			}
			b.WriteString(c)
			break
		}
		w := p.widths[i]
		c = cutMiddle(c, w)
		b.WriteString(c)
		for n := utf8.RuneCountInString(c); n < w; n++ {
			b.WriteByte(' ')
		}
		b.WriteString(tailGap)
		used += w + len(tailGap)
	}
	return strings.TrimRight(b.String(), " ")
}

// cutMiddle shortens s to at most w runes by replacing its middle with an ellipsis: the start and the
// end of a resource or a user (a path, an id, a domain) say the most.
func cutMiddle(s string, w int) string {
	r := []rune(s)
	if len(r) <= w || w < 1 {
		return s
	}
	head := w / 2
	tail := w - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// cutEnd shortens s to at most w runes, ending it with an ellipsis.
func cutEnd(s string, w int) string {
	r := []rune(s)
	if len(r) <= w || w < 1 {
		return s
	}
	return string(r[:w-1]) + "…"
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
