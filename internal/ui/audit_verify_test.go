package ui

import (
	"bytes"
	"testing"

	"github.com/klrbac/klrbac/internal/audit"
)

func TestAuditVerification(t *testing.T) {
	var out bytes.Buffer
	s := &IO{Out: &out}
	s.AuditVerification(audit.Verification{
		File: "audit.log", Lines: 4, Entries: 2, First: "2026-05-01T09:00:00Z", Last: "2026-05-01T10:00:00Z",
		Head:      audit.Head{Seq: 2, Hash: "ab"},
		Recovered: []audit.Recovery{{Line: 2, Lines: 2, Bytes: 17, RecordedAt: 4, Seq: 2}},
		Problems:  []audit.Problem{{Line: 3, Message: "line 3: hash mismatch"}}, Omitted: 1,
	})
	want := `audit log:  audit.log
status:     TAMPERED: 2 problems
entries:    2 (4 lines)
first:      2026-05-01T09:00:00Z
last:       2026-05-01T10:00:00Z
head:       2:ab
recovered:  lines 2-3 (17 bytes left by an interrupted write), accounted for by seq 2 at line 4
problem:    line 3: hash mismatch
problem:    ... and 1 more
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}
