package validate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klrbac/klrbac/internal/catalog"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
)

// Options tune a run.
type Options struct {
	// Client sends the requests. For a run to see no 429s it must pace (klaviyo.Options.Pacer); for
	// the side-effect guard to hold, its transport must be the Guard's.
	Client Caller
	// APIURL and Revision are copied into the report.
	APIURL, Revision string
	// RequiredOnly probes only each role's required scopes (and their companions): it finds what is
	// missing, not what is in excess.
	RequiredOnly bool
	// Strict asks for proof that each key holds nothing more than its role needs: a scope that
	// could not be looked at, or that is undetermined, then decides the verdict.
	Strict bool
	// AllowExcess reports excess scopes without making them a finding.
	AllowExcess bool
	// Concurrency bounds the probes in flight; 0 leaves it to the pacer alone, 1 sends one at a time.
	Concurrency int
	// Calibration is the check order established by Calibrate for this API URL and revision.
	Calibration Calibration
	// Guard, when set, stops the run as soon as it trips; it must also be the client's transport.
	Guard *Guard
	// Observe, when set, hears of every probe as it ends, one call at a time.
	Observe func(Event)
	// Timeout, when positive, bounds the whole run; a run that outlasts it ends as could not
	// evaluate (exit 3), naming the host that did not answer in time.
	Timeout time.Duration
	// Method is how Validate learns scopes: ByAuto ("" too), ByInventory or ByProbe.
	Method Method
	// Inventory are credentials that may list the account's keys (--inventory-role,
	// --inventory-oauth, OAuth apps granted credentials:read), tried in order. With ByAuto and
	// ByInventory, the keys of the roles that may hold credentials:read (full access, or
	// requiring it) are tried after them.
	Inventory []InventorySource
	// MaxKeyAge, when positive, makes a role's key older than it a finding (--max-key-age); a key
	// whose age cannot be known (probed) then leaves an otherwise valid role undetermined.
	MaxKeyAge time.Duration
	// EveryRole says the targets are every role of the policy (--all): a listed key that none of
	// them holds is then reported unused.
	EveryRole bool
	// Now is the clock key ages are measured by; nil: time.Now.
	Now func() time.Time
}

// RunError is a run that ended before its report: the guard tripped, the API was not Klaviyo, the
// time ran out, the run was interrupted, the keys could not be listed. Requests counts the calls
// that had gone out, for the audit trail, which records such runs too.
type RunError struct {
	Err      error
	Requests int
}

func (e *RunError) Error() string { return e.Err.Error() }
func (e *RunError) Unwrap() error { return e.Err }

// Reason says in the audit trail's words how the run ended.
func (e *RunError) Reason() string {
	probes := fmt.Sprintf("%d probe%s", e.Requests, plural(e.Requests))
	switch {
	case errors.Is(e.Err, context.Canceled):
		return "interrupted after " + probes
	case errors.Is(e.Err, context.DeadlineExceeded) || errors.Is(e.Err, errTimedOut):
		return "timed out after " + probes + ": " + e.Err.Error()
	}
	return "stopped after " + probes + ": " + e.Err.Error()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// errTimedOut marks a run that outlasted Options.Timeout.
var errTimedOut = errors.New("timed out")

// withTimeout bounds ctx by opts.Timeout, if any.
func (o Options) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if o.Timeout > 0 {
		return context.WithTimeout(ctx, o.Timeout)
	}
	return context.WithCancel(ctx)
}

// timedOut says that a run outlasted its time, and where it was waiting.
func timedOut(o Options, answered, total int) error {
	return fault.Wrap(fault.Unavailable, fmt.Errorf("the run did not finish within %s (--timeout): %d of %d calls answered; %s did not answer the rest in time: %w",
		o.Timeout, answered, total, hostOf(o.APIURL), errTimedOut)).
		Hint("check the network and klaviyo.api_url (KLRBAC_API_URL): a host that takes connections and never answers looks like this",
			"allow more time with --timeout; --request-timeout bounds each call")
}

// Event is one probe ending, for progress displays and verbose output.
type Event struct {
	// Roles are the roles whose key was probed (several roles may share a key); Key is its mask.
	Roles   []string
	Key     string
	Finding Finding
	// Done and Total count probes; RolesDone and RolesTotal count roles whose key is done.
	Done, Total           int
	RolesDone, RolesTotal int
	// Estimate is the least time the whole run can take under Klaviyo's rate limits.
	Estimate time.Duration
}

