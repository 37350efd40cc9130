// Package pgtokens keeps proxy tokens in the team audit trail's PostgreSQL database, so that every
// proxy of a team accepts the same tokens and a revocation reaches all of them: the table
// proxy_tokens holds what the token file would (hashes, never a token), and a one-row counter,
// proxy_token_version, that every create and revoke bumps in its transaction, so that a running
// proxy polls one small row and lists the tokens again only when it changed.
//
// The schema is migrated as its own component of schema_migrations, beside the audit trail's, with
// the audit store's Migrate.
package pgtokens

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/klrbac/klrbac/internal/audit/pgstore"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/proxy"
)

// Component is the proxy tokens' name in schema_migrations.
const Component = "proxy_tokens"

// Migrations is the proxy tokens' schema.
var Migrations = []pgstore.Migration{{
	Version: 1,
	Name:    "proxy_tokens",
	SQL: `
CREATE TABLE proxy_tokens (
	-- The order tokens were made in, which list keeps, as the file does.
	position  bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	id        text PRIMARY KEY,
	user_id   text NOT NULL,
	name      text NOT NULL DEFAULT '',
	hash      text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
	created   timestamptz NOT NULL,
	expires   timestamptz,
	last_used timestamptz,
	revoked   timestamptz
);
CREATE INDEX proxy_tokens_user_id ON proxy_tokens (user_id);
CREATE TABLE proxy_token_version (
	one     boolean PRIMARY KEY DEFAULT true CHECK (one),
	version bigint NOT NULL
);
INSERT INTO proxy_token_version (version) VALUES (0);`,
}}

// Options tune a Store; the zero value is what klrbac uses.
type Options struct {
	// Now is the clock of created and revoked times (default time.Now), as the file's is: a token's
	// expiry is compared with the proxy's clock.
	Now func() time.Time
}

// Store keeps proxy tokens in the database of a team audit trail.
type Store struct {
	pool  *pgxpool.Pool
	where string
	// redact takes the password and the user name out of the driver's words, as the audit
	// store's own messages do.
	redact func(string) string
	opts   Options

	schemaMu sync.Mutex
	schemaOK bool
}

var _ proxy.TokenStore = (*Store)(nil)

// Open keeps tokens in db's database, through db's pool: closing db closes the store.
func Open(db *pgstore.Store, opts Options) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{pool: db.Pool(), where: db.Where(), redact: db.Redact, opts: opts}
}

// Where names the database without its password.
func (s *Store) Where() string { return s.where }

// ready makes sure the schema is there, migrating it on first use, once per Store; a failure is
// tried again on the next call. Migrate only reads when nothing is to do, so a role without CREATE
// passes once the tables exist.
func (s *Store) ready(ctx context.Context) error {
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	if s.schemaOK {
		return nil
	}
	_, err := pgstore.Migrate(ctx, s.pool, Component, Migrations)
	switch {
	case pgstore.Denied(err):
		return fault.Unavailablef("database %s has no proxy token tables, and this role may not create them", s.where).
			Hint("run a `klrbac proxy token` command once as a role that may create tables; then SELECT, INSERT and UPDATE on proxy_tokens and proxy_token_version suffice")
	case err != nil:
		return s.unavailable("preparing the proxy token tables", err)
	}
	s.schemaOK = true
	return nil
}

// unavailable turns a database failure into klrbac's "could not evaluate", naming the database
// without its password. Errors already worded by klrbac (a refused revoke) pass unchanged.
func (s *Store) unavailable(what string, err error) error {
	var fe *fault.Error
	if errors.Is(err, context.Canceled) || errors.As(err, &fe) {
		return err
	}
	if pgstore.Denied(err) {
		return fault.Unavailablef("%s: database %s refused: %s", what, s.where, s.redact(err.Error())).
			Hint("the database role needs SELECT, INSERT and UPDATE on proxy_tokens and proxy_token_version")
	}
	return fault.Unavailablef("%s: proxy tokens in database %s: %s", what, s.where, s.redact(err.Error())).
		Hint("check that the database is up and reachable from here, or point " + pgstore.Setting + " elsewhere")
}

// bump marks a change for the proxies polling Version, in the transaction making it.
const bump = `UPDATE proxy_token_version SET version = version + 1`

