package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func lines(b []byte) []string {
	return strings.SplitAfter(string(b), "\n")[:bytes.Count(b, []byte{'\n'})]
}

func join(ls []string) []byte { return []byte(strings.Join(ls, "")) }

func verifyBytes(t *testing.T, b []byte, opts VerifyOptions) *Report {
	t.Helper()
	rep, err := Verify(bytes.NewReader(b), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// rehash recomputes a line's hash after an edit, as a forger would.
func rehash(line string) string {
	body := strings.TrimSuffix(line, "\n")
	li, ok := scan([]byte(body))
	if !ok {
		panic("rehash: not a line")
	}
	sum := sha256.Sum256(li.body)
	return string(li.body) + `,"hash":"` + hex.EncodeToString(sum[:]) + "\"}\n"
}

func TestVerifyValid(t *testing.T) {
	b, es := buildLog(50)
	rep := verifyBytes(t, b, VerifyOptions{Expect: &Head{Seq: 20, Hash: es[19].Hash}})
	if !rep.OK() {
		t.Fatalf("valid log: %+v", rep.Problems)
	}
	if rep.Entries != 50 || rep.Lines != 50 || rep.Head != (Head{50, es[49].Hash}) {
		t.Fatalf("summary: %+v", rep)
	}
	if rep.First != "2026-05-01T10:00:00.000Z" || rep.Last != "2026-05-01T10:00:49.000Z" {
		t.Fatalf("timestamps %s %s", rep.First, rep.Last)
	}
	empty := verifyBytes(t, nil, VerifyOptions{})
	if !empty.OK() || empty.Entries != 0 || empty.Head != (Head{0, Genesis}) {
		t.Fatalf("empty log: %+v", empty)
	}
}

// TestVerifyTamper checks that every kind of tampering is found at the right line.
func TestVerifyTamper(t *testing.T) {
	b, es := buildLog(10)
	ls := lines(b)
	cases := []struct {
		name   string
		edit   func(ls []string) []string
		expect *Head
		line   int64
		kind   string
	}{
		{"edited field", func(ls []string) []string {
			ls[4] = strings.Replace(ls[4], `"success":true`, `"success":false`, 1)
			return ls
		}, nil, 5, KindEdited},
		{"edited and re-hashed", func(ls []string) []string {
			ls[4] = rehash(strings.Replace(ls[4], `"userId":"alice"`, `"userId":"mallory"`, 1))
			return ls
		}, nil, 6, KindBrokenLink},
		{"prev relinked", func(ls []string) []string {
			ls[6] = rehash(strings.Replace(ls[6], es[5].Hash, es[4].Hash, 1))
			return ls
		}, nil, 7, KindBrokenLink},
		{"deleted line", func(ls []string) []string { return append(ls[:3], ls[4:]...) }, nil, 4, KindGap},
		{"deleted first line", func(ls []string) []string { return ls[1:] }, nil, 1, KindStart},
		{"inserted copy", func(ls []string) []string {
			return append(ls[:6], append([]string{ls[2]}, ls[6:]...)...)
		}, nil, 7, KindOrder},
		{"inserted text", func(ls []string) []string {
			return append(ls[:6], append([]string{"hello\n"}, ls[6:]...)...)
		}, nil, 7, KindMalformed},
		{"reordered", func(ls []string) []string { ls[7], ls[8] = ls[8], ls[7]; return ls }, nil, 8, KindGap},
		{"torn last line", func(ls []string) []string {
			ls[9] = ls[9][:100]
			return ls
		}, nil, 10, KindTorn},
		{"newline removed", func(ls []string) []string {
			ls[2] = strings.TrimSuffix(ls[2], "\n")
			return ls
		}, nil, 3, KindMalformed},
		{"truncated tail", func(ls []string) []string { return ls[:8] }, &Head{10, es[9].Hash}, 0, KindTruncated},
		{"rewritten", func(ls []string) []string {
			ls[9] = rehash(strings.Replace(ls[9], `"userId":"alice"`, `"userId":"mallory"`, 1))
			return ls
		}, &Head{10, es[9].Hash}, 10, KindRewritten},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tampered := join(c.edit(append([]string(nil), ls...)))
			rep := verifyBytes(t, tampered, VerifyOptions{Expect: c.expect})
			if rep.OK() {
				t.Fatal("tampering not detected")
			}
			p := rep.Problems[0]
			if p.Line != c.line || p.Kind != c.kind {
				t.Fatalf("first problem %+v, want line %d kind %s (all: %+v)", p, c.line, c.kind, rep.Problems)
			}
			if c.line > 0 && !strings.HasPrefix(p.Message, fmt.Sprintf("line %d:", c.line)) && !strings.HasPrefix(p.Message, fmt.Sprintf("lines %d-", c.line)) {
				t.Fatalf("message does not name the line: %q", p.Message)
			}
		})
	}
}

