package pgstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
)

// ActionImported records that a file log's entries were appended to the database's chain.
const ActionImported = "audit.imported"

// Imported says what Import did.
type Imported struct {
	// File is the file log's head: its last seq and hash, which the file still proves.
	File audit.Head
	// FirstSeq and LastSeq are the database seqs its entries took; Record is the seq of the
	// audit.imported entry after them.
	FirstSeq, LastSeq, Record uint64
	Entries                   int64
}

// Import appends the entries of the file log at path to the chain, in one transaction, followed by
// an audit.imported entry and a row in audit_imports naming the file, its first and last seq and
// its head hash: the entries take new seqs and hashes in the database's chain, and the old chain
// stays provable against the file. The file must verify; a file already imported (same head
// hash) is refused. Entries keep their timestamps, users and hosts.
func (s *Store) Import(ctx context.Context, path, actor string) (*Imported, error) {
	if err := s.ready(ctx); err != nil {
		return nil, forWrite(err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fault.Usagef("cannot read %s: %w", path, fault.PathCause(err))
	}
	defer f.Close()
	rep, err := audit.Verify(f, audit.VerifyOptions{MaxProblems: 1})
	if err != nil {
		return nil, fault.Unavailablef("cannot read %s: %w", path, err)
	}
	if !rep.OK() {
		return nil, (&fault.Error{Kind: fault.Findings, Err: fmt.Errorf("refusing to import %s: it does not verify: %s", path, rep.Problems[0].Message)}).
			Hint("run `klrbac audit verify " + path + "` for every problem; only a log that verifies is imported")
	}
	if rep.Entries == 0 {
		return nil, fault.Usagef("refusing to import %s: it holds no audit entries", path)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fault.Unavailablef("cannot read %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	res := &Imported{File: rep.Head, Entries: rep.Entries}
	var fileFirst uint64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	done := false
	next := func() ([]audit.Entry, error) {
		if done {
			return nil, nil
		}
		var batch []audit.Entry
		for len(batch) < maxBatch && sc.Scan() {
			e, err := audit.ParseLine(sc.Bytes())
			if err != nil {
				continue // a run of damaged lines the file's own recovery entry accounts for
			}
			if fileFirst == 0 {
				fileFirst = e.Seq
			}
			e.Seq, e.Prev, e.Hash = 0, "", ""
			batch = append(batch, e)
		}
		if len(batch) == 0 {
			done = true
			if err := sc.Err(); err != nil {
				return nil, fault.Unavailablef("cannot read %s: %w", path, err)
			}
			// The provenance record closes the import.
			return []audit.Entry{{
				UserID:   actor,
				Action:   ActionImported,
				Resource: abs,
				Success:  true,
				Reason: fmt.Sprintf("imported %d entries, seq %d-%d of the file log (head %s), as seq %d-%d",
					rep.Entries, fileFirst, rep.Head.Seq, rep.Head, res.FirstSeq, res.FirstSeq+uint64(rep.Entries)-1),
			}}, nil
		}
		return batch, nil
	}
	_, err = s.appendTx(ctx, func(tx querier, first uint64) ([]audit.Entry, error) {
		if res.FirstSeq == 0 {
			// Under the chain lock, so two imports of one file cannot both pass.
			res.FirstSeq = first
			var dup uint64
			err := tx.QueryRow(ctx, `SELECT first_seq FROM audit_imports WHERE file_head = $1`, rep.Head.String()).Scan(&dup)
			if err == nil {
				return nil, fault.Usagef("refusing to import %s: its entries were imported already, as seq %d onwards", path, dup).
					Hint("`klrbac audit tail --action " + ActionImported + "` lists the imports")
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return nil, err
			}
		}
		return next()
	}, true, func(b *pgx.Batch, first uint64, head audit.Head) {
		res.LastSeq, res.Record = head.Seq-1, head.Seq
		b.Queue(`INSERT INTO audit_imports (first_seq, last_seq, file, file_first, file_last, file_head) VALUES ($1, $2, $3, $4, $5, $6)`,
			int64(first), int64(head.Seq-1), abs, int64(fileFirst), int64(rep.Head.Seq), rep.Head.String())
	})
	if err != nil {
		return nil, forWrite(err)
	}
	return res, nil
}
