// Package pgtest gives tests a real PostgreSQL: each test gets a fresh, empty database of its own on
// a server that is either named by KLRBAC_TEST_PG_DSN (CI starts a throwaway cluster and exports it)
// or, when the variable is unset, a throwaway cluster this package starts from the installed
// PostgreSQL binaries and stops when the test binary ends. With neither, tests skip with the
// reason, except under CI=true, where a missing PostgreSQL is a failure: CI must test it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the variable holding the DSN of a server the tests may create databases on.
const EnvDSN = "KLRBAC_TEST_PG_DSN"

var (
	once      sync.Once
	serverDSN string
	serverErr error
	cluster   *Cluster
)

// server returns the DSN of the server tests use, starting a throwaway cluster on first use when
// none is named.
func server() (string, error) {
	once.Do(func() {
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			serverDSN = dsn
			return
		}
		c, err := Start(Options{})
		if err != nil {
			serverErr = fmt.Errorf("%s is unset and no throwaway cluster could be started: %w", EnvDSN, err)
			return
		}
		cluster, serverDSN = c, c.DSN
	})
	return serverDSN, serverErr
}

// Main runs the tests and then stops the cluster this package started, if any. Use it from
// TestMain in every package that calls DSN.
func Main(m *testing.M) { os.Exit(Wrap(m).Run()) }

// Available reports whether a server can be had, and why not.
func Available() error {
	_, err := server()
	return err
}

// Need skips t (fails it under CI=true) when no server can be had.
func Need(t testing.TB) string {
	t.Helper()
	dsn, err := server()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true: %v", err)
		}
		t.Skipf("skipping: needs PostgreSQL (%v); set %s to a server's DSN, or install the postgresql package", err, EnvDSN)
	}
	return dsn
}

// DSN returns the DSN of a new, empty database for t, dropped when t ends (on the throwaway
// cluster, when the cluster is).
func DSN(t testing.TB) string {
	t.Helper()
	admin := Need(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "klrbac_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connecting to the test server: %v", err)
	}
	defer conn.Close(ctx)
	// FILE_COPY copies template1's files as they are; the default since PostgreSQL 15, WAL_LOG,
	// writes every block through the WAL, twice the server's CPU for a database no crash must
	// recover (the cluster runs without fsync). Older servers know only the file copy.
	create := "CREATE DATABASE " + name
	if majorVersion(conn.PgConn().ParameterStatus("server_version")) >= 15 {
		create += " STRATEGY FILE_COPY"
	}
	if _, err := conn.Exec(ctx, create); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	if cluster != nil {
		// The throwaway cluster this package started goes, with all its databases, when the test
		// binary ends: a drop per test would only add the server's work (a connection, and a
		// checkpoint) to every test's.
		return WithDatabase(admin, name)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	return WithDatabase(admin, name)
}

// majorVersion is the major version in a server_version such as "15.14 (Debian 15.14-0+deb12u1)".
func majorVersion(v string) int {
	end := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(v)
	}
	n, _ := strconv.Atoi(v[:end])
	return n
}

// WithDatabase returns dsn pointing at database name instead.
func WithDatabase(dsn, name string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	u.Path = "/" + name
	return u.String()
}

// Runner is what testscript.Main and Main run: the tests.
type Runner interface{ Run() int }

// Wrap returns m with the cluster this package started stopped after the tests, for packages whose
// TestMain hands m to another runner (testscript.Main).
func Wrap(m Runner) Runner { return stopAfter{m} }

type stopAfter struct{ m Runner }

func (s stopAfter) Run() int {
	code := s.m.Run()
	if cluster != nil {
		cluster.Stop()
	}
	return code
}
