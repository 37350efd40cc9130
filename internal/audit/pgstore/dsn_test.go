package pgstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/pgtest"
	"github.com/klrbac/klrbac/internal/secrets"
)

// mapStore is a keyring held in memory.
type mapStore map[secrets.Item]string

func (m mapStore) Get(_ context.Context, i secrets.Item) (secrets.Secret, error) {
	v, ok := m[i]
	if !ok {
		return secrets.Secret{}, &secrets.Error{Class: secrets.NotFound, Op: "read", Item: i}
	}
	return secrets.NewSecret(v), nil
}

func (m mapStore) Set(_ context.Context, i secrets.Item, v secrets.Secret) error {
	m[i] = v.Reveal()
	return nil
}

func (m mapStore) Delete(_ context.Context, i secrets.Item) error { delete(m, i); return nil }

func TestResolveDSN(t *testing.T) {
	ctx := context.Background()
	store := mapStore{}
	keyring := func() (secrets.Store, error) { return store, nil }
	if dsn, err := ResolveDSN(ctx, "", true, keyring); dsn != "" || err != nil {
		t.Fatalf("unset: %q, %v", dsn, err)
	}
	// In the environment or a config file, a password is the user's business; on the command
	// line other users see it.
	withPassword := "postgres://klrbac:pw-canary-4411@db/audit"
	if dsn, err := ResolveDSN(ctx, withPassword, false, keyring); dsn != withPassword || err != nil {
		t.Fatalf("from the environment: %q, %v", dsn, err)
	}
	for _, dsn := range []string{withPassword, "postgres://klrbac@db/audit?password=pw-canary-4411"} {
		_, err := ResolveDSN(ctx, dsn, true, keyring)
		if fault.KindOf(err) != fault.Usage || strings.Contains(err.Error(), "pw-canary") {
			t.Fatalf("a password on the command line: %v", err)
		}
	}
	if dsn, err := ResolveDSN(ctx, "postgres://klrbac@db/audit", true, keyring); dsn == "" || err != nil {
		t.Fatalf("a flag without a password: %q, %v", dsn, err)
	}
	_, err := ResolveDSN(ctx, "keyring", false, keyring)
	if fault.KindOf(err) != fault.Unavailable || !strings.Contains(err.Error(), "no audit DSN") {
		t.Fatalf("keyring without a DSN: %v", err)
	}
	refused := errors.New("keyring locked")
	if _, err := ResolveDSN(ctx, "keyring", false, func() (secrets.Store, error) { return nil, refused }); !errors.Is(err, refused) {
		t.Fatalf("a keyring that cannot be opened: %v", err)
	}
}

func TestKeepDSN(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	store := mapStore{}
	if _, err := KeepDSN(ctx, store, "mysql://db/audit", "the DSN on standard input"); err == nil || len(store) != 0 {
		t.Fatalf("kept a DSN that is not postgres://: %v, %v", err, store)
	} else if !strings.HasPrefix(err.Error(), "the DSN on standard input: ") || strings.Contains(err.Error(), "KLRBAC_AUDIT_DSN") {
		t.Fatalf("a DSN that is not a setting yet is named as one: %v", err)
	}
	where, err := KeepDSN(ctx, store, dsn, "the DSN on standard input")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(where, "password") || where == "" {
		t.Fatalf("where: %q", where)
	}
	got, err := ResolveDSN(ctx, "keyring", false, func() (secrets.Store, error) { return store, nil })
	if err != nil || got != dsn {
		t.Fatalf("the kept DSN read back: %v", err)
	}
}