// keyRun is the probing of one key, shared by the roles that use it.
type keyRun struct {
	key     klaviyo.Credential
	account string
	roles   []int
	scopes  []string

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	findings map[string]Finding
	rejected *klaviyo.Error
	// noAnswer is the first probe that got no HTTP answer at all; unanswered marks a key whose
	// first probe got none, and whose other probes are therefore not sent.
	noAnswer   *klaviyo.Error
	unanswered bool
	pending    int
	// sentinel marks a key that has been sent the sentinel write.
	sentinel bool
}

// QuotaAccount decides which rate-limit quota each key draws on. Keys in the newer format name
// their account; older keys do not, and may belong to any account, including one a newer key
// names. So when any key's account is unknown, every key is paced as one quota: slower when they
// really are several accounts, but never over a limit.
func QuotaAccount(accounts []string) func(string) string {
	pooled := false
	for _, a := range accounts {
		pooled = pooled || a == ""
	}
	return func(a string) string {
		if pooled {
			return ""
		}
		return a
	}
}

// Probe validates each target's key by probing, concurrently across keys and scopes, as fast as
// the client's pacer allows. Each key first gets one probe alone, so a key Klaviyo rejects costs one
// call, not one per scope; then one write probe goes alone, so that an API that accepts the writes
// built to fail is caught after a single write; then the rest go at once.
//
// The error is for the run as a whole: the guard tripped, or ctx ended. What went wrong with one
// role is in its report.
func Probe(ctx context.Context, targets []Target, opts Options) (*Report, error) {
	opts.Method = ByProbe
	ctx, cancelTimeout := opts.withTimeout(ctx)
	defer cancelTimeout()
	rep, err := probe(ctx, targets, opts)
	if err != nil {
		return nil, err
	}
	for i := range rep.Roles {
		applyAge(&rep.Roles[i], nil, opts)
	}
	rep.summarise(rep.Summary.Requests)
	return rep, nil
}