// Create makes a token for user, valid for ttl, and returns it: the one time it exists in the clear.
func (s *Store) Create(ctx context.Context, user, name string, ttl time.Duration) (string, proxy.Token, error) {
	secret, t, err := proxy.NewToken(user, name, ttl, s.opts.Now())
	if err != nil {
		return "", proxy.Token{}, err
	}
	if err := s.ready(ctx); err != nil {
		return "", proxy.Token{}, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO proxy_tokens (id, user_id, name, hash, created, expires) VALUES ($1, $2, $3, $4, $5, $6)`,
			t.ID, t.User, t.Name, t.Hash, t.Created, nullTime(t.Expires)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, bump)
		return err
	})
	if err != nil {
		return "", proxy.Token{}, s.unavailable("creating a proxy token", err)
	}
	return secret, t, nil
}

const columns = `id, user_id, name, hash, created, expires, last_used, revoked`

// List returns every token, oldest first.
func (s *Store) List(ctx context.Context) ([]proxy.Token, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	out, err := list(ctx, s.pool, `SELECT `+columns+` FROM proxy_tokens ORDER BY position`)
	if err != nil {
		return nil, s.unavailable("listing proxy tokens", err)
	}
	return out, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func list(ctx context.Context, q querier, sql string, args ...any) ([]proxy.Token, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (proxy.Token, error) {
		var t proxy.Token
		var expires, lastUsed, revoked *time.Time
		err := row.Scan(&t.ID, &t.User, &t.Name, &t.Hash, &t.Created, &expires, &lastUsed, &revoked)
		t.Created = t.Created.UTC()
		t.Expires, t.LastUsed, t.Revoked = timeOf(expires), timeOf(lastUsed), timeOf(revoked)
		return t, err
	})
}

// Revoke revokes the token with id ref, or else every active token of the user named ref, as the
// file does (proxy.ToRevoke picks them), and returns what it revoked.
func (s *Store) Revoke(ctx context.Context, ref string) ([]proxy.Token, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var out []proxy.Token
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Locked, so that two revokes of one user at once do not both report the same tokens.
		tokens, err := list(ctx, tx, `SELECT `+columns+` FROM proxy_tokens WHERE id = $1 OR user_id = $1 ORDER BY position FOR UPDATE`, ref)
		if err != nil {
			return err
		}
		pick, err := proxy.ToRevoke(tokens, ref)
		if err != nil {
			return err
		}
		now := s.opts.Now().UTC().Truncate(time.Second)
		ids := make([]string, len(pick))
		for i, j := range pick {
			tokens[j].Revoked = now
			ids[i] = tokens[j].ID
			out = append(out, tokens[j])
		}
		if _, err := tx.Exec(ctx, `UPDATE proxy_tokens SET revoked = $2 WHERE id = ANY($1)`, ids, now); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, bump)
		return err
	})
	if err != nil {
		return nil, s.unavailable("revoking proxy tokens", err)
	}
	return out, nil
}

// Touch records when tokens were last used; a later time already kept stays. It changes no
// version: a last use decides nothing.
func (s *Store) Touch(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	if err := s.ready(ctx); err != nil {
		return err
	}
	ids := make([]string, 0, len(used))
	ats := make([]time.Time, 0, len(used))
	for id, at := range used {
		ids = append(ids, id)
		ats = append(ats, at.UTC().Truncate(time.Second))
	}
	_, err := s.pool.Exec(ctx, `UPDATE proxy_tokens AS t SET last_used = u.at
FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)
WHERE t.id = u.id AND (t.last_used IS NULL OR t.last_used < u.at)`, ids, ats)
	if err != nil {
		return s.unavailable("saving last-use times", err)
	}
	return nil
}

// Version is the change counter: one row, read every poll of every proxy.
func (s *Store) Version(ctx context.Context) (string, error) {
	if err := s.ready(ctx); err != nil {
		return "", err
	}
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM proxy_token_version`).Scan(&v); err != nil {
		return "", s.unavailable("polling proxy tokens", err)
	}
	return strconv.FormatInt(v, 10), nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// Choose is where proxy tokens are kept: db, the team audit trail's database, when there is one, so
// that every proxy of the team finds them; else the token file that file names, asked for only then.
// done releases what the store holds.
func Choose(db *pgstore.Store, file func() (string, error)) (store proxy.TokenStore, done func(), err error) {
	if db != nil {
		return Open(db, Options{}), db.Close, nil
	}
	path, err := file()
	if err != nil {
		return nil, nil, err
	}
	f, err := proxy.OpenTokenFile(path, nil)
	if err != nil {
		return nil, nil, err
	}
	return f, func() {}, nil
}
