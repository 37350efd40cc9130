package sandbox_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/sandbox"
)

// outcomes makes n calls to GET /api/profiles with the viewer's key, one connection each, and
// returns what each met: its status, or "reset".
func outcomes(t *testing.T, base string, n int) []string {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var got []string
	for range n {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/profiles", nil)
		req.Header.Set("Authorization", "Klaviyo-API-Key "+viewerKey)
		req.Header.Set("revision", revision)
		resp, err := client.Do(req)
		if err != nil {
			got = append(got, "reset")
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got = append(got, fmt.Sprint(resp.StatusCode))
	}
	return got
}

// Each fraction is a share of all /api calls: the faults partition the calls in a fixed order
// (reset, edge block, unavailable, throttle), each spread evenly over the calls the ones before
// it left.
func TestFaultFractionsAreSharesOfAllCalls(t *testing.T) {
	srv, base := start(t, nil, sandbox.Options{})
	for _, tc := range []struct {
		faults sandbox.Faults
		want   string
	}{
		// Reset takes every fourth call; edge block two of every three left, half of all; throttle the rest.
		{sandbox.Faults{EdgeBlock: 0.5, Reset: 0.25, Throttle: 0.25}, "429 403 403 reset 429 403 403 reset"},
		{sandbox.Faults{Unavailable: 0.5}, "200 503 200 503 200 503 200 503"},
		{sandbox.Faults{Reset: 0.25}, "200 200 200 reset 200 200 200 reset"},
		{sandbox.Faults{Unavailable: 0.25, Throttle: 0.25}, "200 200 429 503 200 200 429 503"},
		{sandbox.Faults{EdgeBlock: 1}, "403 403 403 403 403 403 403 403"},
		// Beyond 1 (only SetFaults allows it), the later faults get what is left.
		{sandbox.Faults{Reset: 0.5, Unavailable: 1}, "503 reset 503 reset 503 reset 503 reset"},
	} {
		srv.SetFaults(0, tc.faults)
		if got := strings.Join(outcomes(t, base, 8), " "); got != tc.want {
			t.Errorf("%+v:\n got %s\nwant %s", tc.faults, got, tc.want)
		}
	}

	// Over many calls each fault strikes its share, to within a call.
	f := sandbox.Faults{Reset: 0.1, EdgeBlock: 0.3, Unavailable: 0.2, Throttle: 0.15}
	srv.SetFaults(0, f)
	srv.ResetStats()
	const n = 200
	outcomes(t, base, n)
	st := srv.Stats()
	for what, want := range map[string]float64{"reset": f.Reset, "403": f.EdgeBlock, "503": f.Unavailable, "429": f.Throttle, "200": 0.25} {
		if got := float64(st.Statuses[what]); got < want*n-1 || got > want*n+1 {
			t.Errorf("%s: %v of %d calls, want %v", what, got, n, want*n)
		}
	}
}

func TestFaultsShare(t *testing.T) {
	for _, tc := range []struct {
		f    sandbox.Faults
		want float64
	}{
		{sandbox.Faults{}, 0},
		{sandbox.Faults{Reset: 0.1, EdgeBlock: 0.2, Unavailable: 0.7}, 1},
		{sandbox.Faults{Reset: 0.5, Throttle: 0.75}, 1.25},
	} {
		if got := tc.f.Share(); got != tc.want {
			t.Errorf("%+v: share %v, want %v", tc.f, got, tc.want)
		}
	}
}

func TestFixtureRefusesFaultsBeyondAllCalls(t *testing.T) {
	_, err := sandbox.ParseFixture("f.yaml", []byte("accounts:\n  - id: ACME01\nfaults:\n  reset: 0.5\n  throttle: 0.75\n"))
	want := "f.yaml:4: faults: the fractions add up to 1.25, more than all /api calls"
	if err == nil || err.Error() != want || fault.KindOf(err) != fault.Config {
		t.Fatalf("got %v, want %q", err, want)
	}
	if problems := err.(interface{ Unwrap() []error }).Unwrap(); len(fault.Hints(problems[0])) == 0 {
		t.Error("no hint")
	}
	if _, err := sandbox.ParseFixture("f.yaml", []byte("accounts:\n  - id: ACME01\nfaults: {reset: 0.1, edge_block: 0.2, unavailable: 0.7}\n")); err != nil {
		t.Errorf("fractions adding up to exactly 1: %v", err)
	}
}
