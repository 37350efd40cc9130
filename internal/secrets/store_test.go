package secrets

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dbus "github.com/godbus/dbus/v5"
	"github.com/zalando/go-keyring"

	"github.com/klrbac/klrbac/internal/fault"
)

// mockKeyring installs go-keyring's in-memory mock behind the system backend. The bus address only
// gets the system backend past its "is there a session bus" check; the mock never dials it.
func mockKeyring(t *testing.T, err error) Store {
	t.Helper()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/mock-bus")
	if err != nil {
		keyring.MockInitWithError(err)
	} else {
		keyring.MockInit()
	}
	return New(Options{Timeout: 5 * time.Second})
}

func TestStoreRoundTrip(t *testing.T) {
	s := mockKeyring(t, nil)
	ctx := context.Background()
	item := RoleKeyItem("marketer")
	if _, err := s.Get(ctx, item); !errors.Is(err, ErrNotFound) || ClassOf(err) != NotFound {
		t.Fatalf("Get of a missing item: %v", err)
	}
	if err := s.Set(ctx, item, NewSecret(testKey)); err != nil {
		t.Fatal(err)
	}
	raw, err := keyring.Get(Service, "role:marketer")
	if err != nil || raw != testKey {
		t.Fatalf("stored under service %q item role:marketer: %q, %v", Service, raw, err)
	}
	got, err := s.Get(ctx, item)
	if err != nil || !got.Equal(NewSecret(testKey)) {
		t.Fatalf("Get = %v, %v", got, err)
	}
	if err := Probe(ctx, s); err != nil {
		t.Errorf("Probe of a working keyring: %v", err)
	}
	if err := s.Delete(ctx, item); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, item); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestItemNames(t *testing.T) {
	for _, tc := range []struct {
		item             Item
		want, kind, name string
	}{
		{RoleKeyItem("marketer"), "role:marketer", "role", "marketer"},
		{OAuthClientItem("default"), "oauth-client:default", "oauth-client", "default"},
		{OAuthTokenItem("crm-sync"), "oauth-token:crm-sync", "oauth-token", "crm-sync"},
	} {
		if string(tc.item) != tc.want || tc.item.Kind() != tc.kind || tc.item.Name() != tc.name {
			t.Errorf("%q: kind %q name %q", tc.item, tc.item.Kind(), tc.item.Name())
		}
	}
}

// The errors below are shaped as go-keyring and godbus return them for each situation (see the
// integration test for the real ones).
func TestFailureClasses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		class  Class
		reason string
		advice string
	}{
		{"not found", keyring.ErrNotFound, NotFound, "no such item", ""},
		{"no secret service", dbus.Error{Name: "org.freedesktop.DBus.Error.ServiceUnknown",
			Body: []any{"The name org.freedesktop.secrets was not provided by any .service files"}},
			NoSecretService, "no Secret Service is running", "gnome-keyring-daemon inside dbus-run-session"},
		{"no owner", &dbus.Error{Name: "org.freedesktop.DBus.Error.NameHasNoOwner"}, NoSecretService, "no Secret Service", "start one"},
		{"locked, prompt dismissed", errors.New("failed to unlock correct collection '/org/freedesktop/secrets/collection/login'"),
			Locked, "the keyring is locked", "unlock the keyring"},
		{"locked, item", dbus.Error{Name: "org.freedesktop.Secret.Error.IsLocked"}, Locked, "locked", "unlock"},
		{"bus unreachable", &net.OpError{Op: "dial", Net: "unix", Err: syscall.ENOENT},
			NoSessionBus, "cannot connect to the D-Bus session bus", "dbus-run-session"},
		{"no dbus-launch", &exec.Error{Name: "dbus-launch", Err: exec.ErrNotFound}, NoSessionBus, "session bus", "KLRBAC_KEYRING=off"},
		{"bus address unset", errBusAddressUnset, NoSessionBus, "DBUS_SESSION_BUS_ADDRESS is not set", "dbus-run-session"},
		{"dbus timeout", dbus.Error{Name: "org.freedesktop.DBus.Error.NoReply"}, TimedOut, "did not answer", "KLRBAC_KEYRING_TIMEOUT"},
		{"other", errors.New("keychain exploded"), Failed, "the keyring failed: keychain exploded", "secret-tool"},
		{"other dbus", dbus.Error{Name: "org.freedesktop.DBus.Error.AccessDenied"}, Failed, "the keyring failed", "secret-tool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mockKeyring(t, tc.err)
			for _, op := range []struct {
				name string
				run  func() error
			}{
				{"read", func() error { _, err := s.Get(context.Background(), RoleKeyItem("viewer")); return err }},
				{"store", func() error { return s.Set(context.Background(), RoleKeyItem("viewer"), NewSecret(testKey)) }},
				{"remove", func() error { return s.Delete(context.Background(), RoleKeyItem("viewer")) }},
			} {
				err := op.run()
				if ClassOf(err) != tc.class {
					t.Fatalf("%s: class %v, want %v (%v)", op.name, ClassOf(err), tc.class, err)
				}
				want := "cannot " + op.name + " role:viewer in the keyring: "
				if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.reason) {
					t.Errorf("%s: message %q, want %q...%q", op.name, err, want, tc.reason)
				}
			}
			_, err := s.Get(context.Background(), RoleKeyItem("viewer"))
			var ke *Error
			if !errors.As(err, &ke) {
				t.Fatalf("%T is not *Error", err)
			}
			if tc.class == NotFound {
				return
			}
			advice := ke.Advice("KLAVIYO_KEY_VIEWER")
			if !strings.Contains(advice, tc.advice) || !strings.Contains(advice, "KLAVIYO_KEY_VIEWER") {
				t.Errorf("advice %q, want %q and the variable", advice, tc.advice)
			}
			explained := Explain(err, "KLAVIYO_KEY_VIEWER")
			if fault.KindOf(explained) != fault.Unavailable || len(fault.Hints(explained)) != 1 {
				t.Errorf("Explain: kind %v hints %q", fault.KindOf(explained), fault.Hints(explained))
			}
			if err := Probe(context.Background(), s); ClassOf(err) != tc.class {
				t.Errorf("Probe: %v", err)
			}
		})
	}
}

