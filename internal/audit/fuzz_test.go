package audit

import (
	"bytes"
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
	f.Fuzz(func(t *testing.T, line []byte) {
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
		_, _ = findTail(bytes.NewReader(data), int64(len(data)))
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
