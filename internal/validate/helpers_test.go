package validate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/sandbox"
	"github.com/klrbac/klrbac/internal/secrets"
)

// world is a sandbox and a client pointed at it, through the side-effect guard. The client does
// not pace and the sandbox does not throttle, so a test probes every scope of many keys at once in
// a blink; pacing is tested through the command line, in real time.
type world struct {
	srv    *sandbox.Server
	url    string
	guard  *Guard
	client *klaviyo.Client
	fx     *sandbox.Fixture
}

func newWorld(t *testing.T, fx *sandbox.Fixture) *world {
	t.Helper()
	if fx == nil {
		fx = sandbox.DemoFixture()
	}
	fx.RateLimits = false
	srv := sandbox.New(fx, sandbox.Options{})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	g := NewGuard(http.DefaultTransport)
	c := klaviyo.New(klaviyo.Options{
		APIURL:     ts.URL,
		HTTPClient: &http.Client{Transport: g},
		Sleep:      func(context.Context, time.Duration) error { return nil },
	})
	return &world{srv: srv, url: ts.URL, guard: g, client: c, fx: fx}
}

func (w *world) options() Options {
	return Options{Client: w.client, APIURL: w.url, Revision: klaviyo.DefaultRevision, Guard: w.guard}
}

// key returns the secret of the fixture key named name.
func (w *world) key(t *testing.T, name string) sandbox.Key {
	t.Helper()
	for _, a := range w.fx.Accounts {
		for _, k := range a.Keys {
			if k.Name == name {
				return k
			}
		}
	}
	t.Fatalf("no key %q in the fixture", name)
	return sandbox.Key{}
}

// target is the default policy's role with the fixture key of the given name.
func (w *world) target(t *testing.T, role, keyName string) Target {
	t.Helper()
	pol := policy.Default()
	r, ok := pol.Role(role)
	if !ok {
		r = policy.Role{Name: role}
	}
	k := w.key(t, keyName)
	parsed, err := secrets.ParseKey(k.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return Target{Role: role, Required: pol.RequiredScopes(r), FullAccess: r.FullAccess, KeySource: "test",
		Key: klaviyo.PrivateKey(k.Secret), AccountID: parsed.AccountID}
}

func roleReport(t *testing.T, rep *Report, role string) RoleReport {
	t.Helper()
	i := slices.IndexFunc(rep.Roles, func(r RoleReport) bool { return r.Role == role })
	if i < 0 {
		t.Fatalf("no report for role %s", role)
	}
	return rep.Roles[i]
}

func mustFixture(t *testing.T, yaml string) *sandbox.Fixture {
	t.Helper()
	fx, err := sandbox.ParseFixture("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// unreachable returns options whose client talks to an address nothing listens on (a Klaviyo
// that cannot be reached), and the count of the connections it tries.
func unreachable(t *testing.T) (Options, *atomic.Int64) {
	t.Helper()
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	tries := &atomic.Int64{}
	g := NewGuard(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		tries.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	}))
	c := klaviyo.New(klaviyo.Options{
		APIURL:     url,
		HTTPClient: &http.Client{Transport: g},
		Sleep:      func(context.Context, time.Duration) error { return nil },
	})
	return Options{Client: c, APIURL: url, Revision: klaviyo.DefaultRevision, Guard: g}, tries
}
