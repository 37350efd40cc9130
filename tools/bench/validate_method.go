package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/sandbox"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/validate"
)

// These benchmarks drive internal/validate in-process, against a sandbox of their own, with the
// client, pacer and side-effect guard keys validate uses: the methods they compare are
// validate.Options' (the command line chooses among them with the flags that map onto it).

func init() {
	register(benchmark{
		name: "validate-method",
		what: "keys validate --all on the demo account, paced, 50 ms latency: auto (the inventory) vs probe; target auto <= 2% of probe's time, 0 429s",
		run:  runValidateMethod,
	})
	register(benchmark{
		name: "validate-accuracy",
		what: "every scope x (granted, not granted), the demo's keys and every liar, by probe, inventory and auto: target 100% right or undetermined, 0 false valid",
		run:  runValidateAccuracy,
	})
	register(benchmark{
		name: "quota",
		what: "probing the demo's keys paced per rate tier (the default) vs per operation, against sandboxes counting either way: what per-operation pacing would save, and what it risks",
		run:  runQuota,
	})
}

// benchRun is one sandbox and the options of a run against it.
type benchRun struct {
	srv  *sandbox.Server
	opts validate.Options
}

// newBenchRun starts a sandbox serving fx and makes options whose client paces (per tier, or per
// operation) through a guard, as keys validate's does.
func newBenchRun(fx *sandbox.Fixture, latency time.Duration, perOperation bool, requestTimeout time.Duration) (*benchRun, error) {
	fx.Latency = latency
	srv := sandbox.New(fx, sandbox.Options{})
	if err := srv.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	guard := validate.NewGuard(nil)
	client := klaviyo.New(klaviyo.Options{APIURL: srv.URL(), HTTPClient: &http.Client{Transport: guard, Timeout: requestTimeout},
		Pacer: klaviyo.NewPacer(klaviyo.PacerOptions{PerOperation: perOperation})})
	return &benchRun{srv: srv, opts: validate.Options{Client: client, APIURL: srv.URL(), Revision: klaviyo.DefaultRevision,
		Guard: guard, Timeout: 5 * time.Minute}}, nil
}

func (b *benchRun) close() { _ = b.srv.Close() }

// demoTargets are the default policy's five roles with the demo's keys, as keys validate --all
// reads them from KLAVIYO_KEY_<ROLE>.
func demoTargets(fx *sandbox.Fixture) ([]validate.Target, error) {
	pol := policy.Default()
	var out []validate.Target
	for _, k := range fx.Accounts[0].Keys {
		r, ok := pol.Role(k.Name)
		if !ok {
			continue
		}
		parsed, err := secrets.ParseKey(k.Secret)
		if err != nil {
			return nil, err
		}
		out = append(out, validate.Target{Role: r.Name, Required: pol.RequiredScopes(r), FullAccess: r.FullAccess,
			KeySource: "env " + r.EnvVar(), Key: klaviyo.PrivateKey(k.Secret), AccountID: parsed.AccountID})
	}
	if len(out) != 5 {
		return nil, fmt.Errorf("the demo has keys for %d roles of the default policy, want 5", len(out))
	}
	return out, nil
}

// demoTruth is what the demo's keys are, against the default policy (see sandbox/demo.yaml).
var demoTruth = map[string]validate.Verdict{
	"admin": validate.VerdictValid, "marketer": validate.VerdictValid, "developer": validate.VerdictInvalid,
	"viewer": validate.VerdictValid, "service": validate.VerdictInvalid,
}

type methodRun struct {
	wall     time.Duration
	rep      *validate.Report
	stats    sandbox.Stats
	requests int
	n429     int
}

