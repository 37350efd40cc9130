package audit

import (
	"strings"
	"testing"
)

func TestDSNProblemNamesTheMistakeWithoutTheDSN(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://klw:pw@db:5432/audit":      "",
		"postgresql://klw@db/audit":            "",
		"POSTGRESQL://klw@db/audit":            "not a postgres:// URL",
		"mysql://klw:pw@db/audit":              "not a postgres:// URL",
		"host=db password=pw":                  "not a postgres:// URL",
		"mysql://klw@db:notaport/audit":        "not a postgres:// URL",
		"postgres://klw:s3cr3t@db:notaport/a":  "cannot parse the URL: invalid port",
		"postgres://klw:s3cr3t%zz@db/audit":    "cannot parse the URL: invalid escape",
		"postgres://klw:s3/cr3t@db:5432/audit": "cannot parse the URL: invalid port",
	} {
		got := DSNProblem(dsn)
		if !strings.HasPrefix(got, want) || (want == "") != (got == "") || strings.Contains(got, "s3") {
			t.Errorf("DSNProblem(%q) = %q, want %q", dsn, got, want)
		}
	}
}
