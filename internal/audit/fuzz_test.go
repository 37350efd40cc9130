package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/yamlcheck"
)

// FuzzParseLine: any bytes are either rejected or decode to an entry whose layout fields agree.
func FuzzParseLine(f *testing.F) {
	b, _ := buildLog(3)
	for _, l := range lines(b) {
		f.Add([]byte(l))
	}
	f.Add([]byte(`{"seq":1,"timestamp":"x","userId":"\u0000","prev":"` + Genesis + `","hash":"` + Genesis + `"}`))
	f.Add([]byte(`{"seq":18446744073709551615,"timestamp":"2026-05-01T10:00:00.000Z"`))
	f.Add([]byte(""))
	f.Add([]byte(`{"seq":1,"timestamp":"t","userId":"\ud83d\ude00 \ud800 \udc00\u0041 \/","role":"","action":"a","resource":"","success":true,"klaviyoEndpoint":"","ipAddress":"","fingerprint":"","reason":"","host":"","alert":"","prev":"` + Genesis + `","hash":"` + Genesis + `"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		// The fast decoder agrees with encoding/json wherever it does not give up.
		if fast, ok := decodeCanonical(line); ok {
			var std Fields
			if err := json.Unmarshal(line, &std); err != nil {
				t.Fatalf("fast decoder accepted what encoding/json rejects (%v): %q", err, line)
			}
			if fast != std {
				t.Fatalf("decoders disagree on %q:\nfast %+v\njson %+v", line, fast, std)
			}
		}
		e, err := ParseLine(line)
		if err != nil {
			return
		}
		if e.Seq == 0 || len(e.Hash) != 64 || len(e.Prev) != 64 || e.Action == "" {
			t.Fatalf("accepted an incomplete entry: %+v", e)
		}
	})
}

// FuzzStartsAs: whenever StartsAs vouches for a line's columns, the line decodes to those values
// (or is no entry at all, which verify reports on its own).
func FuzzStartsAs(f *testing.F) {
	b, es := buildLog(3)
	for i, l := range lines(b) {
		f.Add([]byte(strings.TrimSuffix(l, "\n")), es[i].Seq, es[i].Timestamp.UnixMicro(), es[i].UserID, es[i].Role, es[i].Action)
	}
	f.Add([]byte(`{"seq":1,"timestamp":"2026-05-01T10:00:00.000Z","userId":"a\u0000","role":"","action":"x"`), uint64(1), int64(0), "a", "", "x")
	// Invalid UTF-8 decodes as U+FFFD: a column holding the raw byte differs from the line.
	raw := strings.Replace(strings.TrimSuffix(lines(b)[0], "\n"), `"userId":"`+es[0].UserID+`"`, "\"userId\":\"\xff\"", 1)
	f.Add([]byte(raw), es[0].Seq, es[0].Timestamp.UnixMicro(), "\xff", es[0].Role, es[0].Action)
	f.Fuzz(func(t *testing.T, line []byte, seq uint64, us int64, user, role, action string) {
		ts := time.UnixMicro(us)
		if !StartsAs(line, seq, ts, []byte(user), []byte(role), []byte(action)) {
			return
		}
		e, err := ParseLine(line)
		if err != nil {
			return
		}
		if e.Seq != seq || !e.Timestamp.Equal(ts) || e.UserID != user || e.Role != role || e.Action != action {
			t.Fatalf("StartsAs vouched for seq %d %s %q %q %q, the line says %d %s %q %q %q", seq, ts, user, role, action,
				e.Seq, e.Timestamp, e.UserID, e.Role, e.Action)
		}
	})
}

// FuzzEntryRoundTrip: whatever text the fields carry, the line is one line of valid JSON that decodes
// back to the same entry and verifies.
func FuzzEntryRoundTrip(f *testing.F) {
	f.Add("alice", "check", "canDeleteProfiles", "role viewer does not hold it", true)
	f.Add("\"}\n{\"seq\":2", "a\\b", "\u2028\u2029", "\x00\x1f\x7f\xff", false)
	f.Add("pk_0123456789abcdef0123456789abcdef01", "keys.set", "é😀", "", true)
	f.Fuzz(func(t *testing.T, user, action, resource, reason string, success bool) {
		if action == "" {
			action = "x"
		}
		c := NewChain()
		line, sealed := c.Next(nil, Entry{Timestamp: time.Unix(1, 0), UserID: user, Action: action, Resource: resource, Reason: reason, Success: success})
		if bytes.IndexByte(line, '\n') != len(line)-1 {
			t.Fatalf("not one line: %q", line)
		}
		got, err := ParseLine(line)
		if err != nil {
			t.Fatalf("own line rejected: %v\n%q", err, line)
		}
		if got != sealed {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, sealed)
		}
		if rep, _ := Verify(bytes.NewReader(line), VerifyOptions{}); !rep.OK() {
			t.Fatalf("own line does not verify: %+v", rep.Problems)
		}
	})
}

// FuzzVerify: arbitrary bytes never crash the readers, and any single-byte change to a valid log is
// detected.
func FuzzVerify(f *testing.F) {
	valid, _ := buildLog(5)
	f.Add([]byte{}, uint16(0), byte('x'))
	f.Add(valid, uint16(100), byte('0'))
	f.Add(append(bytes.Clone(valid), "torn"...), uint16(9999), byte('\n'))
	f.Add([]byte("\n\n{\"seq\":1\n"), uint16(3), byte('}'))
	ls := lines(valid)
	f.Add(append(bytes.Clone(valid), `{"seq":6,"ti`+"\n"+`{"seq":6`...), uint16(0), byte('x'))
	f.Add([]byte(strings.Join(ls[:3], "")+strings.Replace(ls[3], "true", "false", 1)+ls[4]), uint16(1), byte('y'))
	f.Add([]byte(ls[0]+ls[2]), uint16(2), byte('z'))
	f.Fuzz(func(t *testing.T, data []byte, pos uint16, b byte) {
		rep, err := Verify(bytes.NewReader(data), VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantLines := int64(bytes.Count(data, []byte{'\n'}))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			wantLines++
		}
		if rep.Lines != wantLines {
			t.Fatalf("counted %d lines, want %d", rep.Lines, wantLines)
		}
		for _, p := range rep.Problems {
			if p.Line < 0 || p.Line > rep.Lines {
				t.Fatalf("problem at line %d of %d", p.Line, rep.Lines)
			}
		}
		// Appending never refuses a log that verifies, and verify promises a recovery exactly when
		// the next append would make one.
		tail, terr := findTail(bytes.NewReader(data), int64(len(data)))
		if rep.OK() && (terr != nil || tail.run.present) {
			t.Fatalf("a log that verifies is not appendable: %v %+v", terr, tail)
		}
		promised := len(rep.Problems) > 0 && strings.Contains(rep.Problems[len(rep.Problems)-1].Message, "the next append records")
		if promised != (terr == nil && tail.run.present) && rep.Omitted == 0 {
			t.Fatalf("verify promises a recovery: %v; findTail: %v %+v", promised, terr, tail)
		}
		if terr == nil && tail.run.present && !tail.endsTorn {
			t.Fatalf("a run without a torn line would be recovered: %+v", tail)
		}
		_, _ = Last(bytes.NewReader(data), int64(len(data)), 3, Select{})

		tampered := bytes.Clone(valid)
		i := int(pos) % len(tampered)
		if tampered[i] == b {
			return
		}
		tampered[i] = b
		if rep, _ := Verify(bytes.NewReader(tampered), VerifyOptions{}); rep.OK() {
			t.Fatalf("byte %d changed to %q went unnoticed", i, b)
		}
	})
}

// FuzzDecodeString puts arbitrary bytes inside a string of an otherwise canonical line: the fast
// decoder must read them as encoding/json does, or give up.
func FuzzDecodeString(f *testing.F) {
	for _, s := range []string{`plain`, `\"quoted\" \\ \/`, `\u00e9\u2028\ud83d\ude00`, `\ud800`, `\udc00\ud800x`, `\ud83d\u0041`,
		`\b\f\n\r\t`, "\xff", `\x`, `\u12`, `\uZZZZ`, "tab\there"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		line := []byte(`{"seq":7,"timestamp":"2026-05-01T10:00:00.000Z","userId":"u","role":"r","action":"a","resource":"x","success":false,"klaviyoEndpoint":"","ipAddress":"","fingerprint":"","reason":"` +
			s + `","host":"h","alert":"","prev":"` + Genesis + `","hash":"` + Genesis + `"}`)
		var std Fields
		stdErr := json.Unmarshal(line, &std)
		fast, ok := decodeCanonical(line)
		if !ok {
			return
		}
		if stdErr != nil {
			t.Fatalf("fast decoder accepted what encoding/json rejects (%v): %q", stdErr, s)
		}
		if fast != std {
			t.Fatalf("decoders disagree on %q: fast %q, json %q", s, fast.Reason, std.Reason)
		}
	})
}

// FuzzParseTime: the direct reading of the encoder's layout agrees with time.Parse.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-05-01T10:00:00.000Z", "2024-02-29T23:59:59.999Z", "2026-02-29T00:00:00.000Z",
		"2026-13-01T00:00:00.000Z", "2026-05-01T24:00:00.000Z", "2026-05-01T10:00:00.000+01:00", "0000-01-01T00:00:00.000Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s)
		want, werr := time.Parse(time.RFC3339Nano, s)
		if (err == nil) != (werr == nil) || (err == nil && !got.Equal(want)) {
			t.Fatalf("parseTime(%q) = %v, %v; time.Parse: %v, %v", s, got, err, want, werr)
		}
	})
}

