package audit

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
)

// fakeStore keeps entries in memory, or fails as told.
type fakeStore struct {
	mu       sync.Mutex
	chain    *Chain
	entries  []Entry
	appends  int
	failWith error // AppendAll and Ready answer it
}

func newFakeStore() *fakeStore { return &fakeStore{chain: NewChain()} }

func (s *fakeStore) AppendAll(_ context.Context, entries []Entry) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failWith != nil {
		return nil, s.failWith
	}
	s.appends++
	out := make([]Entry, len(entries))
	for i, e := range entries {
		_, out[i] = s.chain.Next(nil, e)
	}
	s.entries = append(s.entries, out...)
	return out, nil
}

func (s *fakeStore) Ready(context.Context) error { return s.failWith }

func (s *fakeStore) Head(context.Context) (Head, error) {
	return Head{Seq: s.chain.Seq, Hash: s.chain.Hash}, s.failWith
}

func (s *fakeStore) Where() string { return "memory" }

var changes = map[string]string{"keys.set": "store the key"}

func TestAuditedRefusesTheChangeWithoutItsRecord(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	store.failWith = fault.Unavailablef("cannot write audit log /x: disk full").Hint("free some space")
	trail := NewTrail(store, TrailOptions{Changes: changes})
	changed := false
	err := trail.Audited(context.Background(), Entry{Action: "keys.set", Resource: "role marketer"}, func() error {
		changed = true
		return nil
	})
	if changed {
		t.Fatal("the change was made although its record could not be kept")
	}
	if err == nil || err.Error() != "refusing to store the key (role marketer) without an audit record: cannot write audit log /x: disk full" {
		t.Errorf("error %v", err)
	}
	if fault.KindOf(err) != fault.Unavailable {
		t.Errorf("kind %v, want Unavailable (exit 3)", fault.KindOf(err))
	}
	if h := fault.Hints(err); len(h) != 1 || h[0] != "free some space" {
		t.Errorf("hints %q: the store's own hint says what to do", h)
	}
}

func TestRefusalWordings(t *testing.T) {
	t.Parallel()
	trail := NewTrail(newFakeStore(), TrailOptions{Changes: changes})
	cases := []struct {
		name             string
		action, resource string
		err              error
		want             string
		kind             fault.Kind
		hints            int
	}{
		{"a plain failure gets the general hint", "keys.set", "", errors.New("boom"),
			"refusing to store the key without an audit record: boom", fault.Unavailable, 1},
		{"an action not worded is named as itself", "keys.calibrate", "https://a.klaviyo.com", errors.New("boom"),
			"refusing to keys.calibrate https://a.klaviyo.com without an audit record: boom", fault.Unavailable, 1},
		{"a broken config stays exit 2", "keys.set", "role viewer", fault.Configf("no audit log path").Hint("set audit.path"),
			"refusing to store the key (role viewer) without an audit record: no audit log path", fault.Config, 1},
		{"a damaged log is named as such", "keys.set", "role viewer", &fault.Error{Kind: fault.Unavailable, Err: &DamagedError{Path: "/l", Reason: "its last entry (seq 6) does not match its hash"}},
			"refusing to store the key (role viewer): audit log /l is damaged: its last entry (seq 6) does not match its hash", fault.Unavailable, 0},
	}
	for _, c := range cases {
		err := trail.Refuse(c.action, c.resource, c.err)
		if err.Error() != c.want || fault.KindOf(err) != c.kind || len(fault.Hints(err)) != c.hints {
			t.Errorf("%s: got %q (kind %v, hints %q), want %q (kind %v, %d hints)", c.name, err, fault.KindOf(err), fault.Hints(err), c.want, c.kind, c.hints)
		}
	}
	if err := trail.Refuse("keys.set", "", context.Canceled); err != context.Canceled {
		t.Errorf("a cancellation became %v", err)
	}
}

func TestReadyIsWordedAsTheRefusal(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	trail := NewTrail(store, TrailOptions{Changes: changes})
	if err := trail.Ready(context.Background(), "keys.set", "role admin"); err != nil {
		t.Fatalf("a ready store: %v", err)
	}
	store.failWith = errors.New("read-only file system")
	err := trail.Ready(context.Background(), "keys.set", "role admin")
	if err == nil || err.Error() != "refusing to store the key (role admin) without an audit record: read-only file system" {
		t.Errorf("error %v", err)
	}
	if len(store.entries) != 0 {
		t.Errorf("Ready wrote %d entries", len(store.entries))
	}
}

func TestAuditedRecordsAFailedChange(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	trail := NewTrail(store, TrailOptions{Actor: "alice"})
	want := errors.New("keyring locked")
	err := trail.Audited(context.Background(), Entry{Action: "keys.rm", Resource: "role viewer"}, func() error { return want })
	if err != want {
		t.Fatalf("error %v, want the change's own", err)
	}
	if len(store.entries) != 2 {
		t.Fatalf("%d entries, want the change and its failure", len(store.entries))
	}
	first, second := store.entries[0], store.entries[1]
	if !first.Success || second.Success || second.Reason != "failed: keyring locked" || second.Action != "keys.rm" || second.Resource != "role viewer" {
		t.Errorf("entries %+v, %+v", first, second)
	}
	if first.UserID != "alice" || second.UserID != "alice" {
		t.Errorf("actor %q, %q, want alice", first.UserID, second.UserID)
	}
}

