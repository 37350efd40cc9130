package cmd

import (
	"fmt"
	"strings"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/klrbac/klrbac/internal/validate"
)

// renderValidation prints the report in format f: a table with notes on stderr, JSON or YAML, or
// GitHub annotations.
func renderValidation(io *ui.IO, rep *validate.Report, f ui.Format) error {
	switch f {
	case ui.JSON, ui.YAML:
		return io.Encode(f, rep)
	case githubFormat:
		return writeAnnotations(io, rep)
	}
	return io.Validation(rep)
}

// writeAnnotations prints the report's annotations as GitHub Actions workflow commands.
func writeAnnotations(io *ui.IO, rep *validate.Report) error {
	var b strings.Builder
	for _, an := range rep.Annotations() {
		b.WriteString(ui.WorkflowCommand(an.Level, "klrbac keys validate: "+an.Subject, an.Message))
	}
	_, err := fmt.Fprint(io.Out, b.String())
	return err
}

// annotateFailure prints, for -o github, the error that ended a run as a whole (the guard tripped,
// the keys could not be listed, no audit record) as one ::error annotation, besides the usual
// message on stderr: a CI log shows annotations first, and a run that failed as a whole has no
// per-role annotation to show. Findings already annotated (a silent error) and interruptions are
// not repeated.
func annotateFailure(io *ui.IO, err error) {
	if err == nil || fault.IsSilent(err) || exitCode(err) == exitInterrupted {
		return
	}
	lines := []string{err.Error()}
	for _, h := range fault.Hints(err) {
		lines = append(lines, "hint: "+h)
	}
	msg := mask.InText(strings.Join(lines, "\n"))
	fmt.Fprint(io.Out, ui.WorkflowCommand("error", "klrbac keys validate", msg))
}
