package ui

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/term"
)

// Column is a column of a FittedTable.
type Column struct {
	Name string
	// Width is the column's least width when rows are to follow the first batch.
	Width int
	// Shrink lets the column be narrowed, down to Floor, to fit the terminal.
	Shrink bool
	Floor  int
}

// FittedTable prints rows in columns fitted to their values, and on a terminal to its width, as a
// stream: rows can keep coming after the first batch (a followed log), each printed at once.
//
// The widest shrinkable columns give way first, and values too long for their column lose their
// middle to an ellipsis (…); the last column, which takes the rest of the line, is cut at the right
// edge. When following, the widths of the first batch (at least each column's Width) stay, and
// later values are cut to them: every line keeps its columns. Off a terminal nothing is cut.
type FittedTable struct {
	// W buffers the output; write to it directly for rows that are not cells (raw lines).
	W *bufio.Writer
	// MaxWidth is the terminal's width (0: no limit).
	MaxWidth int

	io      *IO
	columns []Column
	follow  bool
	widths  []int // of the columns but the last, once fitted
	header  bool
}

// MinLastColumn is the least room the last column keeps on a terminal.
const MinLastColumn = 10

const columnGap = "  "

// NewFittedTable prints to s's stdout; follow says rows will come after the first batch.
func (s *IO) NewFittedTable(columns []Column, follow bool) *FittedTable {
	return &FittedTable{W: bufio.NewWriterSize(s.Out, 64<<10), MaxWidth: s.Width(), io: s, columns: columns, follow: follow}
}

// Width is the width of the terminal on stdout, or 0 when stdout is not one.
func (s *IO) Width() int {
	if !s.OutTTY {
		return 0
	}
	out := s.Out
	// A masking writer wraps the terminal; its size is the terminal's.
	for {
		u, ok := out.(interface{ Unwrap() io.Writer })
		if !ok {
			break
		}
		out = u.Unwrap()
	}
	if f, ok := out.(interface{ Fd() uintptr }); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	if w, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && w > 0 {
		return w
	}
	return 0
}

// CellWidths are the widest value of each column among the rows added.
type CellWidths []int

// Add takes a row's values into account.
func (m *CellWidths) Add(row []string) {
	if *m == nil {
		*m = make(CellWidths, len(row))
	}
	for i, c := range row {
		(*m)[i] = max((*m)[i], utf8.RuneCountInString(c))
	}
}

// of is the widest value of column i (0 when no row was added).
func (m CellWidths) of(i int) int {
	if i >= len(m) {
		return 0
	}
	return m[i]
}

// Fitted reports whether the columns' widths are set.
func (t *FittedTable) Fitted() bool { return t.widths != nil }

// Fit sets the column widths for rows whose widest values are m.
func (t *FittedTable) Fit(m CellWidths) {
	last := len(t.columns) - 1
	w := make([]int, last)
	for i, c := range t.columns[:last] {
		w[i] = max(utf8.RuneCountInString(c.Name), m.of(i))
		if t.follow {
			w[i] = max(w[i], c.Width)
		}
	}
	if t.MaxWidth > 0 {
		// The last column competes for room like the others, with what it needs: its longest
		// value, or, when following, any room there is.
		lastw := t.MaxWidth
		if !t.follow {
			lastw = max(MinLastColumn, m.of(last))
		}
		total := lastw
		for _, n := range w {
			total += n + len(columnGap)
		}
		// Narrow the widest column, a character at a time, so that short values stay whole.
		for total > t.MaxWidth {
			widest, most := -1, 0
			for i, c := range t.columns[:last] {
				if c.Shrink && w[i] > c.Floor && w[i] > most {
					widest, most = i, w[i]
				}
			}
			if lastw > MinLastColumn && lastw >= most {
				lastw--
			} else if widest >= 0 {
				w[widest]--
			} else {
				break
			}
			total--
		}
	}
	t.widths = w
}

// Row prints a row of cells, after the header when it is the first; a row that is not ok is red.
// Rows printed before Fit use the least widths.
func (t *FittedTable) Row(cells []string, ok bool) {
	if t.widths == nil {
		t.Fit(nil)
	}
	if !t.header {
		t.header = true
		names := make([]string, len(t.columns))
		for i, c := range t.columns {
			names[i] = c.Name
		}
		t.W.WriteString(t.io.Bold(t.line(names)) + "\n")
	}
	row := t.line(cells)
	if !ok {
		row = t.io.Red(row)
	}
	t.W.WriteString(row + "\n")
}

func (t *FittedTable) line(cells []string) string {
	var b strings.Builder
	used := 0
	for i, c := range cells {
		if i == len(cells)-1 {
			if t.MaxWidth > 0 {
				c = cutEnd(c, max(t.MaxWidth-used, MinLastColumn))
			}
			b.WriteString(c)
			break
		}
		w := t.widths[i]
		c = cutMiddle(c, w)
		b.WriteString(c)
		for n := utf8.RuneCountInString(c); n < w; n++ {
			b.WriteByte(' ')
		}
		b.WriteString(columnGap)
		used += w + len(columnGap)
	}
	return strings.TrimRight(b.String(), " ")
}

// Flush writes out what is buffered.
func (t *FittedTable) Flush() error { return t.W.Flush() }

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
