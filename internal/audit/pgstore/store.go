// Package pgstore keeps the audit trail in PostgreSQL, for teams: every machine that records (admins'
// laptops, CI runners, proxies) appends to one hash chain in one table, audit_entries, which keeps
// each entry's seq and its exact JSON line, so that the chain is recomputed byte for byte from what
// is stored, with the same Verify as the file log.
//
// Appends from any number of processes are serialised by a transaction-scoped advisory lock: under
// it an appender reads the last entry, seals its entries after it, and inserts them. The order is
// the seq the lock hands out, never a client's clock: an entry's timestamp is the database
// server's clock when its transaction took the lock. Appends from one process are batched (group
// commit), and batches that follow each other take the lock in the round trip that commits.
//
// The package is separate from package audit so that commands that never reach a database do not
// link pgx.
package pgstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
)

// Setting names where the DSN is configured, for hints.
const Setting = "audit.dsn (KLRBAC_AUDIT_DSN, --audit-dsn)"

// Defaults bound how long klrbac waits for the database: a change waits for its record, so an
// unreachable database must fail it quickly rather than hang it.
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultStatementTimeout = 10 * time.Second
)

// readBuffer is how much of the socket a connection reads at once.
const readBuffer = 256 << 10

// Options tune a Store; the zero value is what klrbac uses.
type Options struct {
	// ConnectTimeout bounds each connection attempt (default DefaultConnectTimeout; a
	// connect_timeout in the DSN wins).
	ConnectTimeout time.Duration
	// StatementTimeout bounds each statement, waiting for the chain lock included (default
	// DefaultStatementTimeout; a statement_timeout in the DSN's options wins).
	StatementTimeout time.Duration
	// Host fills an entry's Host when it has none (default audit.Hostname()).
	Host string
	// MaxConns bounds the pool (default pgxpool's).
	MaxConns int32
	// Notice is told, in words, what a follower should know: the connection lost, and back.
	Notice func(string)
	// NoMigrate leaves the schema alone: a store opened by a role with only INSERT and SELECT
	// finds it migrated, or says to run `klrbac audit migrate`.
	NoMigrate bool
	// Source names where the DSN came from, for its errors (default Setting).
	Source string
}

// Store is the audit trail in one PostgreSQL database.
type Store struct {
	pool   *pgxpool.Pool
	target string
	secret string
	user   string
	opts   Options

	schemaMu sync.Mutex
	schemaOK bool

	commit committer

	// lockTrips counts the round trips taken to lock the chain before a batch, which a batch
	// whose lock came with the previous commit does without (tests read it).
	lockTrips atomic.Int64
}

// Open validates dsn and prepares a pool; it connects lazily, on first use.
func Open(dsn string, opts Options) (*Store, error) {
	source := opts.Source
	if source == "" {
		source = Setting
	}
	cfg, target, secret, err := parseDSN(dsn, source)
	if err != nil {
		return nil, err
	}
	user := cfg.ConnConfig.User
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.StatementTimeout <= 0 {
		opts.StatementTimeout = DefaultStatementTimeout
	}
	if opts.Host == "" {
		opts.Host = audit.Hostname()
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	}
	rp := cfg.ConnConfig.RuntimeParams
	if _, ok := rp["statement_timeout"]; !ok {
		rp["statement_timeout"] = fmt.Sprint(opts.StatementTimeout.Milliseconds())
	}
	if _, ok := rp["application_name"]; !ok {
		rp["application_name"] = "klrbac"
	}
	// Rows are read from the socket in large pieces rather than the driver's 8 KiB: a verify streams
	// the whole table, and when the hashing falls behind the server, one read takes in what waits.
	cfg.ConnConfig.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		return pgproto3.NewFrontend(bufio.NewReaderSize(r, readBuffer), w)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fault.Configf("%s: %s", source, maskUser(scrub(err.Error(), secret), user))
	}
	s := &Store{pool: pool, target: target, secret: secret, user: user, opts: opts}
	s.commit.store = s
	return s, nil
}

// Close stops the group committer (after the batch in flight) and closes the pool.
func (s *Store) Close() {
	s.commit.stop()
	s.pool.Close()
}

// Pool is the store's connection pool, for other tables klrbac keeps in the same database (proxy
// tokens): they migrate their own schema with Migrate under a component name of their own.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Where names the database without its password, for messages: postgres://user@host:port/db.
func (s *Store) Where() string { return s.target }