// TestVerifyRecovered checks the chain rule for a torn write accounted for by an audit.recovered entry.
func TestVerifyRecovered(t *testing.T) {
	b, _ := buildLog(3)
	torn := append(bytes.Clone(b), `{"seq":4,"timestamp":"2026-05`...)
	// What an appender does: terminate, then record the recovery.
	tail, err := findTail(bytes.NewReader(torn), int64(len(torn)))
	if err != nil || tail.seq != 3 || !tail.run.present || !tail.endsTorn {
		t.Fatalf("findTail: %+v %v", tail, err)
	}
	c := &Chain{Seq: tail.seq, Hash: tail.hash}
	fixed := append(torn, '\n')
	fixed, _ = c.Next(fixed, tail.recoveryEntry())
	fixed, _ = c.Next(fixed, sample(9))
	rep := verifyBytes(t, fixed, VerifyOptions{})
	if !rep.OK() {
		t.Fatalf("recovered log: %+v", rep.Problems)
	}
	if len(rep.Recovered) != 1 || rep.Recovered[0].Line != 4 || rep.Recovered[0].RecordedAt != 5 || rep.Entries != 5 || rep.Head.Seq != 5 {
		t.Fatalf("report: %+v", rep)
	}
	// The recovery record must match the damaged bytes exactly.
	forged := bytes.Replace(fixed, []byte("\"2026-05\n"), []byte("\"2026-06\n"), 1)
	if rep := verifyBytes(t, forged, VerifyOptions{}); rep.OK() || rep.Problems[0].Line != 4 || rep.Problems[0].Kind != KindMalformed {
		t.Fatalf("altered torn bytes: %+v", rep.Problems)
	}
}

func TestVerifyLongLine(t *testing.T) {
	b, _ := buildLog(2)
	long := append(bytes.Clone(b), bytes.Repeat([]byte("x"), 9<<20)...)
	long = append(long, '\n')
	more, _ := buildLog(3)
	long = append(long, lines(more)[2]...)
	rep := verifyBytes(t, long, VerifyOptions{})
	if rep.OK() || rep.Problems[0].Line != 3 || rep.Problems[0].Kind != KindMalformed || rep.Lines != 4 {
		t.Fatalf("long line: %+v lines %d", rep.Problems, rep.Lines)
	}
	torn := append(bytes.Clone(b), `{"seq":3,"timestamp":"`...)
	torn = append(torn, bytes.Repeat([]byte("y"), 8<<20)...)
	rep = verifyBytes(t, torn, VerifyOptions{})
	// Longer than any interrupted write (1 MiB): damage, which appends refuse too.
	if rep.OK() || rep.Problems[0].Line != 3 || rep.Problems[0].Kind != KindMalformed || !strings.Contains(rep.Problems[0].Message, "appends refuse") {
		t.Fatalf("long torn line: %+v", rep.Problems)
	}
	// Text no writer of entries leaves is no interrupted write, however it ends.
	foreign := append(bytes.Clone(b), bytes.Repeat([]byte("y"), 8<<20)...)
	rep = verifyBytes(t, foreign, VerifyOptions{})
	if rep.OK() || rep.Problems[0].Line != 3 || rep.Problems[0].Kind != KindMalformed {
		t.Fatalf("long line without a newline: %+v", rep.Problems)
	}
}