func runMethodOnce(method validate.Method, perOperation bool, quota string) (methodRun, error) {
	fx := sandbox.DemoFixture()
	fx.Quota = quota
	b, err := newBenchRun(fx, validateLatency, perOperation, 15*time.Second)
	if err != nil {
		return methodRun{}, err
	}
	defer b.close()
	targets, err := demoTargets(fx)
	if err != nil {
		return methodRun{}, err
	}
	b.opts.Method, b.opts.EveryRole = method, true
	start := time.Now()
	rep, err := validate.Validate(context.Background(), targets, b.opts)
	wall := time.Since(start)
	if err != nil {
		return methodRun{}, fmt.Errorf("%s: %w", method, err)
	}
	st := b.srv.Stats()
	return methodRun{wall: wall, rep: rep, stats: st, requests: st.Requests, n429: st.Status(429)}, nil
}

func runValidateMethod(env *benchEnv) error {
	// One pair: the probe run takes over a minute, the XS tier's 15 calls a minute its bottleneck.
	auto, err := runMethodOnce(validate.ByAuto, false, "")
	if err != nil {
		return err
	}
	probed, err := runMethodOnce(validate.ByProbe, false, "")
	if err != nil {
		return err
	}
	for _, rr := range auto.rep.Roles {
		i := 0
		for i < len(probed.rep.Roles) && probed.rep.Roles[i].Role != rr.Role {
			i++
		}
		if i == len(probed.rep.Roles) || probed.rep.Roles[i].Verdict != rr.Verdict || rr.Verdict != demoTruth[rr.Role] {
			return fmt.Errorf("%s: auto says %s, probe says %s, the demo is %s", rr.Role, rr.Verdict, probed.rep.Roles[i].Verdict, demoTruth[rr.Role])
		}
	}
	ratio := auto.wall.Seconds() / probed.wall.Seconds()
	fmt.Printf("   auto:  method %s (%s), %d calls, wall %.2f s, 429s: %d\n", auto.rep.Method, auto.rep.Inventory, auto.requests, auto.wall.Seconds(), auto.n429)
	fmt.Printf("   probe (baseline): %d calls, wall %.2f s, 429s: %d\n", probed.requests, probed.wall.Seconds(), probed.n429)
	fmt.Printf("   the same verdicts for the 5 roles; auto takes %.2f%% of probe's time\n", 100*ratio)
	fmt.Printf("   target: auto <= 2%% of probe's time, zero 429s: %s\n", verdict(ratio <= 0.02 && auto.n429 == 0 && probed.n429 == 0))
	return nil
}

// tally counts verdicts against the truth.
type tally struct {
	verdicts, right, undetermined, wrong, falseValid int
	examples                                         []string
}

func (t *tally) add(role string, got, want validate.Verdict) {
	t.verdicts++
	switch {
	case got == want:
		t.right++
	case got == validate.VerdictUndetermined:
		t.undetermined++
	default:
		t.wrong++
		if got == validate.VerdictValid {
			t.falseValid++
		}
		if len(t.examples) < 5 {
			t.examples = append(t.examples, fmt.Sprintf("%s: %s, want %s", role, got, want))
		}
	}
}

// matrixFixture is an account with, for every scope a key can hold, a key holding only that scope
// and a key holding every other scope, plus a full-access key to list them.
func matrixFixture() (*sandbox.Fixture, []validate.Target, map[string]validate.Verdict, error) {
	scopes := catalog.AssignableScopes()
	var b strings.Builder
	b.WriteString("accounts:\n  - id: MATRIX\n    keys:\n      - {name: lister, key: pk_MATRIX_ffffffffffffffffffffffffffffffffff, scopes: [full]}\n")
	var targets []validate.Target
	truth := map[string]validate.Verdict{}
	for i, s := range scopes {
		var others []string
		for _, o := range scopes {
			if o != s {
				others = append(others, o)
			}
		}
		has, lacks := fmt.Sprintf("pk_%034x", 2*i+1), fmt.Sprintf("pk_%034x", 2*i+2)
		fmt.Fprintf(&b, "      - {name: has-%s, key: %s, scopes: [%s]}\n", s, has, s)
		fmt.Fprintf(&b, "      - {name: lacks-%s, key: %s, scopes: [%s]}\n", s, lacks, strings.Join(others, ", "))
		targets = append(targets,
			validate.Target{Role: "has-" + s, Required: []string{s}, KeySource: "bench", Key: klaviyo.PrivateKey(has)},
			validate.Target{Role: "lacks-" + s, Required: []string{s}, KeySource: "bench", Key: klaviyo.PrivateKey(lacks)})
		truth["has-"+s], truth["lacks-"+s] = validate.VerdictValid, validate.VerdictInvalid
	}
	fx, err := sandbox.ParseFixture("matrix.yaml", []byte(b.String()))
	if err != nil {
		return nil, nil, nil, err
	}
	fx.RateLimits = false
	return fx, targets, truth, nil
}

