package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/fault"
)

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"check", "check", true}, {"check", "checks", false}, {"keys.*", "keys.set", true}, {"keys.*", "keys", false},
		{"*", "", true}, {"", "", true}, {"", "x", false}, {"POST /api/data-privacy-deletion-jobs*", "POST /api/data-privacy-deletion-jobs", true},
		{"POST /api/*/relationships/*", "POST /api/lists/01/relationships/profiles", true}, {"a?c", "abc", true},
		{"a?c", "aéc", true}, {"a?c", "ac", false}, {"*a*b*", "xxaxxbxx", true}, {"*a*b", "xxaxxbx", false},
	} {
		if got := Glob(c.p, c.s); got != c.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}

func TestDefaultRules(t *testing.T) {
	rules := DefaultRules()
	denied := Entry{Action: "check", Role: "viewer", Resource: "canDeleteProfiles", Success: false}
	if fire := Mark(rules, &denied); denied.Alert != "denied-profile-deletion" || len(fire) != 0 {
		t.Fatalf("denied check: alert %q, fire %v", denied.Alert, fire)
	}
	allowed := Entry{Action: "check", Role: "admin", Resource: "canDeleteProfiles", Success: true}
	if Mark(rules, &allowed); allowed.Alert != "" {
		t.Fatalf("allowed check marked %q", allowed.Alert)
	}
	deletion := Entry{Action: "klaviyo.call", KlaviyoEndpoint: "POST /api/data-privacy-deletion-jobs", Success: true}
	if Mark(rules, &deletion); deletion.Alert != "profile-deletion" {
		t.Fatalf("deletion marked %q", deletion.Alert)
	}
	// A check about the deletion endpoint is not itself a deletion.
	checkOp := Entry{Action: "check", Resource: "POST /api/data-privacy-deletion-jobs", Success: true}
	if Mark(rules, &checkOp); checkOp.Alert != "" {
		t.Fatalf("allowed check of the endpoint marked %q", checkOp.Alert)
	}
	failed := Entry{Action: ActionAlertFailed, Resource: "canDeleteProfiles"}
	if Mark(rules, &failed); failed.Alert != "" {
		t.Fatal("an alert_failed entry triggered an alert")
	}
}

func parseRules(t *testing.T, doc string) ([]Rule, error) {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatal(err)
	}
	var section *yaml.Node
	top := n.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "audit" {
			section = top.Content[i+1]
		}
	}
	return Rules("klrbac.yaml", section)
}

func TestRules(t *testing.T) {
	rules, err := parseRules(t, `
audit:
  alerts:
    - name: profile-deletion
      webhook: https://hooks.example.com/services/T0/B0/secret
      timeout: 2s
    - name: denied-profile-deletion
      enabled: false
    - name: key-changes
      match:
        - {action: "keys.*", role: [admin, service]}
        - {action: oauth.revoke, success: false}
      command: [notify, --team, sec]
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 || rules[0].Name != "profile-deletion" || rules[0].Webhook == "" || rules[0].Timeout != 2*time.Second || len(rules[0].Match) != 2 {
		t.Fatalf("rules: %+v", rules)
	}
	k := rules[1]
	if !k.Matches(&Entry{Action: "keys.set", Role: "service"}) || k.Matches(&Entry{Action: "keys.set", Role: "viewer"}) ||
		!k.Matches(&Entry{Action: "oauth.revoke"}) || k.Matches(&Entry{Action: "oauth.revoke", Success: true}) {
		t.Fatal("key-changes matches wrongly")
	}
	if def, err := parseRules(t, "audit:\n  checks: all\n"); err != nil || len(def) != 2 {
		t.Fatalf("no alerts: %v %v", def, err)
	}
}

func TestRulesProblems(t *testing.T) {
	_, err := parseRules(t, `
audit:
  alerts:
    - name: a
      match: {acton: check}
      command: "notify --all"
    - name: a
      match: {action: check}
    - match: {action: check}
      webhook: ftp://example.com
    - name: no-match
      timeout: forever
      comand: [x]
`)
	if err == nil {
		t.Fatal("no problems found")
	}
	msg := err.Error()
	for _, want := range []string{
		`klrbac.yaml:5: audit.alerts match: unknown field "acton"`,
		`klrbac.yaml:6: audit.alerts: command must be a list of arguments`,
		`klrbac.yaml:7: audit.alerts: rule "a" is defined twice`,
		`klrbac.yaml:10: audit.alerts: webhook is not an http(s) URL`,
		`klrbac.yaml:9: audit.alerts: a rule has no name`,
		`klrbac.yaml:12: audit.alerts: invalid timeout "forever"`,
		`klrbac.yaml:13: audit.alerts: unknown field "comand"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if fault.KindOf(err) != fault.Config {
		t.Errorf("kind %v, want Config", fault.KindOf(err))
	}
	if !strings.Contains(strings.Join(fault.Hints(errors.Unwrap(err)), "\n")+strings.Join(hintsOf(err), "\n"), `did you mean "action"?`) {
		t.Errorf("no suggestion among hints: %v", hintsOf(err))
	}
}

func TestRuleFieldsReadAsTheRestOfTheConfig(t *testing.T) {
	_, err := parseRules(t, `
audit:
  alerts:
    - name: a
      name: b
      match: {action: check, success: maybe}
      enabled:
`)
	want := []string{
		`klrbac.yaml:5: audit.alerts: "name" is defined twice (first on line 4)`,
		`klrbac.yaml:6: audit.alerts match success: expected true or false, found "maybe"`,
		`klrbac.yaml:7: audit.alerts enabled: expected true or false, found nothing`,
	}
	if got := strings.Split(fmt.Sprint(err), "\n"); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	rules, err := parseRules(t, "audit:\n  alerts:\n    - name: profile-deletion\n      enabled: no\n")
	if err != nil || len(rules) != 1 || rules[0].Name != "denied-profile-deletion" {
		t.Errorf("enabled: no: %+v %v", rules, err)
	}
}

func hintsOf(err error) []string {
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, fault.Hints(e)...)
		}
	}
	return out
}