// TestVerifyPromisesOnlyRealRecoveries: verify says the next append recovers a torn line only when
// that append would, rather than refuse the log as damaged.
func TestVerifyPromisesOnlyRealRecoveries(t *testing.T) {
	valid, _ := buildLog(4)
	ls := lines(valid)
	edited := strings.Replace(ls[3], `"success":false`, `"success":true`, 1)
	cases := []struct {
		name, log string
		line      int64
		kind      string
		promise   bool
	}{
		{"torn", string(valid) + `{"seq":5,"ti`, 5, KindTorn, true},
		{"torn twice", string(valid) + `{"seq":5,"ti` + "\n" + `{"seq":5`, 5, KindTorn, true},
		{"edited, then torn", string(join(ls[:3])) + edited + `{"seq":5,"ti`, 4, KindEdited, false},
		{"text without a newline", string(valid) + "hello", 5, KindMalformed, false},
		{"text, then torn", string(valid) + "hello\n" + `{"seq":5,"ti`, 5, KindMalformed, false},
		// Longer than any interrupted write: damage to verify and to an append alike.
		{"torn, longer than 1 MiB", string(valid) + `{"seq":5,"ti` + strings.Repeat("y", 1<<20), 5, KindMalformed, false},
		{"torn, just under 1 MiB", string(valid) + `{"seq":5,"ti` + strings.Repeat("y", 1<<20-20), 5, KindTorn, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := verifyBytes(t, []byte(c.log), VerifyOptions{})
			if rep.OK() || rep.Problems[0].Line != c.line || rep.Problems[0].Kind != c.kind {
				t.Fatalf("problems %+v, want line %d %s first", rep.Problems, c.line, c.kind)
			}
			last := rep.Problems[len(rep.Problems)-1].Message
			if got := strings.Contains(last, "the next append records"); got != c.promise {
				t.Fatalf("promise %v, want %v: %q", got, c.promise, last)
			}
			_, err := findTail(strings.NewReader(c.log), int64(len(c.log)))
			if (err == nil) != c.promise {
				t.Fatalf("findTail disagrees: %v", err)
			}
			// What an append refuses is damage, which verify names; head refuses it alike.
			var de *DamagedError
			if _, _, err := LastEntry(strings.NewReader(c.log), int64(len(c.log))); !c.promise && !errors.As(err, &de) {
				t.Fatalf("LastEntry: %v, want a DamagedError", err)
			}
		})
	}
}

// TestIsRecovery reads the action past userId and role whatever they hold, escaped quotes included.
func TestIsRecovery(t *testing.T) {
	for _, tc := range []struct {
		e    Entry
		want bool
	}{
		{Entry{UserID: "ci", Role: "", Action: ActionRecovered}, true},
		{Entry{UserID: `a\"b`, Role: `r"`, Action: ActionRecovered}, true},
		{Entry{UserID: `x","action":"audit.recovered`, Action: "check"}, false},
		{Entry{UserID: "ci", Role: `","action":"audit.recovered"`, Action: "keys.set"}, false},
		{Entry{UserID: "ci", Action: ActionRecovered + "x"}, false},
	} {
		c := &Chain{Hash: Genesis}
		line, _ := c.Next(nil, tc.e)
		line = bytes.TrimSuffix(line, []byte("\n"))
		li, ok := scan(line)
		if !ok {
			t.Fatalf("scan refused %s", line)
		}
		if got := isRecovery(line, li); got != tc.want {
			t.Errorf("isRecovery(%s) = %v", line, got)
		}
	}
}

// problemLines lists the lines a report names, in its order.
func problemLines(rep *Report) []int64 {
	var got []int64
	for _, p := range rep.Problems {
		got = append(got, p.Line)
	}
	return got
}