// unpaced is a run without pacing or rate limits: the accuracy matrix is about answers, not time.
func unpaced(fx *sandbox.Fixture, requestTimeout time.Duration) (*benchRun, error) {
	fx.RateLimits = false
	srv := sandbox.New(fx, sandbox.Options{})
	if err := srv.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	guard := validate.NewGuard(nil)
	client := klaviyo.New(klaviyo.Options{APIURL: srv.URL(), HTTPClient: &http.Client{Transport: guard, Timeout: requestTimeout},
		Sleep: func(context.Context, time.Duration) error { return nil }})
	return &benchRun{srv: srv, opts: validate.Options{Client: client, APIURL: srv.URL(), Revision: klaviyo.DefaultRevision,
		Guard: guard, Timeout: 3 * time.Second}}, nil
}

func runValidateAccuracy(env *benchEnv) error {
	methods := []validate.Method{validate.ByProbe, validate.ByInventory, validate.ByAuto}
	var total tally
	fmt.Printf("   %-44s %9s %6s %13s %6s %12s\n", "case", "verdicts", "right", "undetermined", "wrong", "false valid")
	row := func(name string, t tally) {
		fmt.Printf("   %-44s %9d %6d %13d %6d %12d\n", name, t.verdicts, t.right, t.undetermined, t.wrong, t.falseValid)
		total.verdicts += t.verdicts
		total.right += t.right
		total.undetermined += t.undetermined
		total.wrong += t.wrong
		total.falseValid += t.falseValid
		total.examples = append(total.examples, t.examples...)
	}
	for _, m := range methods {
		fx, targets, truth, err := matrixFixture()
		if err != nil {
			return err
		}
		b, err := unpaced(fx, 5*time.Second)
		if err != nil {
			return err
		}
		b.opts.Method, b.opts.RequiredOnly, b.opts.AllowExcess, b.opts.Timeout = m, true, true, time.Minute
		b.opts.Inventory = []validate.InventorySource{{Name: "lister", AccountID: "MATRIX", Credential: func(context.Context) (klaviyo.Credential, error) {
			return klaviyo.PrivateKey("pk_MATRIX_ffffffffffffffffffffffffffffffffff"), nil
		}}}
		rep, err := validate.Validate(context.Background(), targets, b.opts)
		b.close()
		if err != nil {
			return fmt.Errorf("matrix by %s: %w", m, err)
		}
		var t tally
		for _, rr := range rep.Roles {
			t.add(rr.Role, rr.Verdict, truth[rr.Role])
		}
		row(fmt.Sprintf("%d scopes x granted/not, by %s", len(targets)/2, m), t)
	}
	for _, m := range methods {
		fx := sandbox.DemoFixture()
		b, err := unpaced(fx, 5*time.Second)
		if err != nil {
			return err
		}
		targets, err := demoTargets(fx)
		if err != nil {
			return err
		}
		b.opts.Method, b.opts.Timeout = m, time.Minute
		rep, err := validate.Validate(context.Background(), targets, b.opts)
		b.close()
		if err != nil {
			return fmt.Errorf("demo by %s: %w", m, err)
		}
		var t tally
		for _, rr := range rep.Roles {
			t.add(rr.Role, rr.Verdict, demoTruth[rr.Role])
		}
		row("the demo's 5 roles, by "+string(m), t)
	}
	// Every liar, every method: a run that ends as a whole leaves every role undetermined.
	var liars tally
	for _, liar := range sandbox.Liars {
		for _, m := range methods {
			fx := sandbox.DemoFixture()
			fx.Faults.Liar = liar
			b, err := unpaced(fx, time.Second)
			if err != nil {
				return err
			}
			targets, err := demoTargets(fx)
			if err != nil {
				return err
			}
			b.opts.Method = m
			rep, err := validate.Validate(context.Background(), targets, b.opts)
			b.close()
			if err != nil {
				for _, tg := range targets {
					liars.add(liar+"/"+tg.Role, validate.VerdictUndetermined, demoTruth[tg.Role])
				}
				continue
			}
			for _, rr := range rep.Roles {
				liars.add(liar+"/"+rr.Role, rr.Verdict, demoTruth[rr.Role])
			}
		}
	}
	row(fmt.Sprintf("%d liars x 3 methods x the demo's 5 roles", len(sandbox.Liars)), liars)
	share := float64(total.right+total.undetermined) / float64(total.verdicts)
	fmt.Printf("   %-44s %9d %6d %13d %6d %12d\n", "all", total.verdicts, total.right, total.undetermined, total.wrong, total.falseValid)
	for _, e := range total.examples {
		fmt.Printf("   wrong: %s\n", e)
	}
	fmt.Printf("   right or undetermined: %.1f%%, right: %.1f%%\n", 100*share, 100*float64(total.right)/float64(total.verdicts))
	fmt.Printf("   target: 100%% right or undetermined, zero false valid: %s\n", verdict(total.wrong == 0 && total.falseValid == 0))
	return nil
}