func TestSendCommand(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to run alert commands with")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "alert.json")
	_, es := buildLog(1)
	line := es[0].MarshalLine()
	r := Rule{Name: "r1", Command: []string{"sh", "-c", `cat > "$1"; echo "$KLRBAC_ALERT_RULE" >> "$1"`, "sh", out}}
	if err := (Sender{}).Send(context.Background(), r, line); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if string(got) != string(line)+"r1\n" {
		t.Fatalf("command received %q", got)
	}
	fail := Rule{Name: "r2", Command: []string{"sh", "-c", "echo no route to pager >&2; exit 4"}}
	if err := (Sender{}).Send(context.Background(), fail, line); err == nil || !strings.Contains(err.Error(), "no route to pager") {
		t.Fatalf("failing command: %v", err)
	}
	slow := Rule{Name: "r3", Command: []string{"sleep", "10"}, Timeout: 100 * time.Millisecond}
	start := time.Now()
	if err := (Sender{}).Send(context.Background(), slow, line); err == nil || !strings.Contains(err.Error(), "in time") {
		t.Fatalf("slow command: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout not enforced: %s", d)
	}
}

func TestSendWebhook(t *testing.T) {
	got := make(chan string, 1)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
		}
		got <- string(b)
	}))
	defer ok.Close()
	_, es := buildLog(1)
	line := es[0].MarshalLine()
	if err := (Sender{}).Send(context.Background(), Rule{Name: "w", Webhook: ok.URL + "/hook/s3cr3t"}, line); err != nil {
		t.Fatal(err)
	}
	if b := <-got; b+"\n" != string(line) {
		t.Fatalf("webhook received %q", b)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	defer bad.Close()
	err := (Sender{}).Send(context.Background(), Rule{Name: "w", Webhook: bad.URL + "/hook/s3cr3t?token=abc"}, line)
	if err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "abc") {
		t.Fatalf("failing webhook: %v", err)
	}
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer hang.Close()
	err = (Sender{}).Send(context.Background(), Rule{Name: "w", Webhook: hang.URL + "/s3cr3t", Timeout: 100 * time.Millisecond}, line)
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("hanging webhook: %v", err)
	}
}

// An empty list of patterns is refused rather than read as "any": the rule would fire on every entry.
func TestRulesEmptyPatternList(t *testing.T) {
	_, err := parseRules(t, "audit:\n  alerts:\n    - name: e\n      match: {action: [], role: admin}\n      command: [notify]\n")
	if err == nil || fault.KindOf(err) != fault.Config || !strings.Contains(err.Error(), "klrbac.yaml:4: audit.alerts: action is an empty list") {
		t.Fatalf("empty action list: %v", err)
	}
}
