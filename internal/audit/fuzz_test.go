package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
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
			var std wireEntry
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
		var std wireEntry
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