// tierBound and operationBound are the least time the calls a run made can take when the rate
// limits are counted per account and tier, or per account and operation: the slowest quota's
// klaviyo.PacedDuration, quotas running side by side.
func quotaBounds(stats sandbox.Stats) (tier, operation time.Duration, err error) {
	type lim struct{ burst, steady int }
	perTier := map[lim]int{}
	for name, op := range stats.Operations {
		method, path, _ := strings.Cut(name, " ")
		o, ok := catalog.Find(method, path)
		if !ok {
			return 0, 0, fmt.Errorf("no operation %s in the catalog", name)
		}
		n := op.Requests - op.Statuses["429"]
		perTier[lim{o.Burst, o.Steady}] += n
		operation = max(operation, klaviyo.PacedDuration(o, n))
	}
	for l, n := range perTier {
		tier = max(tier, klaviyo.PacedDuration(catalog.Operation{Burst: l.burst, Steady: l.steady}, n))
	}
	return tier, operation, nil
}

func runQuota(env *benchEnv) error {
	cases := []struct {
		name         string
		perOperation bool
		quota        string
	}{
		{"paced per tier, sandbox per tier (default; baseline)", false, sandbox.QuotaPerTier},
		{"paced per operation, sandbox per operation", true, sandbox.QuotaPerOperation},
		{"paced per operation, sandbox per tier (the risk)", true, sandbox.QuotaPerTier},
	}
	var walls []time.Duration
	for i, c := range cases {
		r, err := runMethodOnce(validate.ByProbe, c.perOperation, c.quota)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		walls = append(walls, r.wall)
		tierBound, opBound, err := quotaBounds(r.stats)
		if err != nil {
			return err
		}
		if i == 0 {
			fmt.Printf("   %d probes; least time paced per tier %.1f s, per operation %.1f s\n", r.requests-r.n429, tierBound.Seconds(), opBound.Seconds())
		}
		fmt.Printf("   %-56s wall %6.2f s, 429s: %d\n", c.name, r.wall.Seconds(), r.n429)
	}
	saved := 1 - walls[1].Seconds()/walls[0].Seconds()
	fmt.Printf("   per-operation pacing would save %.0f%% of the time, were Klaviyo to count per operation; where it counts per tier it meets 429s\n", 100*saved)
	fmt.Println("   (few here: the sandbox, as DRF, answers a refused probe before the throttle, so it uses no quota; keys holding more scopes meet more)")
	fmt.Println("   the default stays per tier: Klaviyo does not document that one tier's endpoints have windows of their own")
	return nil
}
