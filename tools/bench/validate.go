package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/sandbox"
)

func init() {
	register(benchmark{
		name: "validate",
		what: "`klrbac keys validate --all` on the demo's 5 keys, every probeable scope, sandbox with 50 ms latency: wall time vs the least the rate tiers allow, 429s, and one probe at a time as the baseline",
		run:  runValidate,
	})
}

const validateLatency = 50 * time.Millisecond

// The lower bound: the sandbox, like Klaviyo, keeps one quota per account and rate tier, and the
// demo's keys are all in one account. A tier that must carry n calls needs at least
// klaviyo.PacedDuration(tier, n) from its first call to its last, whatever the phase of the fixed
// 1 s and 60 s windows (call k can go no earlier than a second after call k-burst and a minute after
// call k-steady); tiers have separate quotas and run side by side, so the run needs at least the
// slowest tier's time, plus one latency for its last answer. The calls counted are those the
// sandbox saw, per operation, each mapped to its tier.
func validateBound(stats sandbox.Stats) (time.Duration, string, error) {
	type tier struct{ burst, steady int }
	calls := map[tier]int{}
	for name, op := range stats.Operations {
		method, path, ok := strings.Cut(name, " ")
		if !ok {
			return 0, "", fmt.Errorf("operation %q", name)
		}
		o, found := catalog.Find(method, path)
		if !found {
			return 0, "", fmt.Errorf("no operation %s in the catalog", name)
		}
		calls[tier{o.Burst, o.Steady}] += op.Requests
	}
	var bound time.Duration
	var parts []string
	for t, n := range calls {
		d := klaviyo.PacedDuration(catalog.Operation{Burst: t.burst, Steady: t.steady}, n)
		bound = max(bound, d)
		parts = append(parts, fmt.Sprintf("%s %d calls >= %.1f s", catalog.TierName(t.burst, t.steady), n, d.Seconds()))
	}
	sort.Strings(parts)
	return bound + validateLatency, strings.Join(parts, ", "), nil
}

type validateRun struct {
	wall  time.Duration
	exit  int
	stats sandbox.Stats
}

// validateOnce starts a fresh sandbox (so no quota is left over from another run), runs klrbac
// keys validate --all against it with the demo keys, and reads the sandbox's counts.
func validateOnce(env *benchEnv, extra ...string) (validateRun, error) {
	sb, err := startServer(env.klrbac, "sandbox", "--latency", validateLatency.String())
	if err != nil {
		return validateRun{}, err
	}
	defer sb.stop()
	home := filepath.Join(env.dir, "validate-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return validateRun{}, err
	}
	bin, err := filepath.Abs(env.klrbac)
	if err != nil {
		return validateRun{}, err
	}
	// --timeout: probing every scope of the demo's keys takes at least 3 minutes, more than the
	// default bound, which refuses the run before it starts.
	cmd := exec.Command(bin, append([]string{"keys", "validate", "--all", "--timeout", "10m", "-o", "json"}, extra...)...)
	cmd.Dir = home
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_STATE_HOME="+home, "XDG_CONFIG_HOME="+home,
		"KLRBAC_KEYRING=off", "KLRBAC_API_URL="+sb.url, "KLRBAC_AUDIT_LOG="+filepath.Join(home, "audit.log"),
		"KLRBAC_CALIBRATION_FILE="+filepath.Join(home, "calibration.json"))
	pol := policy.Default()
	for _, k := range sandbox.DemoFixture().Accounts[0].Keys {
		if r, ok := pol.Role(k.Name); ok {
			cmd.Env = append(cmd.Env, r.EnvVar()+"="+k.Secret)
		}
	}
	var out strings.Builder
	cmd.Stdout = &out
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	run := validateRun{wall: wall}
	if ee, ok := err.(*exec.ExitError); ok {
		run.exit = ee.ExitCode()
	} else if err != nil {
		return run, err
	}
	var rep struct {
		Roles []struct {
			Role, Verdict string
		} `json:"roles"`
	}
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil || len(rep.Roles) != 5 {
		return run, fmt.Errorf("keys validate printed no report of 5 roles (exit %d): %v", run.exit, err)
	}
	resp, err := http.Get(sb.url + "/_sandbox/stats")
	if err != nil {
		return run, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&run.stats)
	return run, err
}

func runValidate(env *benchEnv) error {
	// One pair: each run takes over a minute, the XS tier's 15 calls a minute being the bottleneck.
	concurrent, err := validateOnce(env)
	if err != nil {
		return err
	}
	sequential, err := validateOnce(env, "--concurrency", "1")
	if err != nil {
		return err
	}
	if concurrent.exit != 1 || sequential.exit != 1 {
		return fmt.Errorf("keys validate exited %d and %d, want 1 (the demo's developer key lacks a scope)", concurrent.exit, sequential.exit)
	}
	bound, tiers, err := validateBound(concurrent.stats)
	if err != nil {
		return err
	}
	ratio := concurrent.wall.Seconds() / bound.Seconds()
	n429 := concurrent.stats.Status(429)
	fmt.Printf("   %d probes for 5 roles (admin, full access, only its required scopes; the others all 46), one account\n", concurrent.stats.Requests-n429)
	fmt.Printf("   lower bound %.2f s: the slowest tier, plus one %s latency (%s)\n", bound.Seconds(), validateLatency, tiers)
	fmt.Printf("   concurrent (default):     wall %.2f s -> ratio %.3f to the lower bound; 429s seen by the sandbox: %d\n", concurrent.wall.Seconds(), ratio, n429)
	fmt.Printf("   sequential (--concurrency 1, baseline): wall %.2f s -> ratio %.3f; 429s: %d; concurrent is %.2fx faster\n",
		sequential.wall.Seconds(), sequential.wall.Seconds()/bound.Seconds(), sequential.stats.Status(429), sequential.wall.Seconds()/concurrent.wall.Seconds())
	fmt.Printf("   target: ratio <= 1.25 with zero 429s: %s\n", verdict(ratio <= 1.25 && n429 == 0))
	return nil
}
