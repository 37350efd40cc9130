package ui

import (
	"fmt"
	"slices"

	"github.com/klrbac/klrbac/internal/validate"
)

// Validation prints a `keys validate` report for people: a table of the roles' verdicts, the scopes
// an inference decided marked as such, and on stderr the notes that say what the table cannot.
func (s *IO) Validation(rep *validate.Report) error {
	rows := make([][]string, len(rep.Roles))
	for i, rr := range rep.Roles {
		inferred := func(scopes []string) []string {
			out := make([]string, len(scopes))
			for j, sc := range scopes {
				out[j] = sc
				if slices.Contains(rr.Inferred, sc) {
					out[j] += " (inferred)"
				}
			}
			return out
		}
		rows[i] = []string{rr.Role, rr.KeySource, string(rr.Method), s.verdict(rr.Verdict),
			validate.Brief(inferred(rr.Missing)), validate.Brief(inferred(rr.Excess)), validate.Brief(rr.Undetermined)}
	}
	if err := s.Table([]string{"ROLE", "KEY SOURCE", "METHOD", "VERDICT", "MISSING", "EXCESS", "UNDETERMINED"}, rows); err != nil {
		return err
	}
	for _, n := range rep.Notes() {
		fmt.Fprintf(s.Err, "note: %s\n", n)
	}
	return nil
}

// verdict colours a role's verdict: valid green, undetermined yellow, anything else red.
func (s *IO) verdict(v validate.Verdict) string {
	switch v {
	case validate.VerdictValid:
		return s.Green(string(v))
	case validate.VerdictUndetermined:
		return s.Yellow(string(v))
	}
	return s.Red(string(v))
}