// probe is Probe within the run's time: Validate probes what the inventory could not settle with it.
func probe(ctx context.Context, targets []Target, opts Options) (*Report, error) {
	if err := checkProbes(); err != nil {
		return nil, err
	}
	ctx, cancel := opts.Guard.context(ctx)
	defer cancel()
	p := &prober{opts: opts, targets: targets, cancel: cancel}

	var accounts []string
	for _, t := range targets {
		if t.Err == nil {
			accounts = append(accounts, t.AccountID)
		}
	}
	quotaOf := QuotaAccount(accounts)
	var runs []*keyRun
	byKey := map[string]*keyRun{}
	for i, t := range targets {
		if t.Err != nil {
			continue
		}
		id := t.Key.Fingerprint() + "/" + t.Key.Mask()
		k := byKey[id]
		if k == nil {
			k = &keyRun{key: t.Key, account: quotaOf(t.AccountID), findings: map[string]Finding{}}
			k.ctx, k.cancel = context.WithCancel(ctx)
			defer k.cancel()
			byKey[id] = k
			runs = append(runs, k)
		}
		k.roles = append(k.roles, i)
		k.scopes = sortedUnique(append(k.scopes, ScopesToProbe(t, opts.RequiredOnly)...))
	}

	p.runs = runs
	if opts.Concurrency > 0 {
		p.slots = make(chan struct{}, opts.Concurrency)
	}
	counts := map[quota]int{}
	for _, k := range runs {
		k.pending = len(k.scopes)
		p.total += len(k.scopes)
		for _, s := range k.scopes {
			r, _ := RequestFor(s)
			counts[quota{k.account, r.Op.Burst, r.Op.Steady}]++
		}
	}
	p.estimate = estimate(counts)
	if err := p.fits(ctx, counts); err != nil {
		return nil, err
	}
	for _, t := range targets {
		if t.Err != nil {
			p.rolesDone++
		}
	}
	for _, k := range runs {
		if len(k.scopes) == 0 {
			p.rolesDone += len(k.roles)
		}
	}

	// The first probe of each key, alone: a read of the roomiest tier, to find rejected keys cheaply.
	alone := map[*keyRun]string{}
	var wg sync.WaitGroup
	for _, k := range runs {
		if s := pick(k.scopes, false); s != "" {
			alone[k] = s
			wg.Go(func() { p.probe(k, s) })
		}
	}
	wg.Wait()
	// A key whose first probe got no answer at all (connection refused, DNS, TLS), after the
	// client's own retries, would get none for its other probes either, each only waiting out its
	// retries and the pacer: they are left undetermined unsent, so that a dead network or a wrong
	// API URL fails in seconds rather than minutes.
	for _, k := range runs {
		if s := alone[k]; s != "" && k.noAnswer != nil {
			p.skipUnanswered(k, s)
		}
	}
	// Then one write, alone: an API that carries out writes built to fail gets only this one.
	canary, canaryScope := (*keyRun)(nil), ""
	for _, k := range runs {
		if s := pick(k.scopes, true); s != "" && k.ctx.Err() == nil {
			canary, canaryScope = k, s
			p.probe(k, s)
			break
		}
	}
	// Then the rest, at once, but for the creates whose valid body would do harm.
	var risky []probeJob
	for _, k := range runs {
		for _, s := range k.scopes {
			if k.unanswered || s == alone[k] || (k == canary && s == canaryScope) {
				continue
			}
			if r, _ := RequestFor(s); r.Write() && highRisk(r) {
				risky = append(risky, probeJob{k, s})
				continue
			}
			wg.Go(func() { p.probe(k, s) })
		}
	}
	wg.Wait()
	// Last, the high-risk creates (data-privacy:write, subscriptions:write, conversations:write,
	// events:write: asynchronous jobs and events, which a PATCH's answer says nothing about), one
	// at a time across every key, and each only once the guard has seen a lower-risk write of the
	// same key refused: an API that carries out writes built to fail has had its chance to show it
	// on a harmless one.
	sort.SliceStable(risky, func(i, j int) bool {
		ri, _ := RequestFor(risky[i].scope)
		rj, _ := RequestFor(risky[j].scope)
		return riskRank(ri.Risk) < riskRank(rj.Risk)
	})
	for _, j := range risky {
		if ctx.Err() != nil {
			break
		}
		if opts.Guard != nil && !opts.Guard.SawWriteRefused(j.key.key.Fingerprint()) {
			p.sentinel(j.key)
		}
		if opts.Guard != nil && !opts.Guard.SawWriteRefused(j.key.key.Fingerprint()) {
			p.withhold(j.key, j.scope, "not sent: no lower-risk write of this key was seen refused first, so this create, whose valid body would do harm, was held back")
			continue
		}
		p.probe(j.key, j.scope)
	}

	if opts.Guard != nil && opts.Guard.Tripped() {
		return nil, &RunError{Err: opts.Guard.Err(), Requests: p.requests}
	}
	if err := p.stopped(); err != nil {
		return nil, &RunError{Err: stopFault(err), Requests: p.requests}
	}
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = timedOut(opts, p.done, p.total)
		}
		return nil, &RunError{Err: err, Requests: p.requests}
	}

	rep := newReport(ByProbe, targets, opts)
	for i, t := range targets {
		if t.Err != nil {
			rep.Roles[i] = unevaluated(t, ByProbe)
		}
	}
	for _, k := range runs {
		applyCompanions(k.findings)
		for _, i := range k.roles {
			t := targets[i]
			rr := newRoleReport(t, ByProbe)
			if k.rejected != nil {
				rr.Verdict = VerdictRejected
				rr.Problems = append(rr.Problems, rejection(k.rejected))
			} else {
				how := opts.rules()
				if !opts.RequiredOnly {
					how.NotChecked = Unprobeable()
				}
				judge(&rr, t, k.findings, how)
			}
			rep.Roles[i] = rr
		}
	}
	rep.summarise(p.requests)
	return rep, nil
}

// prober runs the probes of one Probe call.
type prober struct {
	opts    Options
	targets []Target
	runs    []*keyRun
	slots   chan struct{}
	// cancel ends the whole run; stopErr is the answer that ended it (not Klaviyo's, or a refused
	// revision), which no later probe may overwrite.
	cancel  context.CancelFunc
	stopErr error

	mu        sync.Mutex
	done      int
	total     int
	rolesDone int
	requests  int
	estimate  time.Duration
}

