package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/warn"
)

// Trail is the audit trail as a service over a Store: it records facts, makes changes only once
// their record is kept (fail closed), says before a change whether it could be recorded, and
// delivers alerts. Every refusal for want of a record is worded by Refuse, whoever asks.
//
// A Trail is safe for concurrent use.
type Trail struct {
	store Store
	opts  TrailOptions

	rulesOnce sync.Once
	rules     atomic.Pointer[ruleSet]
	alerts    sync.WaitGroup // deliveries under way in the background
}

type ruleSet struct {
	rules []Rule
	err   error
}

// TrailOptions tune a Trail; the zero value records without alerts and says nothing.
type TrailOptions struct {
	// Actor is the userId of entries that name none, and of the notes the Trail writes itself.
	Actor string
	// Rules returns the alert rules in force; it is asked once, by the first record, so that a
	// command that records nothing never reads them. Its error refuses every record. nil: no rules.
	Rules func() ([]Rule, error)
	// Changes words the changes an action makes, for refusals: "keys.set" -> "store the key".
	// An action it does not name is worded as itself, with its resource.
	Changes map[string]string
	// Warn receives what goes wrong without failing the caller: a failed alert, a failure that could
	// not be recorded, a recovered log (default: nowhere).
	Warn io.Writer
	// Send delivers an entry's line to a rule's targets (default Sender{}.Send).
	Send func(ctx context.Context, r Rule, line []byte) error
	// AlertsInBackground has Record return as soon as its entries are kept and deliver their alerts
	// after, so that a server's call never waits for a webhook; Wait waits for those under way.
	// Off, Record returns once its alerts are delivered, so that a command exiting next loses none.
	AlertsInBackground bool
}

// NewTrail returns a trail over store.
func NewTrail(store Store, opts TrailOptions) *Trail {
	if opts.Warn == nil {
		opts.Warn = io.Discard
	}
	if opts.Send == nil {
		opts.Send = Sender{}.Send
	}
	if opts.Rules == nil {
		opts.Rules = func() ([]Rule, error) { return nil, nil }
	}
	return &Trail{store: store, opts: opts}
}

// Store is the store the trail records to.
func (t *Trail) Store() Store { return t.store }

func (t *Trail) alertRules() ([]Rule, error) {
	t.rulesOnce.Do(func() {
		rules, err := t.opts.Rules()
		t.rules.Store(&ruleSet{rules, err})
	})
	rs := t.rules.Load()
	return rs.rules, rs.err
}

// SetRules puts rules in force for the entries recorded from now on, in place of what Rules read:
// a server reloading its config changes them while it records.
func (t *Trail) SetRules(rules []Rule) {
	// Done first, so that a Rules still being read cannot overwrite these once it returns.
	t.rulesOnce.Do(func() {})
	t.rules.Store(&ruleSet{rules: rules})
}

// Wait waits for the alerts being delivered in the background (AlertsInBackground).
func (t *Trail) Wait() { t.alerts.Wait() }

// Record keeps entries with one durable write and returns them as written, then delivers the alerts
// they match. It fills in the actor of entries that name none and marks each entry with the alert
// rules it matches. The error says why nothing was kept: the store's own, with its hints. An alert
// that fails is no error: it is reported to Warn and recorded as an ActionAlertFailed entry.
//
// Record is for facts, such as a decision or a validation result, written as they are established;
// a change goes through Audited, so that nothing changes without its record.
func (t *Trail) Record(ctx context.Context, entries ...Entry) ([]Entry, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	rules, err := t.alertRules()
	if err != nil {
		return nil, err
	}
	var fire [][]Rule // nil when no entry matches a rule with a target: the common case
	for i := range entries {
		if entries[i].UserID == "" {
			entries[i].UserID = t.opts.Actor
		}
		if matched := Mark(rules, &entries[i]); len(matched) > 0 {
			if fire == nil {
				fire = make([][]Rule, len(entries))
			}
			fire[i] = matched
		}
	}
	written, err := t.store.AppendAll(ctx, entries)
	if err != nil {
		return nil, err
	}
	switch {
	case fire == nil:
	case t.opts.AlertsInBackground:
		// The caller's context ends with its call; the alert of a kept entry must still go out.
		bg := context.WithoutCancel(ctx)
		t.alerts.Go(func() { t.deliver(bg, written, fire) })
	default:
		t.deliver(ctx, written, fire)
	}
	return written, nil
}