// TestVerifyNamesTheDamagedLines: verify reports the lines that explain the damage, not every line
// after it, whether the log is a file or rows.
func TestVerifyNamesTheDamagedLines(t *testing.T) {
	b, es := buildLog(1000)
	ls := lines(b)
	forged := func(ls []string) []string {
		// An entry sealed right for its own content and its prev, slipped in after seq 500.
		c := &Chain{Seq: 500, Hash: es[499].Hash}
		line, _ := c.Next(nil, sample(7))
		return append(ls[:500], append([]string{string(line)}, ls[500:]...)...)
	}
	cases := []struct {
		name  string
		edit  func(ls []string) []string
		lines []int64
		kinds []string
		says  []string
	}{
		{"lines 100 and 800 swapped", func(ls []string) []string { ls[99], ls[799] = ls[799], ls[99]; return ls },
			[]int64{100, 800}, []string{KindGap, KindOrder}, []string{"out of place", "belongs between lines 99 and 101"}},
		{"sealed entry forged in at line 501", forged,
			[]int64{501}, []string{KindOrder}, []string{"inserted"}},
		{"line 100 moved after line 800", func(ls []string) []string {
			moved := ls[99]
			ls = append(ls[:99:99], ls[100:]...)
			return append(ls[:799:799], append([]string{moved}, ls[799:]...)...)
		}, []int64{100, 800}, []string{KindGap, KindOrder}, []string{"1 entry deleted", "belongs between lines 99 and 100"}},
		{"line 800 moved before line 100", func(ls []string) []string {
			moved := ls[799]
			ls = append(ls[:799:799], ls[800:]...)
			return append(ls[:99:99], append([]string{moved}, ls[99:]...)...)
		}, []int64{100}, []string{KindGap}, []string{"out of place"}},
		{"line 500 deleted", func(ls []string) []string { return append(ls[:499], ls[500:]...) },
			[]int64{500}, []string{KindGap}, []string{"1 entry deleted"}},
		{"lines 500-509 deleted", func(ls []string) []string { return append(ls[:499], ls[509:]...) },
			[]int64{500}, []string{KindGap}, []string{"10 entries deleted"}},
		{"last line deleted", func(ls []string) []string { return append(ls[:998], ls[999]) },
			[]int64{999}, []string{KindGap}, []string{"1 entry deleted"}},
		{"line 100 replaced by line 800", func(ls []string) []string { ls[99] = ls[799]; return ls },
			[]int64{100, 100}, []string{KindGap, KindGap}, []string{"in place of seq 100", "seq 100, which belongs between lines 99 and 101, is missing"}},
		{"line 300 edited", func(ls []string) []string {
			ls[299] = strings.Replace(ls[299], `"timestamp":"2026`, `"timestamp":"2025`, 1)
			return ls
		}, []int64{300}, []string{KindEdited}, []string{"edited"}},
		{"line 300 edited and re-hashed", func(ls []string) []string {
			ls[299] = rehash(strings.Replace(ls[299], `"userId":"alice"`, `"userId":"mallory"`, 1))
			return ls
		}, []int64{301}, []string{KindBrokenLink}, []string{"seq 300 (line 300)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tampered := c.edit(append([]string(nil), ls...))
			rows := NewRowVerifier(VerifyOptions{})
			for i, l := range tampered {
				rows.Add(int64(i+1), []byte(strings.TrimSuffix(l, "\n")))
			}
			// Lines checked ahead of their turn, as a store hashing in parallel feeds them.
			checked := NewRowVerifier(VerifyOptions{})
			pre := make([]CheckedLine, len(tampered))
			for i, l := range tampered {
				pre[i] = CheckLine([]byte(strings.TrimSuffix(l, "\n")))
			}
			for i, l := range tampered {
				checked.AddChecked(int64(i+1), []byte(strings.TrimSuffix(l, "\n")), &pre[i])
			}
			for _, rep := range []*Report{verifyBytes(t, join(tampered), VerifyOptions{}), rows.Finish(int64(len(tampered))), checked.Finish(int64(len(tampered)))} {
				if got := problemLines(rep); rep.Omitted != 0 || fmt.Sprint(got) != fmt.Sprint(c.lines) {
					t.Fatalf("problems at lines %v (%d more), want %v: %+v", got, rep.Omitted, c.lines, rep.Problems[:min(4, len(rep.Problems))])
				}
				for i, p := range rep.Problems {
					if p.Kind != c.kinds[i] || !strings.Contains(p.Message, c.says[i]) || !strings.HasPrefix(p.Message, fmt.Sprintf("line %d:", p.Line)) {
						t.Errorf("problem %d: %+v, want kind %s saying %q", i, p, c.kinds[i], c.says[i])
					}
				}
			}
		})
	}
}

