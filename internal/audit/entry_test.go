package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func sample(i int) Entry {
	return Entry{
		Timestamp: t0.Add(time.Duration(i) * time.Second), UserID: "alice", Role: "viewer", Action: "check",
		Resource: "canDeleteProfiles", Success: i%2 == 0, Reason: "role viewer does not hold canDeleteProfiles", Host: "ws-1",
	}
}

// buildLog returns a valid log of n entries and the entries as sealed.
func buildLog(n int) ([]byte, []Entry) {
	c := NewChain()
	var b []byte
	var out []Entry
	for i := range n {
		var e Entry
		b, e = c.Next(b, sample(i))
		out = append(out, e)
	}
	return b, out
}

func TestLineLayout(t *testing.T) {
	b, es := buildLog(2)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	want := `{"seq":1,"timestamp":"2026-05-01T10:00:00.000Z","userId":"alice","role":"viewer","action":"check","resource":"canDeleteProfiles","success":true,"klaviyoEndpoint":"","ipAddress":"","fingerprint":"","reason":"role viewer does not hold canDeleteProfiles","host":"ws-1","alert":"","prev":"` + Genesis + `","hash":"` + es[0].Hash + `"}`
	if lines[0] != want {
		t.Fatalf("line 1:\n got %s\nwant %s", lines[0], want)
	}
	if es[1].Prev != es[0].Hash || es[1].Seq != 2 {
		t.Fatalf("second entry does not chain: %+v", es[1])
	}
	// The line is plain JSON for other tools.
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"timestamp", "userId", "role", "action", "resource", "success", "klaviyoEndpoint", "ipAddress", "seq", "prev", "hash", "reason", "host"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %s missing", k)
		}
	}
}

func TestParseLineRoundTrip(t *testing.T) {
	e := sample(3)
	e.Reason = "quote \" backslash \\ newline \n tab \t nul \x00 sep \u2028 é 😀 </script>"
	e.KlaviyoEndpoint = "POST /api/data-privacy-deletion-jobs"
	c := NewChain()
	line, sealed := c.Next(nil, e)
	got, err := ParseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	if got != sealed {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, sealed)
	}
	if !bytes.Equal(got.MarshalLine(), line) {
		t.Fatalf("MarshalLine differs:\n%s\n%s", got.MarshalLine(), line)
	}
	if bytes.Count(line, []byte{'\n'}) != 1 {
		t.Fatalf("a raw newline escaped the encoder: %q", line)
	}
	var std map[string]any
	if err := json.Unmarshal(line, &std); err != nil || std["reason"] != e.Reason {
		t.Fatalf("encoding/json reads %q, %v", std["reason"], err)
	}
}

func TestNormalize(t *testing.T) {
	key := "pk_" + strings.Repeat("a1", 17)
	e := normalize(Entry{Reason: "stored " + key + " for role admin", Resource: "bad \xff utf8", Action: strings.Repeat("x", 5000)})
	if strings.Contains(e.Reason, key) || !strings.Contains(e.Reason, "pk_****a1a1") {
		t.Errorf("key not masked: %q", e.Reason)
	}
	if e.Resource != "bad \uFFFD utf8" {
		t.Errorf("invalid UTF-8 kept: %q", e.Resource)
	}
	if len(e.Action) > maxField {
		t.Errorf("field not bounded: %d bytes", len(e.Action))
	}
}

func TestScanRejects(t *testing.T) {
	b, _ := buildLog(1)
	line := b[:len(b)-1]
	if _, ok := scan(line); !ok {
		t.Fatal("valid line rejected")
	}
	for name, bad := range map[string]string{
		"empty":       "",
		"prefix":      strings.Replace(string(line), `{"seq":`, `{"Seq":`, 1),
		"leading 0":   strings.Replace(string(line), `"seq":1`, `"seq":01`, 1),
		"upper hex":   string(line[:len(line)-3]) + "A\"}",
		"truncated":   string(line[:len(line)-1]),
		"no hash key": strings.Replace(string(line), `"hash"`, `"hask"`, 1),
	} {
		if _, ok := scan([]byte(bad)); ok {
			t.Errorf("%s: accepted %q", name, bad)
		}
	}
}

func TestActor(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	if a := Actor(get); a == "" {
		t.Fatal("no OS user fallback")
	}
	env["GITLAB_USER_LOGIN"] = "bob"
	if a := Actor(get); a != "gitlab:bob" {
		t.Errorf("CI identity: %q", a)
	}
	env["GITHUB_ACTOR"] = "octocat"
	if a := Actor(get); a != "github:octocat" {
		t.Errorf("first CI identity wins: %q", a)
	}
	env["KLRBAC_ACTOR"] = "alice@example.com"
	if a := Actor(get); a != "alice@example.com" {
		t.Errorf("KLRBAC_ACTOR wins: %q", a)
	}
}

func TestIsHex(t *testing.T) {
	naive := func(b []byte) bool {
		for _, c := range b {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
		return true
	}
	base := []byte("0123456789abcdef0123456789abcdef")
	for pos := range base {
		for c := 0; c < 256; c++ {
			b := bytes.Clone(base)
			b[pos] = byte(c)
			if got, want := isHex(b), naive(b); got != want {
				t.Fatalf("isHex(%q) = %v, want %v", b, got, want)
			}
		}
	}
}