// FuzzRules feeds config files to the alert-rule parser: it never panics, and it either returns
// rules that are all usable or fails with configuration errors that each name the file and line.
func FuzzRules(f *testing.F) {
	for _, seed := range []string{
		// valid
		"audit:\n  checks: all\n",
		"audit:\n  alerts:\n",
		"audit:\n  alerts: []\n",
		"audit:\n  alerts:\n    - name: profile-deletion\n      webhook: https://hooks.example.com/services/T000/B000/XXXX\n    - name: denied-profile-deletion\n      enabled: false\n",
		"audit:\n  alerts:\n    - name: key-changes\n      match:\n        action: \"keys.*\"\n        role: [admin, service]\n        success: true\n      command: [notify-security, --channel, \"#access\"]\n      timeout: 10s\n",
		"audit:\n  alerts:\n    - name: k\n      match:\n        - {action: \"keys.*\", role: [admin, service]}\n        - {action: oauth.revoke, success: false}\n      command: [notify, --team, sec]\n",
		"audit:\n  alerts:\n    - {name: deletes, match: {endpoint: \"POST /api/data-privacy-deletion-jobs*\", user: \"*\"}, webhook: \"http://127.0.0.1:9/x\"}\n",
		// invalid
		"audit:\n  alerts:\n    - name: a\n      match: {acton: check}\n      command: \"notify --all\"\n    - name: a\n      match: {action: check}\n    - match: {action: check}\n      webhook: ftp://example.com\n    - name: no-match\n      timeout: forever\n      comand: [x]\n",
		"audit:\n  alerts: {name: x}\n",
		"audit:\n  alerts:\n    - just a string\n",
		"audit:\n  alerts:\n    - name: [x]\n      match: []\n",
		"audit:\n  alerts:\n    - name: e\n      match: {}\n      command: []\n",
		"audit:\n  alerts:\n    - name: e\n      match: {action: []}\n",
		"audit:\n  alerts:\n    - name: t\n      match: {success: maybe, role: {a: b}}\n      timeout: 11m\n      enabled: perhaps\n",
		"audit:\n  alerts:\n    - name: w\n      match: {action: x}\n      webhook: [https://a.example]\n      command: [\"\", x]\n",
		"x: &a\n  - name: y\naudit:\n  alerts: *a\n",
		"audit:\n  alerts:\n    - &r {name: r, match: {action: a}}\n    - *r\n",
		"audit:\n  alerts:\n    - <<: {name: m}\n      match: {action: a}\n",
		"audit: 5\n",
		"- audit\n",
	} {
		f.Add(seed)
	}
	entries := []Entry{{Action: "check", Role: "viewer", Resource: "canDeleteProfiles"}, {Action: "keys.set", Success: true},
		{Action: "profiles.delete", KlaviyoEndpoint: "POST /api/data-privacy-deletion-jobs"}, {Action: ActionAlertFailed}}
	f.Fuzz(func(t *testing.T, doc string) {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(doc), &n); err != nil || len(n.Content) == 0 {
			return // not YAML: the config loader reports that, before any rule is read
		}
		var section *yaml.Node
		if top := n.Content[0]; top.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(top.Content); i += 2 {
				if top.Content[i].Value == "audit" {
					section = top.Content[i+1]
				}
			}
		}
		rules, err := Rules("klrbac.yaml", section)
		if err != nil {
			if rules != nil {
				t.Fatalf("rules returned along with an error: %+v", rules)
			}
			for _, e := range flattenErrors(err) {
				var p *yamlcheck.Problem
				if fault.KindOf(e) != fault.Config || !errors.As(e, &p) || p.File != "klrbac.yaml" || p.Line < 1 ||
					!strings.HasPrefix(e.Error(), fmt.Sprintf("klrbac.yaml:%d: audit.alerts", p.Line)) {
					t.Fatalf("not a configuration error naming file:line: %T %v", e, e)
				}
			}
			return
		}
		names := map[string]bool{}
		for _, r := range rules {
			if !validRuleName(r.Name) || names[r.Name] {
				t.Fatalf("rule with a bad or repeated name: %+v", r)
			}
			names[r.Name] = true
			if len(r.Match) == 0 {
				t.Fatalf("rule %q matches nothing in particular: %+v", r.Name, r)
			}
			for _, m := range r.Match {
				if len(m.Action)+len(m.Role)+len(m.User)+len(m.Resource)+len(m.Endpoint) == 0 && m.Success == nil {
					t.Fatalf("rule %q has a match that constrains nothing, so it matches every entry: %+v", r.Name, r)
				}
			}
			if r.Timeout < 0 || r.Timeout > 10*time.Minute {
				t.Fatalf("rule %q: timeout %v", r.Name, r.Timeout)
			}
			if r.Command != nil && (len(r.Command) == 0 || r.Command[0] == "") {
				t.Fatalf("rule %q: command %q", r.Name, r.Command)
			}
			if r.Webhook != "" {
				if u, err := url.Parse(r.Webhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					t.Fatalf("rule %q: webhook %q", r.Name, r.Webhook)
				}
			}
			for i := range entries {
				if r.Matches(&entries[i]) && entries[i].Action == ActionAlertFailed {
					t.Fatalf("rule %q fires on a failed alert", r.Name)
				}
			}
		}
	})
}

// flattenErrors lists the errors inside joined ones.
func flattenErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
		return out
	}
	return []error{err}
}