func TestStartsAs(t *testing.T) {
	ts := time.Date(2026, 5, 1, 9, 0, 0, 123e6, time.UTC)
	seal := func(user, role, action string) []byte {
		c := &Chain{Seq: 41, Hash: Genesis}
		line, _ := c.Next(nil, Entry{Timestamp: ts, UserID: user, Role: role, Action: action, Host: "h"})
		return bytes.TrimSuffix(line, []byte("\n"))
	}
	line := seal("alice@example.com", "viewer", "check")
	cases := []struct {
		name               string
		line               []byte
		seq                uint64
		ts                 time.Time
		user, role, action string
		want               bool
	}{
		{"as written", line, 42, ts, "alice@example.com", "viewer", "check", true},
		{"another seq", line, 4, ts, "alice@example.com", "viewer", "check", false},
		{"a longer seq", line, 420, ts, "alice@example.com", "viewer", "check", false},
		{"a microsecond later", line, 42, ts.Add(time.Microsecond), "alice@example.com", "viewer", "check", false},
		{"another zone, same time", line, 42, ts.In(time.FixedZone("x", 3600)), "alice@example.com", "viewer", "check", true},
		{"another user", line, 42, ts, "alice@example.co", "viewer", "check", false},
		{"another role", line, 42, ts, "alice@example.com", "admin", "check", false},
		{"another action", line, 42, ts, "alice@example.com", "viewer", "checks", false},
		{"empty values", seal("", "", "x"), 42, ts, "", "", "x", true},
		{"beyond ASCII", seal("zoë", "rôle", "check"), 42, ts, "zoë", "rôle", "check", true},
		// Values the encoder escapes are left to ParseLine.
		{"a quote", seal(`a"b`, "viewer", "check"), 42, ts, `a"b`, "viewer", "check", false},
		{"a line separator", seal("a\u2028b", "viewer", "check"), 42, ts, "a\u2028b", "viewer", "check", false},
		{"invalid UTF-8 in a column", line, 42, ts, "alice@example.com\xff", "viewer", "check", false},
		{"not an entry", []byte(`{"seq":42`), 42, ts, "", "", "", false},
	}
	for _, c := range cases {
		if got := StartsAs(c.line, c.seq, c.ts, []byte(c.user), []byte(c.role), []byte(c.action)); got != c.want {
			t.Errorf("%s: StartsAs = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestLayoutTimeIsTimeLayout(t *testing.T) {
	times := []time.Time{time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC),
		time.Date(2024, 2, 29, 7, 5, 9, 42e6, time.FixedZone("x", -7*3600)), time.Unix(0, 0)}
	for i := range 2000 {
		times = append(times, time.Unix(int64(i)*1_234_567_891%253402300799, int64(i)*7_777_777%1e9))
	}
	for _, tm := range times {
		got, ok := layoutTime(tm)
		if want := tm.UTC().Format(TimeLayout); !ok || string(got[:]) != want {
			t.Fatalf("layoutTime(%s) = %q %v, want %q", tm, got, ok, want)
		}
	}
	if _, ok := layoutTime(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); ok {
		t.Fatal("year 10000 has no four digits")
	}
}

// BenchmarkVerify measures Verify's throughput on a valid log (SetBytes: MB/s).
func BenchmarkVerify(b *testing.B) {
	log, _ := buildLog(100000)
	b.SetBytes(int64(len(log)))
	b.ResetTimer()
	for range b.N {
		rep, err := Verify(bytes.NewReader(log), VerifyOptions{})
		if err != nil || !rep.OK() {
			b.Fatalf("verify: %v %+v", err, rep)
		}
	}
}

// A verification keeps its lists [] rather than null in JSON, and its heads as SEQ and HASH.
func TestVerificationShape(t *testing.T) {
	want := &Head{Seq: 3, Hash: Genesis}
	after := &Head{Seq: 1, Hash: Genesis}
	v := (&Report{Lines: 3, Entries: 3, Head: Head{Seq: 3, Hash: Genesis}}).Verification("audit.log", VerifyOptions{Expect: want, After: after})
	if !v.OK || v.File != "audit.log" || v.ExpectedHead != want || v.After != after || v.Recovered == nil || v.Problems == nil {
		t.Fatalf("verification %+v", v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"recovered":[]`, `"problems":[]`, `"head":{"seq":3,"hash":"` + Genesis + `"}`, `"expected_head":{"seq":3`, `"after":{"seq":1,"hash":"` + Genesis + `"}`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("no %s in %s", field, b)
		}
	}
}

// A part of a chain verifies against the entry it continues after, and nothing else: without
// After its start is a problem, and an After it does not continue is one too.
func TestVerifyPart(t *testing.T) {
	b, es := buildLog(10)
	part := join(lines(b)[4:])
	after := Head{Seq: 4, Hash: es[3].Hash}
	rep := verifyBytes(t, part, VerifyOptions{After: &after, Expect: &Head{Seq: 7, Hash: es[6].Hash}})
	if !rep.OK() || rep.Entries != 6 || rep.Head != (Head{10, es[9].Hash}) {
		t.Fatalf("the part after seq 4: %+v", rep)
	}
	if got := verifyBytes(t, nil, VerifyOptions{After: &after}); !got.OK() || got.Head != after {
		t.Fatalf("an empty part is its start: %+v", got)
	}
	for _, c := range []struct {
		name  string
		opts  VerifyOptions
		words string
	}{
		{"no after", VerifyOptions{}, "starts at seq 5, not 1"},
		{"after another seq", VerifyOptions{After: &Head{Seq: 3, Hash: es[2].Hash}}, "starts at seq 5, not 4: it does not continue after 3:"},
		{"after another hash", VerifyOptions{After: &Head{Seq: 4, Hash: es[4].Hash}}, "seq 5 does not link to 4:"},
	} {
		rep := verifyBytes(t, part, c.opts)
		if len(rep.Problems) != 1 || rep.Problems[0].Kind != KindStart || rep.Problems[0].Line != 1 || !strings.Contains(rep.Problems[0].Message, c.words) {
			t.Errorf("%s: %+v", c.name, rep.Problems)
		}
	}
	// The part's own damage is still found, at its own lines.
	ls := lines(part)
	ls[2] = strings.Replace(ls[2], `"success":true`, `"success":false`, 1)
	if rep := verifyBytes(t, join(ls), VerifyOptions{After: &after}); len(rep.Problems) != 1 || rep.Problems[0].Line != 3 {
		t.Fatalf("an edit in the part: %+v", rep.Problems)
	}
}

// Part follows the lines of an export: where they continue from and where they end.
func TestPartBounds(t *testing.T) {
	b, es := buildLog(10)
	var whole, tail Part
	for i, l := range lines(b) {
		whole.Add([]byte(strings.TrimSuffix(l, "\n")))
		if i >= 6 {
			tail.Add([]byte(strings.TrimSuffix(l, "\n")))
		}
	}
	whole.Done()
	tail.Done()
	if whole.Entries != 10 || whole.After != (Head{0, Genesis}) || whole.Head != (Head{10, es[9].Hash}) {
		t.Fatalf("whole: %+v", whole)
	}
	if tail.Entries != 4 || tail.After != (Head{6, es[5].Hash}) || tail.Head != (Head{10, es[9].Hash}) {
		t.Fatalf("tail: %+v", tail)
	}
	// A line that is not an entry counts, and the bounds come from the entries.
	var damaged Part
	damaged.Add([]byte("not an entry"))
	for _, l := range lines(b)[6:] {
		damaged.Add([]byte(strings.TrimSuffix(l, "\n")))
	}
	damaged.Done()
	if damaged.Entries != 5 || damaged.After != (Head{6, es[5].Hash}) || damaged.Head != (Head{10, es[9].Hash}) {
		t.Fatalf("damaged: %+v", damaged)
	}
	var none Part
	none.Done()
	if none.Entries != 0 || none.After != (Head{0, Genesis}) || none.Head != (Head{0, Genesis}) {
		t.Fatalf("none: %+v", none)
	}
}
