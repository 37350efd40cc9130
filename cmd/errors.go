package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/mask"
)

// Exit codes: the contract scripts and CI jobs rely on.
const (
	exitOK          = 0
	exitFindings    = 1
	exitUsage       = 2
	exitUnavailable = 3
	exitInterrupted = 130
)

// exitLines are the EXIT STATUS lines of the help texts, written out rather than formatted because
// every command's help is built on every run.
var exitLines = map[int]string{
	exitOK:          "  0    success: allowed, valid, nothing found",
	exitFindings:    "  1    findings: denied, a scope missing, a tampered log, a broken doctor check",
	exitUsage:       "  2    usage or configuration error: unknown role, bad YAML, bad flag",
	exitUnavailable: "  3    could not evaluate: network, key rejected, keyring unavailable, audit record not written",
	exitInterrupted: "  130  interrupted (Ctrl-C)",
}

// exitCode maps an error to klrbac's exit codes; this is the only place that does.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, context.Canceled) {
		return exitInterrupted
	}
	switch fault.KindOf(err) {
	case fault.Usage, fault.Config:
		return exitUsage
	case fault.Findings:
		return exitFindings
	case fault.Interrupted:
		return exitInterrupted
	}
	return exitUnavailable
}

// report prints err the way age does: "klrbac: what went wrong", then "hint: what to do" lines, and
// returns the exit code. Joined errors (every problem in a policy file) are printed one by one.
func (a *app) report(err error) int {
	code := exitCode(err)
	if err == nil || fault.IsSilent(err) {
		return code
	}
	if code == exitInterrupted {
		fmt.Fprintln(a.io.Err, "klrbac: interrupted")
		return code
	}
	for _, e := range fault.Problems(err) {
		printProblem(a.io.Err, e)
	}
	return code
}

// printProblem prints one problem and its hints. Anything shaped like a private key is masked on the
// way out: a key typed where a name belongs must not be echoed back by an error message.
func printProblem(w io.Writer, err error) {
	fmt.Fprintf(w, "klrbac: %s\n", mask.InText(err.Error()))
	for _, h := range fault.Hints(err) {
		fmt.Fprintf(w, "hint: %s\n", mask.InText(h))
	}
}

// exitStatus renders the EXIT STATUS section of a command's long help.
func exitStatus(codes ...int) string {
	s := "\n\nEXIT STATUS"
	for _, c := range codes {
		s += "\n" + exitLines[c]
	}
	return s
}

func newExitCodesTopic() *cobra.Command {
	var b strings.Builder
	b.WriteString("Every klrbac command ends with one of these exit codes:\n\n")
	for _, c := range []int{exitOK, exitFindings, exitUsage, exitUnavailable, exitInterrupted} {
		b.WriteString(exitLines[c] + "\n")
	}
	b.WriteString(`
A CI job can tell "the key is wrong" (1) from "klrbac could not find out" (3), and both
from a broken pipeline definition (2). Errors go to stderr as "klrbac: ..." followed by
"hint: ..." lines; stdout carries only results.`)
	return &cobra.Command{
		Use:   "exit-codes",
		Short: "What klrbac's exit codes mean",
		Long:  b.String(),
	}
}
