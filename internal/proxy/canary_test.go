package proxy

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestCanaryNoKeyOrTokenReachesAnyOutput drives allowed, denied, failing and refused calls, then
// looks for every role key and every token in everything the proxy wrote: answers, the JSON log, the
// audit log, the token file and the metrics.
func TestCanaryNoKeyOrTokenReachesAnyOutput(t *testing.T) {
	r := newRig(t, "")
	alice, _ := r.token("alice", time.Hour)
	dana, _ := r.token("dana", time.Hour)
	dev, _ := r.token("dev", time.Hour)
	revoked, rec := r.token("sam", time.Hour)
	if _, err := r.file.Revoke(t.Context(), rec.ID); err != nil {
		t.Fatal(err)
	}
	_ = r.tokens.refresh(t.Context(), false)
	var seen []string
	keep := func(a answer) {
		seen = append(seen, a.body)
		seen = append(seen, flatten(a.header)...)
	}
	keep(r.call("GET", "/api/profiles", alice, ""))
	keep(r.call("GET", "/api/accounts", dana, ""))
	keep(r.call("POST", "/api/profiles", alice, `{"data":{"type":"profile"}}`))
	keep(r.call("POST", "/api/profiles", dana, `{"data":{"type":"wrong"}}`))
	keep(r.call("GET", "/api/profiles", dev, ""))
	keep(r.call("GET", "/api/profiles", revoked, ""))
	keep(r.call("GET", "/api/nonsense/"+alice, alice, ""))
	keep(r.call("GET", "/api/profiles?x="+dana, "", "", "Authorization", "Bearer "+alice+"x"))
	keep(r.call("GET", "/api/profiles", viewerKey, ""))
	keep(r.call("GET", "/metrics", "", ""))
	for _, f := range []string{r.auditLog, r.file.Path()} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, string(b))
	}
	seen = append(seen, r.logBuf.String())
	all := strings.Join(seen, "\n")
	if !strings.Contains(all, "permission_denied") || !strings.Contains(r.logBuf.String(), `"msg":"call"`) {
		t.Fatal("the calls did not produce the outputs the scan is for")
	}
	canaries := append(mapValues(roleKeys), r.secrets...)
	for _, c := range canaries {
		for _, piece := range []string{c, c[len(c)-20:]} {
			if strings.Contains(all, piece) {
				t.Errorf("a key or token (%s...) reached the proxy's output", c[:6])
			}
		}
	}
}
