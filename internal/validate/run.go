package validate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/warn"
)

// DefaultTimeout bounds a whole run unless told otherwise (--timeout).
const DefaultTimeout = 2 * time.Minute

// DefaultRequestTimeout bounds each call to Klaviyo unless told otherwise (--request-timeout).
const DefaultRequestTimeout = klaviyo.CallTimeout

// Guarded returns the options of a run whose client sends to Klaviyo (kopts) through a side-effect
// guard of the run's own. The guard is also the client's transport, which is what lets it stop the
// run as soon as a write built to fail succeeds: this is the one place the two are joined.
// requestTimeout bounds each call, each retry bounded anew (0: DefaultRequestTimeout).
func Guarded(kopts klaviyo.Options, requestTimeout time.Duration) Options {
	guard := NewGuard(nil)
	if requestTimeout <= 0 {
		requestTimeout = DefaultRequestTimeout
	}
	kopts.HTTPClient = &http.Client{Transport: guard, Timeout: requestTimeout}
	client := klaviyo.New(kopts)
	return Options{Client: client, APIURL: client.APIURL(), Revision: client.Revision(), Guard: guard}
}

// Audit actions of key validation.
const (
	ActionValidate  = "keys.validate"
	ActionCalibrate = "keys.calibrate"
)

// Recorder is what a run needs of the audit trail (audit.Trail): Record keeps its entries, and
// Refuse words a record that could not be kept as every refusal for want of one is worded, with the
// hint that fits the store (a file's audit.path, or the database's audit.dsn).
type Recorder interface {
	Record(ctx context.Context, entries ...audit.Entry) ([]audit.Entry, error)
	Refuse(action, resource string, err error) error
}

// Run validates the targets, with the account's key inventory when src names a credential and by
// probing otherwise, and records each role's result in the trail: a validation changes nothing, but
// its record is the evidence a CI gate ran. A run that sent anything leaves its trace however it
// ended (interrupted, timed out, stopped by the guard, an API that is not Klaviyo, an inventory
// that failed); a failure to record that is a warning on stderr, since the run failed already.
//
// When the results could not be recorded, Run returns the report and an error: the caller prints
// the results, then fails closed (exit 3).
//
// opts.Method chooses how scopes are learnt (see Validate), src first among the credentials tried
// for the inventory. Without a method, src alone decides, as before --method: its inventory when
// it names a credential, probing otherwise.
func Run(ctx context.Context, targets []Target, src InventorySource, opts Options, trail Recorder, stderr io.Writer) (*Report, error) {
	var rep *Report
	var err error
	switch {
	case opts.Method == "" && src.Name != "":
		rep, err = Inventory(ctx, targets, src, opts)
	case opts.Method == "":
		rep, err = Probe(ctx, targets, opts)
	default:
		if src.Name != "" {
			opts.Inventory = append([]InventorySource{src}, opts.Inventory...)
		}
		rep, err = Validate(ctx, targets, opts)
	}
	if err != nil {
		var stopped *RunError
		if errors.As(err, &stopped) && (stopped.Requests > 0 || opts.Guard.Tripped()) {
			if rerr := recordStopped(ctx, trail, targets, stopped.Reason()); rerr != nil {
				warn.Printf(stderr, "the stopped validation was not audited: %v", rerr)
			}
		}
		return nil, err
	}
	if entries := AuditEntries(rep); len(entries) > 0 {
		if _, err := trail.Record(ctx, entries...); err != nil {
			// The trail words the refusal, so that its hint names the store that failed: a file log's
			// audit.path, or the team trail's audit.dsn. The kind stays the record's failure's (exit
			// 3, or 2 for a broken configuration), whatever Refuse makes of a cancellation.
			return rep, (&fault.Error{Kind: audit.FailureKind(err), Err: trail.Refuse(ActionValidate, "", err)}).
				Hint("a CI gate without its record fails closed")
		}
	}
	return rep, nil
}

// AuditEntries are a report's records, one per role (action keys.validate): role, verdict, method,
// the key's fingerprint, missing and excess scopes, never the key.
func AuditEntries(rep *Report) []audit.Entry {
	entries := make([]audit.Entry, len(rep.Roles))
	for i, rr := range rep.Roles {
		// A role the inventory judged rests on the key listing; one probed (in a run that also
		// listed the keys, when the listing could not settle it) on its probes, one per scope.
		endpoint := ""
		if rr.Method == ByInventory {
			endpoint = "GET /api/api-keys"
		}
		// Which credential listed the keys matters to whoever reads the trail: a role's key and an
		// OAuth app's token are different grants, held and revoked by different people.
		method := string(rr.Method)
		if rr.Method == ByInventory && rep.Inventory != "" {
			method += " (" + rep.Inventory + ")"
		}
		if rr.Method == ByProbe && len(rr.Checked) > 0 {
			// Probing makes a call per scope, too many for klaviyoEndpoint's one: say how many.
			s := "s"
			if len(rr.Checked) == 1 {
				s = ""
			}
			method += fmt.Sprintf(" (%d scope%s checked)", len(rr.Checked), s)
		}
		reason := fmt.Sprintf("%s by %s; missing: %s; excess: %s; undetermined: %s", rr.Verdict, method,
			noneIfEmpty(rr.Missing), noneIfEmpty(rr.Excess), noneIfEmpty(rr.Undetermined))
		if len(rr.Problems) > 0 {
			reason += "; " + strings.Join(rr.Problems, "; ")
		}
		entries[i] = audit.Entry{Role: rr.Role, Action: ActionValidate, Resource: secrets.RoleKeyItem(rr.Role).String(),
			Success: rr.Verdict == VerdictValid, KlaviyoEndpoint: endpoint, Fingerprint: rr.KeyFingerprint, Reason: reason}
	}
	return entries
}

// recordStopped records, for each role, a run that ended before its report, and how (reason). An
// interrupted run's context has ended: the record is written all the same, under a bound of its own.
func recordStopped(ctx context.Context, trail Recorder, targets []Target, reason string) error {
	entries := make([]audit.Entry, 0, len(targets))
	for _, t := range targets {
		entries = append(entries, audit.Entry{Role: t.Role, Action: ActionValidate, Resource: secrets.RoleKeyItem(t.Role).String(),
			Fingerprint: t.Key.Fingerprint(), Reason: reason})
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := trail.Record(ctx, entries...)
	return err
}

func noneIfEmpty(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