func TestBrokenRulesRefuseEveryRecord(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	asked := 0
	trail := NewTrail(store, TrailOptions{Rules: func() ([]Rule, error) {
		asked++
		return nil, fault.Configf("audit.alerts: bad rule")
	}})
	for range 2 {
		if _, err := trail.Record(context.Background(), Entry{Action: "check"}); fault.KindOf(err) != fault.Config {
			t.Errorf("error %v, want the config's", err)
		}
	}
	if asked != 1 || len(store.entries) != 0 {
		t.Errorf("rules asked %d times, %d entries kept", asked, len(store.entries))
	}
}

func TestFailedAlertIsReportedAndRecorded(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	var warn bytes.Buffer
	rule := Rule{Name: "deletions", Match: []Match{{Action: []string{"profiles.delete"}}}, Command: []string{"notify"}}
	var sent [][]byte
	trail := NewTrail(store, TrailOptions{
		Actor: "ci", Warn: &warn,
		Rules: func() ([]Rule, error) { return []Rule{rule}, nil },
		Send: func(_ context.Context, r Rule, line []byte) error {
			sent = append(sent, line)
			return errors.New("exit status 1")
		},
	})
	written, err := trail.Record(context.Background(), Entry{Action: "profiles.delete", Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 1 || written[0].Alert != "deletions" || written[0].Seq != 1 {
		t.Fatalf("written %+v", written)
	}
	if len(sent) != 1 || !bytes.Equal(sent[0], written[0].MarshalLine()) {
		t.Errorf("sent %q", sent)
	}
	if len(store.entries) != 2 || store.entries[1].Action != ActionAlertFailed {
		t.Fatalf("entries %+v, want the entry and its alert failure", store.entries)
	}
	note := store.entries[1]
	if note.Resource != "seq 1" || note.Role != "admin" || note.UserID != "ci" || note.Reason != "rule deletions: exit status 1" || note.Alert != "" {
		t.Errorf("note %+v", note)
	}
	if !strings.Contains(warn.String(), `klrbac: alert "deletions" for audit entry 1 failed: exit status 1`) {
		t.Errorf("warning %q", warn.String())
	}
}

func TestUnavailableStoreRefusesInTheTrailsWords(t *testing.T) {
	t.Parallel()
	trail := NewTrail(Unavailable("", fault.Configf("no audit log location")), TrailOptions{Changes: changes})
	ran := false
	err := trail.Audited(context.Background(), Entry{Action: "keys.set"}, func() error { ran = true; return nil })
	if ran || fault.KindOf(err) != fault.Config || !strings.HasPrefix(err.Error(), "refusing to store the key without an audit record: ") {
		t.Errorf("ran %v, error %v", ran, err)
	}
}

// The Log is a Store: a Trail over it keeps what it records, and reading back by seq finds it.
func TestTrailOverTheLog(t *testing.T) {
	t.Parallel()
	l, err := Open(filepath.Join(t.TempDir(), "audit.log"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if h, err := l.Head(ctx); err != nil || h.Seq != 0 || h.Hash != Genesis {
		t.Fatalf("empty head %v, %v", h, err)
	}
	trail := NewTrail(l, TrailOptions{Actor: "bob"})
	written, err := trail.Record(ctx, Entry{Action: "a"}, Entry{Action: "b"}, Entry{Action: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := l.Head(ctx); err != nil || h.Seq != 3 || h.Hash != written[2].Hash {
		t.Fatalf("head %v, %v", h, err)
	}
	var scanned []string
	err = l.Scan(ctx, 1, func(line []byte) error {
		e, err := ParseLine(line)
		scanned = append(scanned, e.Action)
		return err
	})
	if err != nil || strings.Join(scanned, ",") != "b,c" {
		t.Errorf("scan after 1: %v, %v", scanned, err)
	}
	recs, err := l.Last(ctx, 2, Select{})
	if err != nil || len(recs) != 2 || recs[0].Action != "b" || recs[1].UserID != "bob" {
		t.Errorf("last 2: %+v, %v", recs, err)
	}
}

// A server reloading its config puts new rules in force while it records, and never waits for a
// webhook: its alerts go out after Record returns, and Wait waits for them.
func TestSetRulesAndAlertsInBackground(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	release := make(chan struct{})
	sent := make(chan string, 4)
	trail := NewTrail(store, TrailOptions{
		AlertsInBackground: true,
		Rules:              func() ([]Rule, error) { return nil, nil },
		Send: func(_ context.Context, r Rule, line []byte) error {
			<-release
			sent <- r.Name
			return nil
		},
	})
	ctx := context.Background()
	if w, err := trail.Record(ctx, Entry{Action: "profiles.delete"}); err != nil || w[0].Alert != "" {
		t.Fatalf("before any rule: %+v, %v", w, err)
	}
	trail.SetRules([]Rule{{Name: "deletions", Match: []Match{{Action: []string{"profiles.delete"}}}, Command: []string{"notify"}}})
	cctx, cancel := context.WithCancel(ctx)
	recorded := make(chan error, 1)
	go func() {
		w, err := trail.Record(cctx, Entry{Action: "profiles.delete"})
		if err == nil && w[0].Alert != "deletions" {
			err = errors.New("entry marked " + w[0].Alert)
		}
		recorded <- err
	}()
	// Send blocks until released: a Record that waited for its alert would never return. The bound
	// only keeps such a Record from hanging the run.
	select {
	case err := <-recorded:
		if err != nil {
			t.Fatalf("after SetRules: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Record waited for the alert's delivery")
	}
	cancel() // the call is over; its alert still goes out
	close(release)
	trail.Wait()
	select {
	case name := <-sent:
		if name != "deletions" {
			t.Errorf("sent %s", name)
		}
	default:
		t.Fatal("Wait returned before the alert was delivered")
	}
}
