package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
)

// RunOptions say how to run a sandbox as its own process, as `klrbac sandbox` does; cmd fills them
// from flags. Messages name the command's flags (--addr, --env-file).
type RunOptions struct {
	// Addr is the loopback host:port to listen on; port 0 picks a free port.
	Addr string
	// EnvFile, when set, is created holding the exports once the sandbox is ready (never over a file
	// that exists), and removed when it stops unless something else has written to it since.
	EnvFile string
	// Policy names the variable each role's key goes in.
	Policy *policy.Policy
	// Logf, when set, receives one line per request, as in Options.
	Logf func(format string, args ...any)
	// Stderr receives the lines that say the sandbox serves and has stopped.
	Stderr io.Writer
	// Ready is given the URL and the environment pointing klrbac at the sandbox once it listens and
	// its env file exists, to print either; an error stops the sandbox.
	Ready func(url string, env []EnvVar) error
}

// Run serves fx until ctx ends (Ctrl-C or SIGTERM in klrbac), then finishes the requests in flight
// and removes its env file. It returns ctx's error: stopping is the only way a sandbox ends, and it
// still ends as an interrupted command does (exit 130), which scripts tell apart from a sandbox that
// failed.
func Run(ctx context.Context, fx *Fixture, o RunOptions) error {
	if err := CheckLoopback(o.Addr); err != nil {
		return err
	}
	srv := New(fx, Options{Logf: o.Logf})
	if err := srv.Start(o.Addr); err != nil {
		return listenError(o.Addr, err)
	}
	defer srv.Close()
	env := Env(srv.URL(), fx, o.Policy, os.Getpid())
	if o.EnvFile != "" {
		written, err := writeEnvFile(o.EnvFile, env)
		if err != nil {
			return err
		}
		defer removeEnvFile(o.EnvFile, written)
	}
	if err := o.Ready(srv.URL(), env); err != nil {
		return err
	}
	fmt.Fprintf(o.Stderr, "sandbox: serving %s on %s (pid %d); Ctrl-C or SIGTERM stops it\n", fx.Source, srv.URL(), os.Getpid())

	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		fmt.Fprintf(o.Stderr, "sandbox: requests still in flight were cut off: %v\n", err)
	}
	fmt.Fprintln(o.Stderr, "sandbox: stopped")
	return ctx.Err()
}

// CheckLoopback refuses addresses other machines could reach: the sandbox's keys are public.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		// The AddrError's own text repeats the address; its Err field says what is wrong.
		why := err.Error()
		var ae *net.AddrError
		if errors.As(err, &ae) {
			why = ae.Err
		}
		return fault.Usagef("--addr %q is not host:port: %s", addr, why).Hint("use --addr 127.0.0.1:8080, or 127.0.0.1:0 for any free port")
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fault.Usagef("refusing to listen on %s: the sandbox serves well-known keys, so it listens on loopback only", addr).
		Hint("use --addr 127.0.0.1:PORT or [::1]:PORT")
}

// listenError says why the sandbox cannot listen on addr, without the layers of net's wording.
func listenError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fault.Usagef("cannot listen on %s: address already in use", addr).
			Hint("stop what is using it, choose another --addr, or use --addr 127.0.0.1:0 for any free port")
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	return fault.Usagef("cannot listen on %s: %v", addr, err).Hint("use --addr 127.0.0.1:0 for any free port")
}

// ListedKey is a key as the start-up listing shows it.
type ListedKey struct {
	Account, Name, Value, Status string
	Scopes                       []string
}

// ListedClient is an OAuth client as the start-up listing shows it.
type ListedClient struct {
	Account, Name, ClientID, Secret string
	RedirectURIs                    []string
}

// Listing is what the start-up listing shows of fx: every account's keys and OAuth clients, their
// secrets masked unless show asks for them in full.
func (fx *Fixture) Listing(show bool) ([]ListedKey, []ListedClient) {
	secret := func(s string) string {
		if show {
			return s
		}
		return Mask(s)
	}
	var keys []ListedKey
	var clients []ListedClient
	for _, a := range fx.Accounts {
		for _, k := range a.Keys {
			keys = append(keys, ListedKey{a.ID, k.Name, secret(k.Secret), k.Status, k.Scopes})
		}
		for _, c := range a.OAuthClients {
			clients = append(clients, ListedClient{a.ID, c.Name, c.ClientID, secret(c.ClientSecret), c.RedirectURIs})
		}
	}
	return keys, clients
}
