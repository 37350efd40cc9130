package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/pgtest"
)

// filled returns a store holding n entries.
func filled(t *testing.T, n int) (string, *Store) {
	t.Helper()
	dsn := pgtest.DSN(t)
	s := openTest(t, dsn, Options{})
	entries := make([]audit.Entry, n)
	for i := range entries {
		entries[i] = audit.Entry{UserID: fmt.Sprintf("user%d", i%3), Role: "viewer", Action: "check", Resource: "canReadProfiles", Success: i%2 == 0}
	}
	if _, err := s.AppendAll(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
	return dsn, s
}

func problems(t *testing.T, s *Store, opts audit.VerifyOptions) []audit.Problem {
	t.Helper()
	rep, err := s.Verify(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep.Problems
}

var lineNumber = regexp.MustCompile(`\blines? \d`)

func TestVerifyNamesTamperedRowsBySeq(t *testing.T) {
	cases := []struct {
		name, sql string
		kind      string
		mention   string
	}{
		{"edited line", `UPDATE audit_entries SET line = replace(line, '"user1"', '"eve"') WHERE seq = 5`, audit.KindEdited, "row seq 5"},
		{"edited column", `UPDATE audit_entries SET role = 'admin' WHERE seq = 4`, audit.KindEdited, "row seq 4: its role column"},
		{"deleted", `DELETE FROM audit_entries WHERE seq IN (4, 5)`, audit.KindGap, "seq 6 follows seq 3"},
		{"inserted", `UPDATE audit_entries SET seq = seq + 1000 WHERE seq >= 7; UPDATE audit_entries SET seq = seq - 999 WHERE seq > 1000; INSERT INTO audit_entries SELECT 7, ts, user_id, role, action, line FROM audit_entries WHERE seq = 3`, audit.KindOrder, "row seq 7"},
		{"reordered", `UPDATE audit_entries SET seq = 1000 WHERE seq = 3; UPDATE audit_entries SET seq = 3 WHERE seq = 6; UPDATE audit_entries SET seq = 6 WHERE seq = 1000`, audit.KindOrder, "row seq 3 holds the line of seq 6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dsn, s := filled(t, 10)
			if ps := problems(t, s, audit.VerifyOptions{}); len(ps) != 0 {
				t.Fatalf("untouched chain: %+v", ps)
			}
			exec(t, dsn, c.sql)
			ps := problems(t, s, audit.VerifyOptions{})
			found := false
			for _, p := range ps {
				found = found || (p.Kind == c.kind && strings.Contains(p.Message, c.mention))
				if lineNumber.MatchString(p.Message) {
					t.Errorf("a problem names a line, not a row: %s", p.Message)
				}
			}
			if !found {
				t.Fatalf("no %s problem mentioning %q in %+v", c.kind, c.mention, ps)
			}
		})
	}
}

func TestVerifyExpectHeadCatchesTruncation(t *testing.T) {
	dsn, s := filled(t, 10)
	head, err := s.Head(context.Background())
	if err != nil || head.Seq != 10 {
		t.Fatalf("head %v %v", head, err)
	}
	if ps := problems(t, s, audit.VerifyOptions{Expect: &head}); len(ps) != 0 {
		t.Fatalf("untouched: %+v", ps)
	}
	exec(t, dsn, `DELETE FROM audit_entries WHERE seq > 8`)
	if ps := problems(t, s, audit.VerifyOptions{}); len(ps) != 0 {
		t.Fatalf("a truncated chain is still a chain, without a checkpoint: %+v", ps)
	}
	ps := problems(t, s, audit.VerifyOptions{Expect: &head})
	if len(ps) != 1 || ps[0].Kind != audit.KindTruncated {
		t.Fatalf("truncation against the head: %+v", ps)
	}
}

func TestExportVerifiesAsAFile(t *testing.T) {
	_, s := filled(t, 2500) // more than a page
	var b bytes.Buffer
	part, err := s.Export(context.Background(), &b, Query{})
	if err != nil || part.Entries != 2500 {
		t.Fatalf("exported %+v, %v", part, err)
	}
	rep, err := audit.Verify(&b, audit.VerifyOptions{})
	if err != nil || !rep.OK() || rep.Entries != 2500 {
		t.Fatalf("export does not verify: %v %+v", err, rep)
	}
	head, _ := s.Head(context.Background())
	if rep.Head != head || part.Head != head || part.After != (audit.Head{Hash: audit.Genesis}) {
		t.Fatalf("file head %v, database head %v, export %+v", rep.Head, head, part)
	}
}

func TestImportAppendsAVerifiedFileWithItsProvenance(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	log, err := audit.Open(path, audit.Options{Host: "old-laptop"})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		if _, err := log.Append(context.Background(), audit.Entry{UserID: "ana", Action: "keys.set", Timestamp: old.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	dsn, s := filled(t, 3)
	res, err := s.Import(context.Background(), path, "importer")
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstSeq != 4 || res.LastSeq != 8 || res.Record != 9 || res.File.Seq != 5 || res.Entries != 5 {
		t.Fatalf("import: %+v", res)
	}
	verifyDump(t, dsn, 9)
	recs, err := s.Last(context.Background(), 6, audit.Select{})
	if err != nil || len(recs) != 6 {
		t.Fatalf("recent: %d %v", len(recs), err)
	}
	if !recs[0].Timestamp.Equal(old) || recs[0].Host != "old-laptop" || recs[0].UserID != "ana" {
		t.Fatalf("imported entry lost its time, host or user: %+v", recs[0].Entry)
	}
	prov := recs[5].Entry
	if prov.Action != ActionImported || prov.UserID != "importer" || !strings.Contains(prov.Reason, res.File.String()) || !strings.Contains(prov.Reason, "as seq 4-8") {
		t.Fatalf("provenance entry: %+v", prov)
	}
	var file, fileHead string
	var fileLast int64
	if err := s.Pool().QueryRow(context.Background(), `SELECT file, file_last, file_head FROM audit_imports WHERE first_seq = 4`).Scan(&file, &fileLast, &fileHead); err != nil {
		t.Fatal(err)
	}
	if file != path || fileLast != 5 || fileHead != res.File.String() {
		t.Fatalf("audit_imports row: %s %d %s", file, fileLast, fileHead)
	}
	// Once only.
	_, err = s.Import(context.Background(), path, "importer")
	if fault.KindOf(err) != fault.Usage || !strings.Contains(err.Error(), "imported already") {
		t.Fatalf("second import: %v", err)
	}
	// And never a file that does not verify.
	data, _ := os.ReadFile(path)
	bad := filepath.Join(dir, "edited.log")
	os.WriteFile(bad, bytes.Replace(data, []byte(`"ana"`), []byte(`"eve"`), 1), 0o600)
	if _, err := s.Import(context.Background(), bad, "importer"); fault.KindOf(err) != fault.Findings {
		t.Fatalf("import of an edited log: %v", err)
	}
	verifyDump(t, dsn, 9)
}

func TestRecentFiltersByIndexedColumnsAndTheLine(t *testing.T) {
	_, s := filled(t, 30)
	recs, _, err := s.Recent(context.Background(), 4, Query{User: "user*1"}, audit.Select{Keep: func(e audit.Entry) bool { return e.Success }})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, r := range recs {
		seqs = append(seqs, r.Seq)
	}
	// user1 is entries 2, 5, 8, ... (seq = i+1 with i%3 == 1); successful ones have i even.
	if fmt.Sprint(seqs) != "[5 11 17 23]" && fmt.Sprint(seqs) != "[11 17 23 29]" {
		t.Fatalf("seqs %v", seqs)
	}
}

func TestFollowCatchesUpAndSurvivesARestart(t *testing.T) {
	c, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		pgtest.Need(t) // skip or fail as for any test without a server
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	s := openTest(t, c.DSN, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := s.Append(ctx, audit.Entry{UserID: "ana", Action: "check"}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []int64
	var notices []string
	seen := make(chan int64, 100)
	done := make(chan error, 1)
	go func() {
		done <- s.FollowRows(ctx, 0, FollowOptions{Poll: 200 * time.Millisecond, Notice: func(n string) {
			mu.Lock()
			notices = append(notices, n)
			mu.Unlock()
		}}, func(seq int64, line []byte) error {
			mu.Lock()
			got = append(got, seq)
			mu.Unlock()
			seen <- seq
			return nil
		})
	}()
	wait := func(want int64) {
		t.Helper()
		for {
			select {
			case seq := <-seen:
				if seq == want {
					return
				}
			case err := <-done:
				t.Fatalf("follow ended: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatalf("seq %d never followed", want)
			}
		}
	}
	wait(1)
	if _, err := s.Append(ctx, audit.Entry{UserID: "ana", Action: "check"}); err != nil {
		t.Fatal(err)
	}
	wait(2)
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	// The pool's connections died with the server; the next append gets a new one.
	var appendErr error
	for i := 0; i < 20; i++ {
		if _, appendErr = s.Append(ctx, audit.Entry{UserID: "ana", Action: "check"}); appendErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if appendErr != nil {
		t.Fatal(appendErr)
	}
	wait(3)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("followed %v", got)
	}
	if len(notices) < 2 || !strings.Contains(notices[0], "reconnecting") || strings.Contains(strings.Join(notices, ""), "password") {
		t.Fatalf("notices %q", notices)
	}
	// The driver's words pass through the store's redaction, user name included.
	u, err := url.Parse(c.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if name := u.User.Username(); name != "" && strings.Contains(strings.Join(notices, ""), "user="+name) {
		t.Fatalf("notices name the database user: %q", notices)
	}
}