func TestOffStore(t *testing.T) {
	s := New(Options{Off: true})
	if !IsOff(s) {
		t.Fatal("keyring.backend off did not turn the keyring off")
	}
	if _, err := s.Get(context.Background(), RoleKeyItem("admin")); !errors.Is(err, ErrDisabled) || ClassOf(err) != Disabled {
		t.Errorf("Get: %v", err)
	}
	if err := s.Set(context.Background(), RoleKeyItem("admin"), NewSecret(testKey)); ClassOf(err) != Disabled {
		t.Errorf("Set: %v", err)
	}
	if err := s.Delete(context.Background(), RoleKeyItem("admin")); ClassOf(err) != Disabled {
		t.Errorf("Delete: %v", err)
	}
}

func TestNewUsesTheGivenTimeout(t *testing.T) {
	ks, ok := New(Options{Timeout: 250 * time.Millisecond, Backend: &hungBackend{release: make(chan struct{})}}).(*keyringStore)
	if !ok || ks.timeout != 250*time.Millisecond {
		t.Fatalf("store %#v", ks)
	}
}

// hungBackend never answers until released, like a keyring waiting on an unlock prompt nobody sees.
type hungBackend struct {
	release chan struct{}
	mu      sync.Mutex
	calls   int
}

func (h *hungBackend) wait() error {
	h.mu.Lock()
	h.calls++
	h.mu.Unlock()
	<-h.release
	return nil
}
func (h *hungBackend) Get(string, string) (string, error) { return "", h.wait() }
func (h *hungBackend) Set(string, string, string) error   { return h.wait() }
func (h *hungBackend) Delete(string, string) error        { return h.wait() }

func TestHungKeyringTimesOut(t *testing.T) {
	h := &hungBackend{release: make(chan struct{})}
	defer close(h.release)
	s := New(Options{Backend: h, Timeout: 50 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- s.Set(context.Background(), RoleKeyItem("admin"), NewSecret(testKey)) }()
	select {
	case err := <-done:
		var ke *Error
		if !errors.As(err, &ke) || ke.Class != TimedOut || ke.Timeout != 50*time.Millisecond {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(err.Error(), "did not answer within 50ms") {
			t.Errorf("message %q", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a hung keyring call was not given up")
	}
}

func TestCancelledCall(t *testing.T) {
	h := &hungBackend{release: make(chan struct{})}
	defer close(h.release)
	s := New(Options{Backend: h, Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(ctx, RoleKeyItem("admin")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestNoSessionBusIsDetectedBeforeDialling(t *testing.T) {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		t.Skip("the OS keyring here is not reached over D-Bus")
	}
	keyring.MockInit()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	s := New(Options{})
	_, err := s.Get(context.Background(), RoleKeyItem("admin"))
	if ClassOf(err) != NoSessionBus || !strings.Contains(err.Error(), "DBUS_SESSION_BUS_ADDRESS is not set") {
		t.Fatalf("err = %v", err)
	}
	if err := s.Set(context.Background(), RoleKeyItem("admin"), NewSecret(testKey)); ClassOf(err) != NoSessionBus {
		t.Fatalf("Set: %v", err)
	}
	if v, err := keyring.Get(Service, "role:admin"); err == nil {
		t.Fatalf("a write without a bus reached the keyring: %v", v)
	}
}
