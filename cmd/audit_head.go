package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/spf13/cobra"
)

type headView struct {
	Seq  uint64 `json:"seq" yaml:"seq"`
	Hash string `json:"hash" yaml:"hash"`
}

func newAuditHeadCommand(a *app) *cobra.Command {
	var output string
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
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := outputFormat(output, listFormats...)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				s, err := a.auditDB(cmd.Context(), pgstore.Options{})
				if err != nil {
					return err
				}
				if s != nil {
					defer s.Close()
					return runAuditHeadDB(cmd.Context(), a.io, s, f)
				}
			}
			path, err := a.auditPath(firstOr(args, ""))
			if err != nil {
				return err
			}
			return runAuditHead(a.io, path, f)
		},
	}
	addOutputFlag(c, &output, listFormats...)
	return c
}

func runAuditHead(io *ui.IO, path string, f ui.Format) error {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fault.Unavailablef("no audit log at %s", path).
			Hint("nothing has been recorded there yet, or it was removed; 'klrbac config show' names the audit.path in use")
	}
	if err != nil {
		return fault.Unavailablef("cannot read audit log: %w", err)
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return fault.Unavailablef("cannot read audit log: %w", err)
	}
	// A checkpoint vouches for every entry up to it: the whole chain is checked first.
	rep, err := audit.Verify(file, audit.VerifyOptions{MaxProblems: 1})
	if err != nil {
		return fault.Unavailablef("cannot read audit log: %w", err)
	}
	head, torn, err := audit.LastEntry(file, st.Size())
	var damaged *audit.DamagedError
	if err != nil && !errors.As(err, &damaged) {
		return fault.Unavailablef("cannot find the head of %s: %w", path, err).Hint("run 'klrbac audit verify " + path + "' to see what is wrong")
	}
	// Only a final interrupted write that the next append records is let pass.
	recoverable := err == nil && torn && len(rep.Problems) == 1 && rep.Omitted == 0 && rep.Problems[0].Kind == audit.KindTorn
	if !rep.OK() && !recoverable || err != nil {
		why := "it is damaged"
		if len(rep.Problems) > 0 {
			why = rep.Problems[0].Message
			if n := len(rep.Problems) + rep.Omitted; n > 1 {
				why += fmt.Sprintf(" (and %d more problems)", n-1)
			}
		} else if damaged != nil {
			why = damaged.Reason
		}
		return (&fault.Error{Kind: fault.Findings, Err: fmt.Errorf("refusing to give a checkpoint of %s, which does not verify: %s", path, why)}).
			Hint("run 'klrbac audit verify " + path + "' to see every problem; a checkpoint vouches for every entry up to it")
	}
	head = rep.Head
	if torn {
		fmt.Fprintf(io.Err, "klrbac: %s ends with an interrupted write, which the next append records; the head is the last entry before it\n", path)
	}
	if f != ui.Table {
		return io.Encode(f, headView{head.Seq, head.Hash})
	}
	fmt.Fprintln(io.Out, head.String())
	return nil
}
