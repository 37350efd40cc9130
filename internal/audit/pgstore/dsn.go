package pgstore

import (
	"context"
	"net/url"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/secrets"
)

// KeyringItem is where `klrbac audit set-dsn` keeps the team audit trail's DSN.
const KeyringItem = secrets.Item("audit-dsn:default")

// ResolveDSN is the postgres:// URL the audit.dsn setting names: "" when it is unset (the trail is
// the file), the keyring's (keyring opens it) when it says "keyring", else dsn itself. A password in
// a DSN given on the command line (fromFlag), which other users can see, is refused.
func ResolveDSN(ctx context.Context, dsn string, fromFlag bool, keyring func() (secrets.Store, error)) (string, error) {
	switch {
	case dsn == "":
		return "", nil
	case dsn == "keyring":
		store, err := keyring()
		if err != nil {
			return "", err
		}
		s, err := store.Get(ctx, KeyringItem)
		if err != nil {
			return "", fault.Unavailablef("audit.dsn is keyring, but the keyring has no audit DSN: %w", secrets.Explain(err, "KLRBAC_AUDIT_DSN")).
				Hint("store it with `klrbac audit set-dsn`, or set KLRBAC_AUDIT_DSN")
		}
		return s.Reveal(), nil
	case fromFlag:
		if u, err := url.Parse(dsn); err == nil {
			if _, ok := u.User.Password(); ok || u.Query().Has("password") {
				return "", fault.Usagef("refusing a password in --audit-dsn: the command line is visible to other users").
					Hint("put the DSN in KLRBAC_AUDIT_DSN or the keyring (`klrbac audit set-dsn`), or the password in PGPASSWORD or ~/.pgpass")
			}
		}
	}
	return dsn, nil
}

// KeepDSN checks that dsn is a DSN klrbac can use and keeps it in store for audit.dsn: keyring. It
// returns where the DSN points, without its password. source names where dsn came from (standard
// input), for its errors: it is not yet audit.dsn.
func KeepDSN(ctx context.Context, store secrets.Store, dsn, source string) (where string, err error) {
	s, err := Open(dsn, Options{Source: source})
	if err != nil {
		return "", err
	}
	where = s.Where()
	s.Close()
	if err := store.Set(ctx, KeyringItem, secrets.NewSecret(dsn)); err != nil {
		// Advice words it "or set KLRBAC_AUDIT_DSN": the alternative is only the variable's name.
		return "", secrets.Explain(err, "KLRBAC_AUDIT_DSN")
	}
	return where, nil
}
