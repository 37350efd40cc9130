package pgstore

import (
	"context"

	"github.com/klrbac/klrbac/internal/audit"
)

// Checkpoint returns the head of the team audit trail once the whole chain has been verified: as for
// a file, a checkpoint vouches for every row up to it, and the last rows, which appends check, say
// nothing of an edit further back.
func (s *Store) Checkpoint(ctx context.Context) (audit.Head, error) {
	rep, err := s.Verify(ctx, audit.VerifyOptions{MaxProblems: 1})
	if err != nil {
		return audit.Head{}, err
	}
	if !rep.OK() {
		return audit.Head{}, audit.RefuseCheckpoint(s.Where(), "audit verify", "", rep)
	}
	return rep.Head, nil
}