// Audited makes a change only once its record is kept, so that nothing changes unrecorded. It
// records e (Success true: the change is being made) and then runs change; when the record cannot be
// kept, change never runs and the error is Refuse's. When change fails, a second entry with the same
// action and resource, Success false and the error as Reason, follows.
func (t *Trail) Audited(ctx context.Context, e Entry, change func() error) error {
	e.Success = true
	if _, err := t.Record(ctx, e); err != nil {
		return t.Refuse(e.Action, e.Resource, err)
	}
	err := change()
	if err != nil {
		failed := e
		failed.Success, failed.Reason = false, "failed: "+err.Error()
		if _, rerr := t.Record(ctx, failed); rerr != nil {
			warn.Printf(t.opts.Warn, "the failure of %s was not recorded: %v", e.Action, rerr)
		}
	}
	return err
}

// Ready fails, as Audited would, when the store cannot keep the record of action on resource now:
// for a command that asks before it spends the user's time or changes what Klaviyo sees, and must
// fail then as it would have failed later.
func (t *Trail) Ready(ctx context.Context, action, resource string) error {
	if err := t.store.Ready(ctx); err != nil {
		return t.Refuse(action, resource, err)
	}
	return nil
}

// Refuse words the refusal to do action on resource for want of its record, err being why the
// record could not be kept: "refusing to store the key (role marketer) without an audit record: ...".
// A damaged store is named as such, with its own hints. The refusal is exit 3, or exit 2 when the
// configuration is what is broken; a cancelled context stays a cancellation.
func (t *Trail) Refuse(action, resource string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	what := strings.TrimSpace(action + " " + resource)
	if verb, ok := t.opts.Changes[action]; ok {
		what = verb
		if resource != "" {
			what += " (" + resource + ")"
		}
	}
	var d *DamagedError
	if errors.As(err, &d) {
		return &fault.Error{Kind: fault.Unavailable, Err: fmt.Errorf("refusing to %s: %w", what, err)}
	}
	refusal := &fault.Error{Kind: FailureKind(err), Err: fmt.Errorf("refusing to %s without an audit record: %w", what, err)}
	if len(fault.Hints(err)) == 0 { // the store's own error usually says what to do already
		refusal.Hint("make the audit log writable, or point audit.path (KLRBAC_AUDIT_LOG, --audit-log) at a file that is")
	}
	return refusal
}

// FailureKind is the kind of a failure to keep a record: a broken configuration stays a
// configuration (or usage) error, exit 2; anything else is exit 3.
func FailureKind(err error) fault.Kind {
	if kind := fault.KindOf(err); kind == fault.Config || kind == fault.Usage {
		return kind
	}
	return fault.Unavailable
}

// NoteRecovered tells Warn that the store recorded the recovery of an interrupted write as e: a
// Store that recovers (the Log's OnRecover) reports to it.
func (t *Trail) NoteRecovered(e Entry) {
	fmt.Fprintf(t.opts.Warn, "klrbac: audit log %s ended with an interrupted write (%s); recorded its recovery as entry %d\n", t.store.Where(), e.Resource, e.Seq)
}

// deliver sends entries to the targets of the rules they matched, all at once, each within its rule's
// timeout. A failed delivery never loses the entry, which is already kept: it is reported to Warn
// and recorded as an ActionAlertFailed entry.
func (t *Trail) deliver(ctx context.Context, written []Entry, fire [][]Rule) {
	type failure struct {
		entry Entry
		rule  string
		err   error
	}
	var (
		mu       sync.Mutex
		failures []failure
		wg       sync.WaitGroup
	)
	for i, rules := range fire {
		for _, r := range rules {
			e := written[i]
			wg.Go(func() {
				if err := t.opts.Send(ctx, r, e.MarshalLine()); err != nil {
					mu.Lock()
					failures = append(failures, failure{e, r.Name, err})
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(failures) == 0 {
		return
	}
	var notes []Entry
	for _, f := range failures {
		fmt.Fprintf(t.opts.Warn, "klrbac: alert %q for audit entry %d failed: %v\n", f.rule, f.entry.Seq, f.err)
		notes = append(notes, Entry{
			UserID: t.opts.Actor, Role: f.entry.Role, Action: ActionAlertFailed, Resource: fmt.Sprintf("seq %d", f.entry.Seq),
			Reason: fmt.Sprintf("rule %s: %v", f.rule, f.err),
		})
	}
	// Straight to the store: a note about a failed alert matches no rule worth alerting again.
	if _, err := t.store.AppendAll(ctx, notes); err != nil {
		warn.Printf(t.opts.Warn, "the alert failure was not recorded: %v", err)
	}
}
