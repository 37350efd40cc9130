package pgstore

import (
	"context"
	"os"
	"path/filepath"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
)

// ExportFile writes the rows q selects to path as Export does, through a temporary file beside it
// renamed into place once synced, so that path is never left half-written.
func (s *Store) ExportFile(ctx context.Context, path string, q Query) (part audit.Part, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return part, fault.Unavailablef("cannot write %s: %w", path, fault.PathCause(err))
	}
	defer os.Remove(tmp.Name())
	part, err = s.Export(ctx, tmp, q)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return audit.Part{}, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return audit.Part{}, fault.Unavailablef("cannot write %s: %w", path, fault.PathCause(err))
	}
	return part, nil
}
