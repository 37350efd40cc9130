package audit

// RowVerifier verifies a chain kept one line per row (the PostgreSQL store), fed row by row in the
// rows' own order, with the checks Verify makes of a file. Problems name a row by the label it was
// added with (its seq column) where a file's name a line by its number.
type RowVerifier struct{ v *verifier }

// NewRowVerifier starts verifying a chain from its first row.
func NewRowVerifier(opts VerifyOptions) *RowVerifier {
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 100
	}
	v := &verifier{opts: opts, rep: &Report{Head: Head{Hash: Genesis}}}
	copy(v.base.hash[:], Genesis)
	return &RowVerifier{v: v}
}

// Add takes the next row's line (without a newline); label names the row in problems and must grow
// from row to row.
func (rv *RowVerifier) Add(label int64, line []byte) {
	rv.v.lineNo = label - 1
	rv.v.take(line, true)
}

// Problems is the number of problems found so far.
func (rv *RowVerifier) Problems() int { return len(rv.v.rep.Problems) }

// Problem records a problem the store found itself (an indexed column that disagrees with its line).
func (rv *RowVerifier) Problem(label int64, kind, format string, args ...any) {
	rv.v.problem(label, kind, format, args...)
}

// Finish ends the chain and returns the report; its Lines counts the rows.
func (rv *RowVerifier) Finish(rows int64) *Report {
	rv.v.finish()
	rv.v.rep.Lines = rows
	return rv.v.rep
}
