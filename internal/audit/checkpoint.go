package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/klrbac/klrbac/internal/fault"
)

// noLog is the error for a log that is not there to read.
func noLog(path string) error {
	return fault.Unavailablef("no audit log at %s", path).
		Hint("nothing has been recorded there yet, or it was removed; 'klrbac config show' names the audit.path in use")
}

// VerifyFile verifies the log at path. A missing log is an error (unavailable), unless a head was
// expected: then its removal is the finding, reported like any other.
func VerifyFile(path string, opts VerifyOptions) (*Report, error) {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if want := opts.Expect; want != nil && want.Seq > 0 {
			return &Report{Head: Head{Hash: Genesis}, Problems: []Problem{{
				Kind:    KindTruncated,
				Message: fmt.Sprintf("the log is missing, but the expected head is seq %d: the log was removed", want.Seq),
			}}}, nil
		}
		return nil, noLog(path)
	}
	if err != nil {
		return nil, fault.Unavailablef("cannot read audit log: %w", err)
	}
	defer file.Close()
	rep, err := Verify(file, opts)
	if err != nil {
		return nil, fault.Unavailablef("cannot read audit log %s: %w", path, err)
	}
	return rep, nil
}

// CheckpointFile returns the head of the log at path, a checkpoint for verify's Expect, once the
// whole log has been verified: a checkpoint vouches for every entry up to it. torn says the log ends
// with an interrupted write that the next append records; the head is then the last entry before
// it. Any other problem refuses the checkpoint (RefuseCheckpoint).
func CheckpointFile(path string) (head Head, torn bool, err error) {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Head{}, false, noLog(path)
	}
	if err != nil {
		return Head{}, false, fault.Unavailablef("cannot read audit log: %w", err)
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return Head{}, false, fault.Unavailablef("cannot read audit log: %w", err)
	}
	rep, err := Verify(file, VerifyOptions{MaxProblems: 1})
	if err != nil {
		return Head{}, false, fault.Unavailablef("cannot read audit log: %w", err)
	}
	_, torn, err = LastEntry(file, st.Size())
	var damaged *DamagedError
	if err != nil && !errors.As(err, &damaged) {
		return Head{}, false, fault.Unavailablef("cannot find the head of %s: %w", path, err).Hint("run 'klrbac audit verify " + path + "' to see what is wrong")
	}
	// Only a final interrupted write that the next append records is let pass.
	recoverable := err == nil && torn && len(rep.Problems) == 1 && rep.Omitted == 0 && rep.Problems[0].Kind == KindTorn
	if !rep.OK() && !recoverable || err != nil {
		why := "it is damaged"
		if damaged != nil {
			why = damaged.Reason
		}
		return Head{}, false, RefuseCheckpoint(path, "audit verify "+path, why, rep)
	}
	return rep.Head, torn, nil
}

// RefuseCheckpoint is the refusal to give a checkpoint of the trail at where, which does not verify:
// the first of rep's problems says why (else why does), and verify, the command to run, shows them all.
func RefuseCheckpoint(where, verify, why string, rep *Report) error {
	if len(rep.Problems) > 0 {
		why = rep.Problems[0].Message
		if n := len(rep.Problems) + rep.Omitted; n > 1 {
			why += fmt.Sprintf(" (and %d more problems)", n-1)
		}
	}
	return (&fault.Error{Kind: fault.Findings, Err: fmt.Errorf("refusing to give a checkpoint of %s, which does not verify: %s", where, why)}).
		Hint("run 'klrbac " + verify + "' to see every problem; a checkpoint vouches for every entry up to it")
}
