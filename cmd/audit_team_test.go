package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/pgtest"
)

// teamTrail runs klrbac processes for one test of the team audit trail. They run as processes, each
// with the environment given here, rather than in this one with t.Setenv, so that these tests can
// run beside the others (t.Parallel): most of their time is spent waiting for PostgreSQL.
type teamTrail struct {
	t   *testing.T
	exe string
	env []string
}

// newTeamTrail points klrbac at dsn with a password in it (when dsn is not empty), at a state
// directory that must stay empty, and at no config, audit log or keyring.
func newTeamTrail(t *testing.T, dsn string) (k *teamTrail, state string) {
	t.Helper()
	dir := t.TempDir()
	state = filepath.Join(dir, "state")
	return &teamTrail{t: t, exe: klrbacBinary(t), env: []string{
		"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "USER=tester",
		"XDG_STATE_HOME=" + state,
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"KLRBAC_CONFIG=",
		"KLRBAC_AUDIT_LOG=",
		"KLRBAC_KEYRING=off",
		"KLRBAC_ACTOR=tester",
		"KLRBAC_AUDIT_DSN=" + dsn,
		// Under -race the test binary otherwise sleeps a second as it exits.
		"GORACE=atexit_sleep_ms=0 " + os.Getenv("GORACE"),
	}}, state
}

// dbEnv is newTeamTrail on a fresh database with a password in its DSN.
func dbEnv(t *testing.T) (k *teamTrail, dsn, state string) {
	t.Helper()
	dsn = strings.Replace(pgtest.DSN(t), "postgres://postgres@", "postgres://postgres:pw-canary-7731@", 1)
	k, state = newTeamTrail(t, dsn)
	return k, dsn, state
}

// run runs klrbac with args, and with the extra NAME=VALUE variables in env, and returns its
// stdout, stderr and exit status.
func (k *teamTrail) run(env []string, args ...string) (stdout, stderr string, code int) {
	k.t.Helper()
	cmd := klrbacCommand(k.exe, append(slices.Clone(k.env), env...), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		k.t.Fatalf("klrbac %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

func noPassword(t *testing.T, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, "pw-canary-7731") {
			t.Fatalf("the DSN's password reached the output:\n%s", o)
		}
	}
}

// noUser fails when the DSN's user name, which klrbac masks as it masks the password, was printed:
// the driver's own words name it (`user=auditor`).
func noUser(t *testing.T, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, "auditor") {
			t.Fatalf("the DSN's user name reached the output:\n%s", o)
		}
	}
}

