package secrets

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
)

type mapBackend map[string]string

func (m mapBackend) Get(service, user string) (string, error) {
	if v, ok := m[service+"/"+user]; ok {
		return v, nil
	}
	return "", keyring.ErrNotFound
}
func (m mapBackend) Set(service, user, password string) error {
	m[service+"/"+user] = password
	return nil
}
func (m mapBackend) Delete(service, user string) error { delete(m, service+"/"+user); return nil }

// keyboard is a terminal: typed is what is typed at the hidden prompt, yes the answer to questions.
type keyboard struct {
	interactive bool
	typed       string
	yes         bool
	asked       []string
	stderr      bytes.Buffer
}

func (k *keyboard) Interactive() bool                 { return k.interactive }
func (k *keyboard) Confirm(q string) (bool, error)    { k.asked = append(k.asked, q); return k.yes, nil }
func (k *keyboard) ReadSecret(string) (string, error) { return k.typed, nil }
func (k *keyboard) Stderr() io.Writer                 { return &k.stderr }

// trailOf records entries, or refuses every change with refuse.
type trailOf struct {
	refuse  error
	entries []audit.Entry
}

func (t *trailOf) Audited(_ context.Context, e audit.Entry, change func() error) error {
	if t.refuse != nil {
		return t.refuse
	}
	t.entries = append(t.entries, e)
	return change()
}

const storedKey = "pk_0123456789abcdef0123456789abcdef42"

// A credential is stored only once its record is kept, and the record names its fingerprint,
// never the credential; a refused record leaves the keyring as it was.
func TestStoreCredentialIsAudited(t *testing.T) {
	backend := mapBackend{}
	store := New(Options{Backend: backend})
	c := RoleKeyCredential("viewer", "KLAVIYO_KEY_VIEWER")
	refusing := &trailOf{refuse: fault.Unavailablef("audit log is damaged")}
	err := StoreCredential(context.Background(), store, c, false, &keyboard{typed: storedKey}, refusing)
	if err == nil || len(backend) != 0 {
		t.Fatalf("err %v, keyring %v: stored without its record", err, backend)
	}
	trail := &trailOf{}
	kb := &keyboard{typed: storedKey}
	if err := StoreCredential(context.Background(), store, c, false, kb, trail); err != nil {
		t.Fatal(err)
	}
	if len(backend) != 1 || len(trail.entries) != 1 {
		t.Fatalf("keyring %d items, %d records", len(backend), len(trail.entries))
	}
	e := trail.entries[0]
	if e.Action != "keys.set" || e.Role != "viewer" || e.Resource != "role:viewer" || e.Fingerprint == "" {
		t.Errorf("record %+v", e)
	}
	for _, out := range []string{e.Reason, e.Fingerprint, kb.stderr.String()} {
		if strings.Contains(out, storedKey) {
			t.Fatalf("the key reached %q", out)
		}
	}
}

// Off a terminal, a stored credential is replaced only with force; removal asks unless yes.
func TestCredentialsNeedConsentOffATerminal(t *testing.T) {
	backend := mapBackend{}
	store := New(Options{Backend: backend})
	c := RoleKeyCredential("viewer", "KLAVIYO_KEY_VIEWER")
	trail := &trailOf{}
	if err := StoreCredential(context.Background(), store, c, false, &keyboard{typed: storedKey}, trail); err != nil {
		t.Fatal(err)
	}
	err := StoreCredential(context.Background(), store, c, false, &keyboard{typed: storedKey + "0"}, trail)
	if fault.KindOf(err) != fault.Usage || !strings.Contains(err.Error(), "refusing to replace the key of role viewer") {
		t.Fatalf("replaced without --force: %v", err)
	}
	err = RemoveCredentials(context.Background(), store, []Credential{c}, false, &keyboard{}, trail)
	if fault.KindOf(err) != fault.Usage || len(backend) != 1 {
		t.Fatalf("removed without --yes: %v", err)
	}
	if err := RemoveCredentials(context.Background(), store, []Credential{c}, true, &keyboard{}, trail); err != nil || len(backend) != 0 {
		t.Fatalf("err %v, keyring %v", err, backend)
	}
	if got := trail.entries[len(trail.entries)-1].Action; got != "keys.rm" {
		t.Errorf("last record %s, want keys.rm", got)
	}
}
