package cmd

import (
	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/ui"
)

// exactArgs accepts exactly n arguments.
func exactArgs(n int, names string) cobra.PositionalArgs { return rangeArgs(n, n, names) }

// rangeArgs is cobra.RangeArgs with a message that names the arguments and a usage hint.
func rangeArgs(lo, hi int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= lo && len(args) <= hi {
			return nil
		}
		return fault.Usagef("%s takes %s (got %d argument%s)", cmd.CommandPath(), names, len(args), ui.Plural(len(args))).
			Hint("usage: " + cmd.UseLine())
	}
}

// noArgs refuses arguments to a command that takes none. cobra.NoArgs calls an extra argument an
// unknown command and suggests a subcommand, which sends `klrbac version x` looking for a command
// that does not exist. The arguments are not repeated: one may be a key typed in the wrong place.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return fault.Usagef("%s takes no arguments (got %d)", cmd.CommandPath(), len(args)).
		Hint("usage: " + cmd.UseLine())
}