func TestTeamAuditTrailCommands(t *testing.T) {
	t.Parallel()
	k, dsn, state := dbEnv(t)
	run := func(args ...string) (string, string, int) { t.Helper(); return k.run(nil, args...) }
	out, errOut, code := run("audit", "migrate")
	noPassword(t, out, errOut)
	if code != 0 || !strings.Contains(out, "schema version 1") {
		t.Fatalf("migrate: %d %q %q", code, out, errOut)
	}
	out, errOut, code = run("doctor", "-o", "json")
	noPassword(t, out, errOut)
	if !strings.Contains(out, `"check": "audit database"`) || !strings.Contains(out, "schema version 1, chain head 0:0000") {
		t.Fatalf("doctor: %d %q %q", code, out, errOut)
	}
	if _, errOut, code = run("check", "viewer", "canDeleteProfiles"); code != 1 || errOut != "" {
		t.Fatalf("check: %d %q", code, errOut)
	}
	if _, errOut, code = run("audit", "record", "--action", "deploy.release", "--resource", "v2"); code != 0 {
		t.Fatalf("record: %d %q", code, errOut)
	}
	out, errOut, code = run("audit", "tail", "-o", "json")
	noPassword(t, out, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[0], `"action":"check"`) || !strings.Contains(lines[1], `"action":"deploy.release"`) {
		t.Fatalf("tail: %d %q %q", code, out, errOut)
	}
	if _, err := os.Stat(state); err == nil {
		t.Fatalf("with audit.dsn set, klrbac wrote under %s", state)
	}
	head, _, code := run("audit", "head")
	if code != 0 || !strings.HasPrefix(head, "2:") {
		t.Fatalf("head: %d %q", code, head)
	}
	out, errOut, code = run("audit", "verify", "--expect-head", strings.TrimSpace(head))
	noPassword(t, out, errOut)
	if code != 0 || !strings.Contains(out, "verified") || !strings.Contains(out, "postgres://****@") {
		t.Fatalf("verify: %d %q %q", code, out, errOut)
	}
	// export verifies as a file, with the same head
	exported := filepath.Join(t.TempDir(), "export.log")
	if _, errOut, code = run("audit", "export", exported); code != 0 {
		t.Fatalf("export: %d %q", code, errOut)
	}
	out, _, code = run("audit", "verify", exported)
	if code != 0 || !strings.Contains(out, strings.TrimSpace(head)) {
		t.Fatalf("verify of the export: %d %q", code, out)
	}
	// a part exported --since continues after an entry it does not hold: the export names the
	// entry its first line links to, and verify accepts the part only against a head kept from
	// before (here the chain's first entry, from the tail above)
	var second struct {
		TS string `json:"timestamp"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil || second.TS == "" {
		t.Fatalf("seq 2's time: %v in %s", err, lines[1])
	}
	part := filepath.Join(t.TempDir(), "part.log")
	_, errOut, code = run("audit", "export", "--since", second.TS, part)
	first := strings.TrimSpace(strings.Split(lines[0], `"hash":"`)[1])
	after := "1:" + strings.TrimSuffix(first, `"}`)
	if code != 0 || !strings.Contains(errOut, "exported 1 entry") || !strings.Contains(errOut, "head "+strings.TrimSpace(head)) ||
		!strings.Contains(errOut, "first entry links to "+after+": it continues the chain if that is the head the part before it ended at") ||
		!strings.Contains(errOut, "klrbac audit verify "+part+" --after SEQ:HASH") {
		t.Fatalf("export --since: %d %q (want after %s)", code, errOut, after)
	}
	if out, _, code = run("audit", "verify", part); code != 1 || !strings.Contains(out, "starts at seq 2, not 1") {
		t.Fatalf("verify of the part without --after: %d %q", code, out)
	}
	if out, _, code = run("audit", "verify", part, "--after", after, "--expect-head", strings.TrimSpace(head)); code != 0 || !strings.Contains(out, "verified") {
		t.Fatalf("verify of the part --after %s: %d %q", after, code, out)
	}
	empty := filepath.Join(t.TempDir(), "empty.log")
	if _, errOut, code = run("audit", "export", "--since", "2099-01-01", empty); code != 0 || !strings.Contains(errOut, "exported 0 entries") || strings.Contains(errOut, "head") {
		t.Fatalf("export of nothing: %d %q", code, errOut)
	}
	if _, errOut, code = run("audit", "verify", "--after", after); code != 2 || !strings.Contains(errOut, "whole chain") {
		t.Fatalf("verify of the database --after: %d %q", code, errOut)
	}
	// a DBA's edit is named by seq, and exits 1
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `UPDATE audit_entries SET line = replace(line, '"v2"', '"v3"') WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	out, _, code = run("audit", "verify")
	if code != 1 || !strings.Contains(out, "row seq 2: hash does not match") {
		t.Fatalf("verify after an edit: %d %q", code, out)
	}
	// and no change builds on it
	_, errOut, code = run("audit", "record", "--action", "deploy.release")
	if code != 3 || !strings.Contains(errOut, "audit verify") {
		t.Fatalf("record on an edited chain: %d %q", code, errOut)
	}
}

func TestTeamAuditTrailImportsAFileLog(t *testing.T) {
	t.Parallel()
	k, _, _ := dbEnv(t)
	run := func(args ...string) (string, string, int) { t.Helper(); return k.run(nil, args...) }
	path := filepath.Join(t.TempDir(), "old.log")
	log, err := audit.Open(path, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := log.Append(context.Background(), audit.Entry{UserID: "ana", Action: "keys.set"}); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := run("audit", "import", path)
	if code != 0 || !strings.Contains(out, "imported 3 entries") || !strings.Contains(out, "as seq 1-3, recorded as seq 4") {
		t.Fatalf("import: %d %q %q", code, out, errOut)
	}
	if _, errOut, code = run("audit", "import", path); code != 2 || !strings.Contains(errOut, "imported already") {
		t.Fatalf("second import: %d %q", code, errOut)
	}
	out, _, code = run("audit", "tail", "-n", "1", "-o", "json")
	if code != 0 || !strings.Contains(out, `"action":"audit.imported"`) || !strings.Contains(out, `"userId":"tester"`) {
		t.Fatalf("provenance: %d %q", code, out)
	}
}

// With the database unreachable, a change is refused (exit 3) naming the host and the setting,
// and a check still answers, with a warning.
func TestTeamAuditTrailFailsClosed(t *testing.T) {
	t.Parallel()
	k, state := newTeamTrail(t, "postgres://auditor:pw-canary-7731@127.0.0.1:1/audit?connect_timeout=2")
	run := func(args ...string) (string, string, int) { t.Helper(); return k.run(nil, args...) }
	out, errOut, code := run("audit", "record", "--action", "deploy.release")
	noPassword(t, out, errOut)
	noUser(t, out, errOut)
	if code != 3 || !strings.Contains(errOut, "127.0.0.1:1") || !strings.Contains(errOut, "audit.dsn") {
		t.Fatalf("record: %d %q", code, errOut)
	}
	if !strings.Contains(errOut, "hint: "+audit.HintChangesRefused) {
		t.Fatalf("record does not say changes wait for the database: %q", errOut)
	}
	out, errOut, code = run("check", "admin", "canReadProfiles")
	noPassword(t, out, errOut)
	noUser(t, out, errOut)
	if code != 0 || out != "yes\n" || !strings.Contains(errOut, "not audited") {
		t.Fatalf("check: %d %q %q", code, out, errOut)
	}
	// Reads refuse nothing: their hint says what to check, and where the setting is, and no more.
	for _, args := range [][]string{{"check", "admin", "canReadProfiles"}, {"audit", "tail"}, {"audit", "verify"}, {"audit", "head"}} {
		_, errOut, _ := run(args...)
		if strings.Contains(errOut, audit.HintChangesRefused) || !strings.Contains(errOut, "hint: check that the database at 127.0.0.1:1 is up") {
			t.Fatalf("%s: %q", strings.Join(args, " "), errOut)
		}
	}
	out, errOut, code = run("config", "show")
	noPassword(t, out, errOut)
	if !strings.Contains(out, "postgres://****@127.0.0.1:1/audit") {
		t.Fatalf("config show: %d %q", code, out)
	}
	out, errOut, code = run("doctor", "-o", "json")
	noPassword(t, out, errOut)
	noUser(t, out, errOut)
	if code != 1 || !strings.Contains(out, "postgres://****@127.0.0.1:1/audit is unreachable") || !strings.Contains(out, "audit.dsn") {
		t.Fatalf("doctor without the database: %d %q %q", code, out, errOut)
	}
	if _, errOut, code = run("--audit-dsn", "postgres://a:pw-canary-7731@db/x", "audit", "head"); code != 2 || !strings.Contains(errOut, "refusing a password") {
		t.Fatalf("a password on the command line: %d %q", code, errOut)
	}
	noPassword(t, errOut)
	if _, err := os.Stat(state); err == nil {
		t.Fatal("with audit.dsn set, klrbac wrote a local audit file")
	}
}

// audit head vouches for every row up to the head, as it does for a file: a row edited anywhere,
// not only among the last two an append checks, gets no checkpoint but exit 1.
func TestTeamAuditTrailHeadVerifiesTheWholeChain(t *testing.T) {
	t.Parallel()
	k, dsn, _ := dbEnv(t)
	run := func(args ...string) (string, string, int) { t.Helper(); return k.run(nil, args...) }
	for _, r := range []string{"v1", "v2", "v3", "v4"} {
		if _, errOut, code := run("audit", "record", "--action", "deploy.release", "--resource", r); code != 0 {
			t.Fatalf("record: %d %q", code, errOut)
		}
	}
	head, errOut, code := run("audit", "head")
	if code != 0 || !strings.HasPrefix(head, "4:") {
		t.Fatalf("head of an intact chain: %d %q %q", code, head, errOut)
	}
	out, _, code := run("audit", "head", "-o", "json")
	if code != 0 || !strings.Contains(out, `"seq": 4`) {
		t.Fatalf("head -o json: %d %q", code, out)
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `UPDATE audit_entries SET line = replace(line, '"v1"', '"v9"') WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = run("audit", "head")
	noPassword(t, out, errOut)
	if code != 1 || out != "" || !strings.Contains(errOut, "refusing to give a checkpoint of postgres://****@") ||
		!strings.Contains(errOut, "which does not verify: row seq 1: hash does not match") || !strings.Contains(errOut, "hint: run 'klrbac audit verify'") {
		t.Fatalf("head of a chain edited at seq 1: %d %q %q", code, out, errOut)
	}
}

// tail's filters on the team trail select what they select on a file: the database narrows the rows
// (see pgstore's tests for what it reads), the line has the last word.
func TestTeamAuditTrailTailFilters(t *testing.T) {
	t.Parallel()
	k, _, _ := dbEnv(t)
	run := func(args ...string) (string, string, int) { t.Helper(); return k.run(nil, args...) }
	for i, r := range []struct{ actor, action string }{
		{"ana", "deploy.release"}, {"bob", "deploy.release"}, {"ana", "db.backup"}, {"bob", "deploy.rollback"}, {"ana", "deploy.release"},
	} {
		args := []string{"audit", "record", "--action", r.action, "--resource", fmt.Sprint("r", i+1)}
		if i == 3 {
			args = append(args, "--failed")
		}
		if _, errOut, code := k.run([]string{"KLRBAC_ACTOR=" + r.actor}, args...); code != 0 {
			t.Fatalf("record: %d %q", code, errOut)
		}
	}
	resources := func(out string) string {
		var rs []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if i := strings.Index(l, `"resource":"`); i >= 0 {
				rs = append(rs, strings.SplitN(l[i+len(`"resource":"`):], `"`, 2)[0])
			}
		}
		return strings.Join(rs, " ")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "ana", "-n", "2"}, "r3 r5"},
		{[]string{"--user", "a?a"}, "r1 r3 r5"},
		{[]string{"--action", "deploy.*", "-n", "3"}, "r2 r4 r5"},
		{[]string{"--action", "deploy.*", "--user", "bob", "--failed"}, "r4"},
		{[]string{"--role", "admin"}, ""},
		{[]string{"--since", "1h", "--action", "deploy.release"}, "r1 r2 r5"},
		{[]string{"--since", "1h", "-n", "1"}, "r5"},
		{[]string{"--since", "2099-01-01"}, ""},
	} {
		args := append([]string{"audit", "tail", "-o", "json"}, c.args...)
		out, errOut, code := run(args...)
		if code != 0 || resources(out) != c.want {
			t.Errorf("tail %v: %d %q %q, want %s", c.args, code, out, errOut, c.want)
		}
	}
	// --since without -n, as a table: its columns are fitted over every row since, then printed.
	out, errOut, code := run("audit", "tail", "--since", "1h", "--user", "bob")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[1], "deploy.release") ||
		!strings.Contains(lines[2], "deploy.rollback") || !strings.Contains(lines[2], "failed") {
		t.Fatalf("tail --since as a table: %d %q %q", code, out, errOut)
	}
}