// parseDSN checks that dsn is a postgres:// URL and returns its pool configuration, how to name it
// without secrets, and the password (to scrub from driver errors, which may quote the input).
// source names where dsn came from in its errors.
func parseDSN(dsn, source string) (cfg *pgxpool.Config, target, secret string, err error) {
	if problem := audit.DSNProblem(dsn); problem != "" {
		hint := "set it to postgres://USER:PASSWORD@HOST:PORT/DATABASE, or store it with `klrbac audit set-dsn`"
		if source != Setting { // a DSN on its way to the keyring: the fix is in what was given
			hint = "give a URL such as postgres://USER:PASSWORD@HOST:PORT/DATABASE"
		}
		return nil, "", "", fault.Configf("%s: %s", source, problem).Hint(hint)
	}
	u, _ := url.Parse(dsn) // DSNProblem parsed it
	if p, ok := u.User.Password(); ok {
		secret = p
	}
	if p := u.Query().Get("password"); p != "" {
		secret = p
	}
	target = audit.RedactDSN(dsn)
	cfg, perr := pgxpool.ParseConfig(dsn)
	if perr != nil {
		// pgx quotes the whole DSN, where the user may also stand as a parameter (?user=).
		msg := scrub(perr.Error(), secret)
		for _, user := range []string{u.User.Username(), u.Query().Get("user")} {
			msg = maskUser(msg, user)
		}
		return nil, "", "", fault.Configf("%s: %s", source, msg).
			Hint("it must be postgres://USER:PASSWORD@HOST:PORT/DATABASE with valid parameters")
	}
	return cfg, target, secret, nil
}

// scrub takes a secret out of a message.
func scrub(msg, secret string) string {
	if len(secret) < 2 {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "****")
}

// maskUser takes the database user name out of a driver's or server's message, which names it
// (failed to connect to `user=klw database=audit`; password authentication failed for user "klw"):
// klrbac masks the user part of the DSN wherever it shows it, and the driver's words must not undo
// that. The name is masked where it stands as a word of its own; a name of one or two letters only
// where the driver and the server quote a user (after = or a quote), lest every short word go.
func maskUser(msg, user string) string {
	if user == "" {
		return msg
	}
	var b strings.Builder
	last := 0
	for i := 0; ; {
		j := strings.Index(msg[i:], user)
		if j < 0 {
			break
		}
		start, end := i+j, i+j+len(user)
		i = start + 1
		if start > 0 && wordByte(msg[start-1]) || end < len(msg) && wordByte(msg[end]) {
			continue
		}
		if len(user) < 3 && (start == 0 || !strings.ContainsRune("=\"'`", rune(msg[start-1]))) {
			continue
		}
		b.WriteString(msg[last:start])
		b.WriteString("****")
		last, i = end, end
	}
	if last == 0 {
		return msg
	}
	b.WriteString(msg[last:])
	return b.String()
}

// wordByte reports whether c continues a name: a letter, a digit, an underscore or part of a
// non-ASCII letter.
func wordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// Redact is a database message as klrbac may show it: without the password or the user name.
// The other tables kept in the same database (proxy tokens) word their errors through it too.
func (s *Store) Redact(msg string) string { return maskUser(scrub(msg, s.secret), s.user) }

// unavailable turns a database failure into klrbac's "could not evaluate" with hints naming the
// database and the setting, without the password.
func (s *Store) unavailable(what string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	var fe *fault.Error
	if errors.As(err, &fe) {
		return err
	}
	msg := s.Redact(err.Error())
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "42501":
		return fault.Unavailablef("%s: audit database %s refused: %s", what, s.target, msg).
			Hint("the database role needs SELECT and INSERT on audit_entries; an owner runs `klrbac audit migrate` once")
	case errors.As(err, &pe) && pe.Code == "57014":
		return fault.Unavailablef("%s: audit database %s did not answer within the statement timeout (%s)", what, s.target, s.opts.StatementTimeout).
			Hint("the database is overloaded, or another appender holds the chain lock; set statement_timeout in the DSN's options to wait longer")
	case errors.As(err, &pe):
		return fault.Unavailablef("%s: audit database %s: %s", what, s.target, msg).
			Hint("check the database, or point " + Setting + " elsewhere")
	}
	// The hint fits a read as well as a write; a write adds what it means for changes (forWrite).
	return (&fault.Error{Kind: fault.Unavailable, Err: unreachable(fmt.Sprintf("%s: cannot reach audit database %s: %s", what, s.target, msg))}).
		Hint("check that the database at " + s.hostPort() + " is up and reachable from here, or point " + Setting + " elsewhere")
}

// unreachable is the error of a database klrbac could not reach, so that forWrite can tell it apart.
type unreachable string

func (u unreachable) Error() string { return string(u) }

// forWrite adds to the error of an unreachable database, met on the way to writing a record, that
// changes wait for it (audit.HintChangesRefused). Reads, and the checks whose records are only
// skipped, do without that hint: nothing they would do is refused.
func forWrite(err error) error {
	var u unreachable
	var fe *fault.Error
	if !errors.As(err, &u) || !errors.As(err, &fe) || fe != err {
		return err
	}
	c := *fe
	c.Hints = append(slices.Clip(fe.Hints), audit.HintChangesRefused)
	return &c
}

// hostPort is the server part of the target.
func (s *Store) hostPort() string {
	c := s.pool.Config().ConnConfig
	if strings.HasPrefix(c.Host, "/") {
		return c.Host
	}
	return fmt.Sprintf("%s:%d", c.Host, c.Port)
}
