package oauthflow

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/secrets"
)

// readiness is a login's audit trail: ready says whether a record could be written now.
type readiness struct {
	ready   error
	records []audit.Entry
}

func (r *readiness) Ready(context.Context, string, string) error { return r.ready }

func (r *readiness) Record(_ context.Context, e ...audit.Entry) ([]audit.Entry, error) {
	r.records = append(r.records, e...)
	return e, nil
}

// A login whose record could not be written is refused before the consent page is shown or
// anything listens: nobody authorizes an app whose grant would then be thrown away.
func TestAuthorizeRefusedWhenTheTrailIsNotReady(t *testing.T) {
	t.Setenv("KLAVIYO_OAUTH_CLIENT_SECRET", "a-client-secret-for-the-test")
	store := secrets.New(secrets.Options{Backend: &memKeyring{}})
	k := &Keeper{App: "default", Store: store, Endpoints: EndpointsFor("http://127.0.0.1:1", "http://127.0.0.1:1")}
	ap := DefaultApp()
	ap.ClientID = "client-for-the-test"
	opened := false
	trail := &readiness{ready: fault.Unavailablef("audit log is damaged")}
	_, err := k.Authorize(context.Background(), ap, trail, AuthorizeOptions{
		Open: func(string) error { opened = true; return nil }, Say: func(string) {}, Stderr: io.Discard,
	})
	if err == nil || !strings.Contains(err.Error(), "audit log is damaged") || fault.KindOf(err) != fault.Unavailable {
		t.Fatalf("err %v (kind %v), want the trail's refusal", err, fault.KindOf(err))
	}
	if opened || len(trail.records) != 0 {
		t.Errorf("opened %v, records %v: nothing may happen once the trail refuses", opened, trail.records)
	}
}

// An app without a client id is a configuration error with a hint, found before the keyring or
// the trail are asked anything.
func TestAuthorizeNeedsAClientID(t *testing.T) {
	t.Setenv(ClientIDEnv, "")
	k := &Keeper{App: "default", Store: secrets.New(secrets.Options{Off: true})}
	trail := &readiness{ready: errors.New("must not be asked")}
	_, err := k.Authorize(context.Background(), DefaultApp(), trail, AuthorizeOptions{Stderr: io.Discard})
	if fault.KindOf(err) != fault.Config || !strings.Contains(err.Error(), "no client id for OAuth app default") {
		t.Fatalf("err %v (kind %v)", err, fault.KindOf(err))
	}
	if h := fault.Hints(err); len(h) == 0 || !strings.Contains(h[0], ClientIDEnv) {
		t.Errorf("hints %q", h)
	}
}
