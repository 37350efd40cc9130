package ui

import (
	"fmt"

	"github.com/klrbac/klrbac/internal/doctor"
)

// DoctorChecks prints doctor's checks one a line, each marked, and a broken one with its fix. Off a
// terminal the yes/no marks are padded, so the names line up for people and for awk.
func (s *IO) DoctorChecks(checks []doctor.Check) {
	for _, c := range checks {
		mark := s.Mark(c.OK)
		if !s.OutTTY {
			mark = fmt.Sprintf("%-3s", mark)
		}
		line := mark + " " + c.Name + ": " + c.Detail
		if !c.OK && c.Fix != "" {
			line += "; fix: " + c.Fix
		}
		fmt.Fprintln(s.Out, line)
	}
}
