package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/klrbac/klrbac/internal/fault"
)

// Migration is one step of a component's schema. Steps run in Version order, each once, in one
// transaction with its bookkeeping row.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Component is the audit trail's name in schema_migrations; other tables in the same database
// (proxy tokens) migrate under names of their own, with versions of their own.
const Component = "audit"

// Migrations is the audit trail's schema.
var Migrations = []Migration{{
	Version: 1,
	Name:    "audit_entries",
	SQL: `
CREATE TABLE audit_entries (
	seq     bigint PRIMARY KEY CHECK (seq > 0),
	ts      timestamptz NOT NULL,
	user_id text NOT NULL,
	role    text NOT NULL,
	action  text NOT NULL,
	line    text NOT NULL
);
-- The columns tail filters on; verify checks them against the line, which alone is hashed.
CREATE INDEX audit_entries_ts ON audit_entries (ts);
CREATE INDEX audit_entries_user_id ON audit_entries (user_id, seq);
CREATE INDEX audit_entries_role ON audit_entries (role, seq);
CREATE INDEX audit_entries_action ON audit_entries (action, seq);
-- Where imported entries came from: a file log's first and last seq and head hash, so that the old
-- chain stays provable against the file.
CREATE TABLE audit_imports (
	first_seq   bigint PRIMARY KEY,
	last_seq    bigint NOT NULL,
	file        text NOT NULL,
	file_first  bigint NOT NULL,
	file_last   bigint NOT NULL,
	file_head   text NOT NULL UNIQUE,
	imported_at timestamptz NOT NULL DEFAULT clock_timestamp()
);`,
}}

// Lock keys: pg_advisory_xact_lock takes a bigint, and these only need to differ from any other
// application's in the same database, which their spelling makes likely.
const (
	chainLock   int64 = 0x6b6c72626163_01 // "klrbac" + 1: appends to audit_entries
	migrateLock int64 = 0x6b6c72626163_02 // "klrbac" + 2: schema migrations
)

const bookkeeping = `CREATE TABLE IF NOT EXISTS schema_migrations (
	component  text NOT NULL,
	version    integer NOT NULL,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (component, version)
)`

// SchemaVersion returns the component's applied version: 0 when nothing is applied (or there is no
// schema_migrations table).
func SchemaVersion(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, component string) (int, error) {
	var v int
	err := db.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations WHERE component = $1`, component).Scan(&v)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return 0, nil
	}
	return v, err
}

// Migrate brings a component's schema up to date: it checks the version with a read (so a role
// with only SELECT and INSERT passes when nothing is to do), and otherwise applies the missing
// steps under an advisory lock, so that processes starting at once migrate once. A database newer
// than the steps known is refused rather than written to.
func Migrate(ctx context.Context, pool *pgxpool.Pool, component string, steps []Migration) (applied int, err error) {
	latest := 0
	for _, m := range steps {
		latest = max(latest, m.Version)
	}
	v, err := SchemaVersion(ctx, pool, component)
	if err != nil {
		return 0, err
	}
	if v == latest {
		return 0, nil
	}
	if v > latest {
		return 0, newerSchema(component, v, latest)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, bookkeeping); err != nil {
			return err
		}
		// Read again under the lock: another process may have migrated meanwhile.
		v, err := SchemaVersion(ctx, tx, component)
		if err != nil {
			return err
		}
		if v > latest {
			return newerSchema(component, v, latest)
		}
		for _, m := range steps {
			if m.Version <= v {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s %d (%s): %w", component, m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)`, component, m.Version, m.Name); err != nil {
				return err
			}
			applied++
		}
		return nil
	})
	return applied, err
}

func newerSchema(component string, have, know int) error {
	return fault.Unavailablef("the database's %s schema is at version %d, newer than this klrbac knows (%d)", component, have, know).
		Hint("upgrade klrbac: an older one must not write to a schema it does not know")
}

// Migrate applies the audit trail's schema now, for `klrbac audit migrate`; it returns the number
// of steps applied and the version reached.
func (s *Store) Migrate(ctx context.Context) (applied, version int, err error) {
	applied, err = Migrate(ctx, s.pool, Component, Migrations)
	if err != nil {
		return 0, 0, forWrite(s.unavailable("migrating", err))
	}
	version, err = SchemaVersion(ctx, s.pool, Component)
	if err != nil {
		return applied, 0, forWrite(s.unavailable("migrating", err))
	}
	return applied, version, nil
}

// ready makes sure the schema is there, once per Store: migrating it on first use unless
// NoMigrate, else checking its version. A failure is tried again on the next call.
func (s *Store) ready(ctx context.Context) error {
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	if s.schemaOK {
		return nil
	}
	latest := Migrations[len(Migrations)-1].Version
	if s.opts.NoMigrate {
		v, err := SchemaVersion(ctx, s.pool, Component)
		switch {
		case err != nil:
			return s.unavailable("checking the audit schema", err)
		case v < latest:
			return fault.Unavailablef("audit database %s has schema version %d, not %d", s.target, v, latest).
				Hint("run `klrbac audit migrate` as a role that may create tables")
		case v > latest:
			return newerSchema(Component, v, latest)
		}
		s.schemaOK = true
		return nil
	}
	if _, err := Migrate(ctx, s.pool, Component, Migrations); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42501" {
			return fault.Unavailablef("audit database %s has no current audit schema, and this role may not create it", s.target).
				Hint("run `klrbac audit migrate` once as a role that may create tables; klrbac then needs only SELECT and INSERT")
		}
		return s.unavailable("preparing the audit schema", err)
	}
	s.schemaOK = true
	return nil
}

// SchemaVersion is the audit trail's applied schema version, 0 before the first migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := SchemaVersion(ctx, s.pool, Component)
	if err != nil {
		return 0, s.unavailable("reading the schema version", err)
	}
	return v, nil
}
