package secrets

import (
	"context"
	"strings"
	"time"
)

// Service is the keyring service every klrbac item is stored under.
const Service = "klrbac"

// DefaultTimeout bounds a keyring call when the configuration does not say otherwise.
const DefaultTimeout = 3 * time.Second

// Item names one credential in the keyring. The name says what it holds, so that a person looking
// at their keyring manager knows what each entry is.
type Item string

// RoleKeyItem is where a role's Klaviyo private key is kept: "role:<name>".
func RoleKeyItem(role string) Item { return Item("role:" + role) }

// OAuthClientItem is where an OAuth app's client secret is kept: "oauth-client:<app>".
func OAuthClientItem(app string) Item { return Item("oauth-client:" + app) }

// OAuthTokenItem is where an OAuth app's token set is kept, as JSON: "oauth-token:<app>".
func OAuthTokenItem(app string) Item { return Item("oauth-token:" + app) }

// Kind is what the item holds: "role", "oauth-client" or "oauth-token".
func (i Item) Kind() string { k, _, _ := strings.Cut(string(i), ":"); return k }

// Name is the role or app the item belongs to.
func (i Item) Name() string { _, n, _ := strings.Cut(string(i), ":"); return n }

func (i Item) String() string { return string(i) }

// Store keeps credentials. Its errors are *Error, classified; a missing item matches ErrNotFound.
// Commands get one from Open; tests swap in their own.
type Store interface {
	Get(ctx context.Context, item Item) (Secret, error)
	Set(ctx context.Context, item Item, value Secret) error
	Delete(ctx context.Context, item Item) error
}

// Backend is a keyring as github.com/zalando/go-keyring sees it. The system one is the only
// backend klrbac ships: there is no file or plaintext fallback.
type Backend interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

// Options say which keyring to open.
type Options struct {
	// Off disables the keyring: every call fails with class Disabled.
	Off bool
	// Timeout bounds each call; zero means DefaultTimeout.
	Timeout time.Duration
	// Backend is the keyring to use; nil means the OS keyring.
	Backend Backend
}

// New returns a Store for opts.
func New(opts Options) Store {
	if opts.Off {
		return offStore{}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Backend == nil {
		opts.Backend = SystemBackend()
	}
	return &keyringStore{backend: opts.Backend, timeout: opts.Timeout}
}

// IsOff reports whether s is a store that the configuration turned off.
func IsOff(s Store) bool { _, ok := s.(offStore); return ok }

type keyringStore struct {
	backend Backend
	timeout time.Duration
}

func (s *keyringStore) Get(ctx context.Context, item Item) (Secret, error) {
	var v string
	err := s.call(ctx, "read", item, func() error {
		var err error
		v, err = s.backend.Get(Service, string(item))
		return err
	})
	if err != nil {
		return Secret{}, err
	}
	return NewSecret(v), nil
}

func (s *keyringStore) Set(ctx context.Context, item Item, value Secret) error {
	return s.call(ctx, "store", item, func() error { return s.backend.Set(Service, string(item), value.Reveal()) })
}

func (s *keyringStore) Delete(ctx context.Context, item Item) error {
	return s.call(ctx, "remove", item, func() error { return s.backend.Delete(Service, string(item)) })
}

// call runs fn, giving up after the timeout or when ctx ends. A keyring waiting on an unlock prompt
// never returns, so fn runs in its own goroutine, which is abandoned on timeout: klrbac exits soon
// after, and a call that completes late changes nothing the caller relies on.
func (s *keyringStore) call(ctx context.Context, op string, item Item, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
		return &Error{Class: classify(err), Op: op, Item: item, Err: err}
	case <-timer.C:
		return &Error{Class: TimedOut, Op: op, Item: item, Timeout: s.timeout}
	case <-ctx.Done():
		return ctx.Err()
	}
}

type offStore struct{}

func (offStore) Get(_ context.Context, item Item) (Secret, error) {
	return Secret{}, &Error{Class: Disabled, Op: "read", Item: item}
}

func (offStore) Set(_ context.Context, item Item, _ Secret) error {
	return &Error{Class: Disabled, Op: "store", Item: item}
}

func (offStore) Delete(_ context.Context, item Item) error {
	return &Error{Class: Disabled, Op: "remove", Item: item}
}

// probeItem is never stored: reading it tells whether the keyring answers and is unlocked.
const probeItem Item = "probe:reachable"

// Probe checks that the keyring answers and is unlocked, without reading any credential: it looks up
// an item klrbac never stores, so "not found" is the healthy answer.
func Probe(ctx context.Context, s Store) error {
	_, err := s.Get(ctx, probeItem)
	if ClassOf(err) == NotFound {
		return nil
	}
	return err
}
