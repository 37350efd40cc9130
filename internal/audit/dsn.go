package audit

import (
	"net/url"
	"strings"
)

// HintChangesRefused is the hint a store that cannot be reached adds when it fails a write: an
// audited change waits for its record. A caller that only reads, or that goes on without the record
// (a check), does not show it.
const HintChangesRefused = "changes are refused until their audit record can be written"

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

// DSNProblem says what is wrong with dsn as a postgres:// URL, "" when nothing is. It never
// repeats any part of dsn: a DSN carries a password, and in a URL that fails to parse klrbac
// cannot tell which part is the password, so url.Parse's own words (which quote the input) are
// reduced to the kind of mistake.
func DSNProblem(dsn string) string {
	_, err := url.Parse(dsn)
	switch {
	// In lower case, as the driver reads it: it takes POSTGRES:// for keyword=value settings.
	case !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://"):
		return "not a postgres:// URL"
	case err == nil:
		return ""
	case strings.Contains(err.Error(), "invalid port"):
		return "cannot parse the URL: invalid port (the port must be a number; a / or @ in the password must be written %2F or %40)"
	case strings.Contains(err.Error(), "invalid URL escape"):
		return "cannot parse the URL: invalid escape (% must be followed by two hex digits; write a % in a password as %25)"
	case strings.Contains(err.Error(), "invalid character"):
		return "cannot parse the URL: invalid character in the host"
	}
	return "cannot parse the URL"
}
