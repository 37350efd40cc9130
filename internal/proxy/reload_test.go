package proxy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
)

// waitFor polls until cond holds; it is a wait, not a timing assertion: the bound only keeps a
// broken reload from hanging the run.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPolicyReloadsOnChangeAndRefusesABadOne(t *testing.T) {
	r := newRig(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchReloads(ctx, r.loader, r.cfgFile, r.srv, r.trail, r.metrics, r.logger)
	}()
	defer func() { cancel(); <-done }()
	tok, _ := r.token("alice", time.Hour)
	write := `{"data":{"type":"profile","attributes":{"email":"a@example.com"}}}`
	if a := r.call("POST", "/api/profiles", tok, write); a.status != 403 {
		t.Fatalf("viewer writing a profile: %d", a.status)
	}

	// alice becomes a service user, whose role writes profiles.
	r.writeConfig(strings.Replace(baseConfig, "alice: viewer", "alice: service", 1))
	waitFor(t, "the changed config to be applied", func() bool {
		u, _ := r.srv.Settings().Policy.User("alice")
		return u.Role == "service"
	})
	if a := r.call("POST", "/api/profiles", tok, write); a.status/100 != 2 {
		t.Fatalf("after the reload: %d %s", a.status, a.body)
	}

	// A broken policy is refused and the one in force stays.
	before := r.srv.Settings()
	r.writeConfig(baseConfig + "roles:\n  ghost:\n    permissions: [canFly]\n")
	waitFor(t, "the broken config to be refused", func() bool {
		return strings.Contains(r.logBuf.String(), "new policy refused")
	})
	if r.srv.Settings() != before {
		t.Fatal("a broken config replaced the settings in force")
	}
	if !strings.Contains(r.logBuf.String(), "canFly") {
		t.Errorf("the refusal does not say why: %s", r.logBuf.String())
	}
	if a := r.call("POST", "/api/profiles", tok, write); a.status/100 != 2 {
		t.Fatalf("after a refused reload: %d", a.status)
	}

	// SIGHUP reloads too: the config on disk is fixed, and the keys are read again.
	r.writeConfig(baseConfig)
	waitFor(t, "the fixed config", func() bool {
		u, _ := r.srv.Settings().Policy.User("alice")
		return u.Role == "viewer"
	})
	setRoleKey("KLAVIYO_KEY_DEVELOPER", "pk_e7c67ec4914b68a415e928fefe0e2f3dac")
	defer setRoleKey("KLAVIYO_KEY_DEVELOPER", "")
	applied := strings.Count(r.logBuf.String(), "policy reloaded")
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the SIGHUP reload", func() bool { return strings.Count(r.logBuf.String(), `"trigger":"SIGHUP"`) > 0 })
	if strings.Count(r.logBuf.String(), "policy reloaded") <= applied {
		t.Fatal("SIGHUP did not reload")
	}
	dev, _ := r.token("dev", time.Hour)
	if a := r.call("GET", "/api/profiles", dev, ""); a.status != 200 {
		t.Fatalf("developer after its key was set and SIGHUP: %d %s", a.status, a.body)
	}
}

func TestProfileDeletionAlertReachesItsWebhook(t *testing.T) {
	got := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	defer hook.Close()
	r := newRig(t, "audit:\n  alerts:\n    - name: profile-deletion\n      webhook: "+hook.URL+"/alerts\n")
	for _, who := range []string{"dana", "alice"} { // allowed (admin) and denied (viewer): both alert
		tok, _ := r.token(who, time.Hour)
		body := `{"data":{"type":"data-privacy-deletion-job","attributes":{"profile":{"data":{"type":"profile","attributes":{"email":"gone@example.com"}}}}}}`
		a := r.call("POST", "/api/data-privacy-deletion-jobs", tok, body)
		e := r.lastEntry()
		if e.Alert != "profile-deletion" || e.KlaviyoEndpoint != "POST /api/data-privacy-deletion-jobs" {
			t.Fatalf("%s's deletion (%d): entry %+v", who, a.status, e)
		}
		select {
		case line := <-got:
			if !strings.Contains(line, `"userId":"`+who+`"`) || !strings.Contains(line, `"alert":"profile-deletion"`) {
				t.Errorf("alert line %s", line)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no alert for %s's deletion", who)
		}
	}
}

// An alert that cannot be delivered is what every klrbac command does with one: the entry stays, a
// note of the failure follows it in the trail, and the warning is a record of the JSON log.
func TestFailedAlertIsLoggedAndRecorded(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer hook.Close()
	r := newRig(t, "audit:\n  alerts:\n    - name: profile-deletion\n      webhook: "+hook.URL+"/alerts\n")
	tok, _ := r.token("dana", time.Hour)
	body := `{"data":{"type":"data-privacy-deletion-job","attributes":{"profile":{"data":{"type":"profile","attributes":{"email":"gone@example.com"}}}}}}`
	r.call("POST", "/api/data-privacy-deletion-jobs", tok, body)
	r.trail.Wait()
	es := r.entries()
	if len(es) != 2 || es[0].Alert != "profile-deletion" || es[1].Action != audit.ActionAlertFailed || es[1].Resource != "seq 1" ||
		es[1].UserID != "proxy-test" {
		t.Fatalf("entries %+v, want the deletion and its failed alert", es)
	}
	var warned bool
	for _, l := range strings.Split(strings.TrimSpace(r.logBuf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("a log line that is no JSON: %s", l)
		}
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, `alert "profile-deletion" for audit entry 1 failed`) && rec["level"] == "WARN" {
			warned = true
		}
	}
	if !warned {
		t.Errorf("the failed alert is not in the log: %s", r.logBuf.String())
	}
}
