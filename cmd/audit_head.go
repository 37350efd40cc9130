package cmd

import (
	"fmt"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
)

func newAuditHeadCommand(a *app) *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "head [FILE]",
		Short: "Print the last entry's SEQ:HASH, a checkpoint for verify --expect-head",
		Long: `Print the audit log's head, SEQ:HASH of its last entry, once the whole log has been
checked as 'klrbac audit verify' checks it (at the same speed): a log that does not verify
gets no checkpoint (exit 1), since a checkpoint vouches for every entry up to it. A log
ending in an interrupted write that the next append records gets the head of the last
entry before it.

Keep it somewhere the log's writers cannot change; 'klrbac audit verify --expect-head
SEQ:HASH' later proves the log still holds that entry unchanged, which the chain alone
cannot prove against someone who rewrites the whole file or cuts entries from its end.

An empty log's head is 0 followed by 64 zeros.` + exitStatus(exitOK, exitFindings, exitUsage, exitUnavailable),
		Example: `  klrbac audit head
  klrbac audit head > "checkpoints/$(date +%F).head"
  klrbac audit verify --expect-head "$(cat checkpoints/2026-05-01.head)"`,
		Args: rangeArgs(0, 1, "at most one FILE"),
		RunE: out.run(func(cmd *cobra.Command, f ui.Format, args []string) error {
			s, path, err := a.auditLocation(cmd.Context(), args, pgstore.Options{})
			if err != nil {
				return err
			}
			var head audit.Head
			if s != nil {
				defer s.Close()
				head, err = s.Checkpoint(cmd.Context())
			} else {
				var torn bool
				if head, torn, err = audit.CheckpointFile(path); torn {
					a.io.Notice(path + " ends with an interrupted write, which the next append records; the head is the last entry before it")
				}
			}
			if err != nil {
				return err
			}
			if f != ui.Table {
				return a.io.Encode(f, head)
			}
			fmt.Fprintln(a.io.Out, head.String())
			return nil
		}),
	}
	out.register(c, listFormats...)
	return c
}
