package audit

import "net/url"

// RedactDSN shows a team audit trail's postgres:// URL without its password (from the user info or
// a password parameter) and without its other parameters: postgres://user@host:port/db. It lives
// here, not with the PostgreSQL store, so that showing the setting does not need the driver.
func RedactDSN(dsn string) string {
	if dsn == "" || dsn == "keyring" {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "(not a postgres:// URL)"
	}
	t := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.User != nil {
		t.User = url.User(u.User.Username())
	}
	if u.Host == "" {
		return t.String() + " (local socket)"
	}
	return t.String()
}
