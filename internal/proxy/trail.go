package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/klrbac/klrbac/internal/audit"
)

// AuditTrail records the proxy's entries through a group commit, marks them with the alert rules
// they match and delivers those alerts once the entry is durable, without holding up the call.
type AuditTrail struct {
	commit *audit.GroupCommit
	rules  atomic.Pointer[[]audit.Rule]
	log    *slog.Logger
	actor  string
	alerts sync.WaitGroup
}

// NewAuditTrail records to store; actor is the userId of the proxy's own entries (failed alerts).
func NewAuditTrail(store audit.BatchAppender, rules []audit.Rule, actor string, log *slog.Logger) *AuditTrail {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &AuditTrail{commit: audit.NewGroupCommit(store, 0), log: log, actor: actor}
	t.SetRules(rules)
	return t
}

// SetRules puts alert rules in force for the entries recorded from now on.
func (t *AuditTrail) SetRules(rules []audit.Rule) { t.rules.Store(&rules) }

// Record writes e durably, then sends it to the targets of the alert rules it matches.
func (t *AuditTrail) Record(ctx context.Context, e audit.Entry) error {
	fire := audit.Mark(*t.rules.Load(), &e)
	written, err := t.commit.Append(ctx, e)
	if err != nil {
		return err
	}
	for _, r := range fire {
		t.alerts.Go(func() { t.deliver(r, written) })
	}
	return nil
}

func (t *AuditTrail) deliver(r audit.Rule, e audit.Entry) {
	err := (audit.Sender{}).Send(context.Background(), r, e.MarshalLine())
	if err == nil {
		return
	}
	t.log.Error("alert not delivered", "rule", r.Name, "seq", e.Seq, "err", err.Error())
	note := audit.Entry{UserID: t.actor, Role: e.Role, Action: audit.ActionAlertFailed,
		Resource: fmt.Sprintf("seq %d", e.Seq), Reason: fmt.Sprintf("rule %s: %v", r.Name, err)}
	if _, err := t.commit.Append(context.Background(), note); err != nil {
		t.log.Error("the alert failure was not recorded", "err", err.Error())
	}
}

// Healthy reports whether an entry can be written now.
func (t *AuditTrail) Healthy(ctx context.Context) error { return t.commit.Healthy(ctx) }

// Depth is the number of entries waiting to be written.
func (t *AuditTrail) Depth() int { return t.commit.Depth() }

// Close waits for alerts under way, writes what is queued and stops.
func (t *AuditTrail) Close() error {
	t.alerts.Wait()
	return t.commit.Close()
}
