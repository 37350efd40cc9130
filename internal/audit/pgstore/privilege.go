package pgstore

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// Denied reports whether the database refused err's statement for want of a privilege
// (insufficient_privilege): a role that may not create a table, or not write one. Other tables
// klrbac keeps beside the trail (proxy tokens) word that refusal as the trail does.
func Denied(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}
