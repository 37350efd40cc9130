package audit

import (
	"context"
)

// Store is where a Trail's entries are kept: the file (Log) or a database. A Store only keeps
// entries; what is recorded, when a change may go ahead, and alerts are the Trail's business, so that
// every store fails closed the same way and no alert is ever sent from inside a store's write.
//
// A Store is safe for concurrent use, also across processes sharing it: it serialises appends itself.
type Store interface {
	// AppendAll seals entries as the next ones of the chain (Seq, Prev, Hash; Timestamp and Host when
	// they have none) and keeps them with one durable write: all of them or none are kept when it
	// returns. It returns the entries as written, in order. An entry the store writes on its own
	// behalf (a recovery) is not among them.
	AppendAll(ctx context.Context, entries []Entry) ([]Entry, error)
	// Ready reports whether AppendAll would succeed now, without writing an entry: commands ask it
	// before a change they cannot take back, or before spending the user's time.
	Ready(ctx context.Context) error
	// Head is the last entry's seq and hash: seq 0 and Genesis for an empty store. A store whose end
	// an append would refuse answers a *DamagedError.
	Head(ctx context.Context) (Head, error)
	// Where names the store in messages: a file's path, a database without its password.
	Where() string
}

// Reader reads a store's entries back, by seq: what tail, verify and follow need. Positions inside
// the store (a file's byte offsets) stay the store's business.
type Reader interface {
	// Scan passes each stored line after the entry numbered after (0: from the start), in the order
	// stored, to emit, until the end or emit's error. Lines that are not entries (an interrupted
	// write) are passed on too, so that verify sees them.
	Scan(ctx context.Context, after uint64, emit func(line []byte) error) error
	// Last returns the last n entries (n < 0: all) that sel accepts, oldest first, reading back from
	// the end: its cost depends on how far back they are, not on the size of the store.
	Last(ctx context.Context, n int, sel Select) ([]Record, error)
	// Follow passes each line stored after the entry numbered after to emit, as it is stored, until
	// ctx ends (its error is returned) or emit fails.
	Follow(ctx context.Context, after uint64, emit func(line []byte) error) error
}

// Unavailable is a Store that cannot be reached: every call answers err. It lets a Trail be built
// before it is known whether its store opens, so that a change is refused in the Trail's words
// rather than failing earlier in other ones.
func Unavailable(where string, err error) Store { return unavailable{where, err} }

type unavailable struct {
	where string
	err   error
}

func (u unavailable) AppendAll(context.Context, []Entry) ([]Entry, error) { return nil, u.err }
func (u unavailable) Ready(context.Context) error                         { return u.err }
func (u unavailable) Head(context.Context) (Head, error)                  { return Head{}, u.err }
func (u unavailable) Where() string                                       { return u.where }

// Log is the first Store and Reader.
var (
	_ Store  = (*Log)(nil)
	_ Reader = (*Log)(nil)
)
