package cmd

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// With the team audit trail, proxy tokens live in its database, where every proxy of the team finds
// them: the commands write no tokens file, keep only hashes, and audit each change there.
func TestProxyTokensInTheTeamDatabase(t *testing.T) {
	t.Parallel()
	k, dsn, state := dbEnv(t)
	run := func(args ...string) (string, string, int) { t.Helper(); return k.run(nil, args...) }
	token, errOut, code := run("proxy", "token", "create", "crm-sync", "--name", "CRM sync", "--ttl", "30d")
	noPassword(t, token, errOut)
	token = strings.TrimSpace(token)
	if code != 0 || !strings.HasPrefix(token, "klrbac_pt_") || !strings.Contains(errOut, "proxy token pt-") {
		t.Fatalf("create: %d %q %q", code, token, errOut)
	}
	out, errOut, code := run("proxy", "token", "list", "-o", "json")
	noPassword(t, out, errOut)
	if code != 0 || !strings.Contains(out, `"user": "crm-sync"`) || !strings.Contains(out, `"name": "CRM sync"`) || !strings.Contains(out, `"state": "active"`) {
		t.Fatalf("list: %d %q %q", code, out, errOut)
	}

	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var rows int
	var stored string
	if err := conn.QueryRow(context.Background(), `SELECT count(*), string_agg(t::text, ' ') FROM proxy_tokens t`).Scan(&rows, &stored); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || strings.Contains(stored, token) || strings.Contains(stored, strings.TrimPrefix(token, "klrbac_pt_")) {
		t.Fatalf("proxy_tokens holds %d rows, or the token itself: %q", rows, stored)
	}

	if _, errOut, code = run("proxy", "token", "revoke", "crm-sync"); code != 0 || !strings.Contains(errOut, "revoked pt-") {
		t.Fatalf("revoke: %d %q", code, errOut)
	}
	if out, _, _ = run("proxy", "token", "list"); !strings.Contains(out, "revoked") {
		t.Fatalf("list after revoke: %q", out)
	}
	out, _, code = run("audit", "tail", "-o", "json")
	if code != 0 || !strings.Contains(out, `"action":"proxy.token.create"`) || !strings.Contains(out, `"action":"proxy.token.revoke"`) || strings.Contains(out, token) {
		t.Fatalf("the team trail's record of the changes: %d %q", code, out)
	}
	if _, err := os.Stat(state); err == nil {
		t.Fatalf("with audit.dsn set, the token commands wrote under %s", state)
	}
}