// probe sends one scope's probe with k's key and records what it says.
func (p *prober) probe(k *keyRun, scope string) {
	r, _ := RequestFor(scope)
	var f Finding
	var rejected *klaviyo.Error
	var err, stop error
	sent, answered := false, false
	if p.acquire(k.ctx) {
		var resp *klaviyo.Response
		resp, err = p.opts.Client.Do(k.ctx, klaviyo.Request{Method: r.Method, Path: r.Path, Query: cloneQuery(r.Query),
			Body: r.Body, Credential: k.key, Account: k.account})
		p.release()
		sent = true
		// A call cut short because the run or the key's run ended tells nothing.
		answered = k.ctx.Err() == nil
		if answered {
			f, rejected, stop = interpret(r, resp, err, p.opts.Calibration.State, p.opts.APIURL, p.opts.Revision)
		}
	}
	if stop != nil {
		p.stop(stop)
		answered = false
	}

	k.mu.Lock()
	switch {
	case rejected != nil:
		if k.rejected == nil {
			k.rejected = rejected
		}
		k.cancel()
	case answered:
		k.findings[scope] = f
		if ke := (*klaviyo.Error)(nil); errors.As(err, &ke) && ke.Class == klaviyo.Transport && k.noAnswer == nil {
			k.noAnswer = ke
		}
	}
	k.pending--
	keyDone := k.pending == 0
	k.mu.Unlock()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if sent {
		p.requests++
	}
	if keyDone {
		p.rolesDone += len(k.roles)
	}
	if p.opts.Observe != nil && answered {
		roles := make([]string, len(k.roles))
		for i, ri := range k.roles {
			roles[i] = p.targets[ri].Role
		}
		if rejected != nil {
			f = Finding{Scope: scope, Request: r.String(), Status: rejected.Status, Reason: rejection(rejected)}
		}
		p.opts.Observe(Event{Roles: roles, Key: k.key.Mask(), Finding: f, Done: p.done, Total: p.total,
			RolesDone: p.rolesDone, RolesTotal: len(p.targets), Estimate: p.estimate})
	}
}

// pacedCaller is a client that says whether it paces its calls (*klaviyo.Client does).
type pacedCaller interface{ Paced() bool }

// fits refuses, before anything is sent, a run that cannot end in the time it has: a paced client
// takes at least the estimate, so a deadline sooner than that would only spend calls (writes among
// them) on a run that times out. A usage error: the time allowed, or the method, must change.
func (p *prober) fits(ctx context.Context, counts map[quota]int) error {
	deadline, bounded := ctx.Deadline()
	pc, ok := p.opts.Client.(pacedCaller)
	if !bounded || !ok || !pc.Paced() || p.estimate <= time.Until(deadline) {
		return nil
	}
	calls, slowest := 0, ""
	var worst time.Duration
	for _, q := range slicesSortedQuotas(counts) {
		calls += counts[q]
		if d := klaviyo.PacedDuration(catalog.Operation{Burst: q.burst, Steady: q.steady}, counts[q]); d >= worst {
			worst, slowest = d, fmt.Sprintf("%d calls of the %s tier, %d a minute", counts[q], catalog.TierName(q.burst, q.steady), q.steady)
		}
	}
	enough := (p.estimate*5/4 + time.Minute - 1) / time.Minute * time.Minute
	return fault.Usagef("probing these keys takes at least %s under Klaviyo's rate limits (%d calls; %s), more than the %s left of the run (--timeout); nothing was sent",
		p.estimate.Round(time.Second), calls, slowest, time.Until(deadline).Round(time.Second)).
		Hint(fmt.Sprintf("allow more time: --timeout %s", enough),
			"or read the account's key inventory, one call, with a credential holding credentials:read (--inventory-role ROLE)",
			"or probe fewer scopes: --required-only, or fewer roles")
}

// probeJob is one scope of one key to probe.
type probeJob struct {
	key   *keyRun
	scope string
}

// highRisk reports whether a write probe's valid body would do more than touch a made-up object:
// the creates of jobs and events.
func highRisk(r ProbeRequest) bool { return riskRank(r.Risk) > 0 }

// sentinel sends, once per key, the least risky write probe of all (whatever the key's scopes), so
// that a key whose only writes are high-risk creates shows whether the API refuses a write built to
// fail before any such create goes out. Its answer is not a finding: it only informs the guard.
func (p *prober) sentinel(k *keyRun) {
	k.mu.Lock()
	sent := k.sentinel
	k.sentinel = true
	k.mu.Unlock()
	if sent || !p.acquire(k.ctx) {
		return
	}
	r, _ := RequestFor(pick(Probeable(), true))
	_, _ = p.opts.Client.Do(k.ctx, klaviyo.Request{Method: r.Method, Path: r.Path, Query: cloneQuery(r.Query),
		Body: r.Body, Credential: k.key, Account: k.account})
	p.release()
	p.mu.Lock()
	p.requests++
	p.mu.Unlock()
}

// withhold settles a scope of k as undetermined without sending its probe.
func (p *prober) withhold(k *keyRun, scope, reason string) {
	r, _ := RequestFor(scope)
	k.mu.Lock()
	k.findings[scope] = Finding{Scope: scope, Request: r.String(), Answer: Undetermined, Reason: reason}
	k.pending--
	keyDone := k.pending == 0
	k.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if keyDone {
		p.rolesDone += len(k.roles)
	}
}

// stop ends the run for err, the first answer that makes every other answer worthless.
func (p *prober) stop(err error) {
	p.mu.Lock()
	if p.stopErr == nil {
		p.stopErr = err
	}
	p.mu.Unlock()
	p.cancel()
}

func (p *prober) stopped() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopErr
}

// skipUnanswered settles every scope of k, whose first probe (of first) got no answer, as
// undetermined, for that reason, without sending their probes.
func (p *prober) skipUnanswered(k *keyRun, first string) {
	r, _ := RequestFor(first)
	reason := unanswered(p.opts.APIURL, r, k.noAnswer) + ", so the key's other probes were not sent"
	k.cancel()
	k.mu.Lock()
	k.unanswered = true
	skipped := 0
	for _, s := range k.scopes {
		f, probed := k.findings[s]
		if !probed {
			sr, _ := RequestFor(s)
			f = Finding{Scope: s, Request: sr.String()}
			skipped++
		}
		f.Answer, f.Reason, f.Inferred = Undetermined, reason, false
		k.findings[s] = f
	}
	k.pending -= skipped
	k.mu.Unlock()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += skipped
	if skipped > 0 {
		p.rolesDone += len(k.roles)
	}
}

// unanswered says that Klaviyo's API gave no answer at all to probe r: where it was asked, and what
// the network said.
func unanswered(apiURL string, r ProbeRequest, e *klaviyo.Error) string {
	where := "Klaviyo's API"
	if apiURL != "" {
		where += " at " + calibrationURL(apiURL)
	}
	cause := "no answer"
	if e.Err != nil {
		cause = e.Err.Error()
	}
	if e.Attempts > 1 {
		cause += fmt.Sprintf(", after %d attempts", e.Attempts)
	}
	return fmt.Sprintf("%s did not answer %s (%s)", where, r, cause)
}

// acquire takes a slot for a call, when calls are bounded; false when ctx ends first.
func (p *prober) acquire(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	if p.slots == nil {
		return true
	}
	select {
	case p.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *prober) release() {
	if p.slots != nil {
		<-p.slots
	}
}

// pick chooses the probe to send alone: the read (or write) of the least risk, then of the
// roomiest rate tier, so that it costs the scarce tiers nothing and, should Klaviyo carry out a
// write built to fail, the write that went through is the most harmless one.
func pick(scopes []string, write bool) string {
	best, bestRisk, bestSteady := "", 0, -1
	for _, s := range scopes {
		r, _ := RequestFor(s)
		if r.Write() != write || (write && highRisk(r)) {
			continue
		}
		risk := riskRank(r.Risk)
		if best == "" || risk < bestRisk || (risk == bestRisk && r.Op.Steady > bestSteady) {
			best, bestRisk, bestSteady = s, risk, r.Op.Steady
		}
	}
	return best
}

func riskRank(risk string) int {
	switch strings.ToLower(risk) {
	case "none", "low", "":
		return 0
	case "medium":
		return 1
	}
	return 2
}

func cloneQuery(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// quota is one rate-limit quota the probes draw on: an account and a tier's limits.
type quota struct {
	account       string
	burst, steady int
}

// estimate is the least wall time a set of calls can take under Klaviyo's rate limits: per quota,
// the least time to send that many calls whatever the phase of Klaviyo's windows
// (klaviyo.PacedDuration), and the slowest of those, as quotas are paced side by side.
func estimate(counts map[quota]int) time.Duration {
	var worst time.Duration
	keys := slicesSortedQuotas(counts)
	for _, q := range keys {
		worst = max(worst, klaviyo.PacedDuration(catalog.Operation{Burst: q.burst, Steady: q.steady}, counts[q]))
	}
	return worst
}

func slicesSortedQuotas(m map[quota]int) []quota {
	keys := make([]quota, 0, len(m))
	for q := range maps.Keys(m) {
		keys = append(keys, q)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].account != keys[j].account {
			return keys[i].account < keys[j].account
		}
		return keys[i].steady < keys[j].steady
	})
	return keys
}
