package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/sandbox"
	"github.com/klrbac/klrbac/internal/ui"
)

// sandboxOptions are the flags of `klrbac sandbox`.
type sandboxOptions struct {
	addr         string
	fixture      string
	showKeys     bool
	printEnv     bool
	envFile      string
	printFixture bool
	log          bool
	faults       faultFlags
}

// faultFlags are the fault switches, shared with the testscript command that starts a sandbox.
type faultFlags struct {
	fs           *pflag.FlagSet
	latency      time.Duration
	unavailable  float64
	edgeBlock    float64
	reset        float64
	throttle     float64
	noRetryAfter bool
	acceptWrites bool
	noRateLimits bool
}

func (f *faultFlags) register(fs *pflag.FlagSet) {
	f.fs = fs
	fs.DurationVar(&f.latency, "latency", 0, "add this delay to every /api response and to /oauth/token and /oauth/revoke")
	fs.Float64Var(&f.unavailable, "fault-unavailable", 0, "answer this share of all /api calls with 503")
	fs.Float64Var(&f.edgeBlock, "fault-edge-block", 0, "answer this share of all /api calls with Cloudflare's HTML 403 (cf-mitigated: challenge)")
	fs.Float64Var(&f.reset, "fault-reset", 0, "reset the connection of this share of all /api calls")
	fs.Float64Var(&f.throttle, "fault-throttle", 0, "answer this share of all /api calls with 429, whatever the rate limits")
	fs.BoolVar(&f.noRetryAfter, "no-retry-after", false, "send 429s without a Retry-After header")
	fs.BoolVar(&f.acceptWrites, "accept-writes", false, "answer every write call 202 Accepted, whatever its body (tests klrbac's side-effect guard)")
	fs.BoolVar(&f.noRateLimits, "no-rate-limits", false, "count calls and send RateLimit headers, but never answer 429 for a full window")
}

// apply lays the flags the user gave over the fixture's own settings.
func (f *faultFlags) apply(fx *sandbox.Fixture) error {
	changed := func(name string) bool { return f.fs.Changed(name) }
	for name, v := range map[string]float64{"fault-unavailable": f.unavailable, "fault-edge-block": f.edgeBlock, "fault-reset": f.reset, "fault-throttle": f.throttle} {
		if changed(name) && (v < 0 || v > 1) {
			return fault.Usagef("--%s %v is not a fraction between 0 and 1", name, v).Hint("use --" + name + " 0.25 to hit every fourth call")
		}
	}
	if changed("latency") {
		if f.latency < 0 || f.latency > sandbox.MaxLatency {
			return fault.Usagef("--latency %s is out of range: it must be from 0s to 1m", f.latency).Hint("use a duration such as 200ms")
		}
		fx.Latency = f.latency
	}
	if changed("fault-unavailable") {
		fx.Faults.Unavailable = f.unavailable
	}
	if changed("fault-edge-block") {
		fx.Faults.EdgeBlock = f.edgeBlock
	}
	if changed("fault-reset") {
		fx.Faults.Reset = f.reset
	}
	if changed("fault-throttle") {
		fx.Faults.Throttle = f.throttle
	}
	if share := fx.Faults.Share(); share > 1 {
		return fault.Usagef("the fault fractions add up to %g, more than all /api calls", share).
			Hint(sandbox.FaultShareHint).
			Hint("lower --fault-reset, --fault-edge-block, --fault-unavailable or --fault-throttle (or the fixture's faults)")
	}
	if changed("no-retry-after") {
		fx.Faults.NoRetryAfter = f.noRetryAfter
	}
	if changed("accept-writes") {
		fx.Faults.AcceptWrites = f.acceptWrites
	}
	if changed("no-rate-limits") {
		fx.RateLimits = !f.noRateLimits
	}
	return nil
}

func newSandboxCommand(a *app) *cobra.Command {
	var o sandboxOptions
	c := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a local stand-in for Klaviyo's API, for trying klrbac and testing",
		Long: `Run a local stand-in for Klaviyo's API on a loopback address, with accounts, private keys
and OAuth clients from a fixture file (--fixture), or a built-in demo account with one
key per default role, some of them deliberately wrong.

It answers every operation of klrbac's catalog (Klaviyo's published spec) as Klaviyo does
on the points klrbac relies on: authentication, scopes, rate limits per account and tier,
JSON:API errors, the beta api-keys listing and the OAuth authorization-code flow with PKCE.
It holds no data: lists are empty and unknown ids are 404s.

The first line on stdout is the URL, printed once the sandbox is ready; the keys follow,
masked unless --show-keys. --print-env prints shell exports instead (KLRBAC_API_URL,
KLRBAC_AUTH_URL, KLAVIYO_KEY_<ROLE>, KLAVIYO_OAUTH_CLIENT_ID/SECRET, KLRBAC_SANDBOX_PID)
and then closes stdout, so that

  eval "$(klrbac sandbox --print-env &)"

starts a sandbox in the background and points this shell's klrbac at it; stop it with
kill $KLRBAC_SANDBOX_PID. --env-file creates a new file (mode 0600) holding the same exports
once the sandbox is ready; it refuses to overwrite a file that exists, and removes the file when
the sandbox stops unless something else has written to it since.

The fault flags make the sandbox misbehave as Klaviyo and its edge network sometimes do.
Their fractions are shares of all /api calls, so together at most 1; a call meets one fault
at most, and each fault's calls are spread evenly (0.25 strikes every fourth call).
It runs until Ctrl-C or SIGTERM, then finishes the requests in flight, removes its env file
and exits 130, as every interrupted klrbac command does.` + exitStatus(exitOK, exitUsage, exitUnavailable, exitInterrupted),
		Example: `  klrbac sandbox
  klrbac sandbox --addr 127.0.0.1:8080 --fixture testdata/sandbox/two-accounts.yaml
  eval "$(klrbac sandbox --print-env &)"
  klrbac sandbox --env-file /tmp/sandbox.env --fault-unavailable 0.2 --latency 150ms`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.printFixture {
				_, err := a.io.Out.Write(sandbox.DemoYAML())
				return err
			}
			pol, err := a.policy()
			if err != nil {
				return err
			}
			fx, err := loadFixture(o.fixture)
			if err != nil {
				return err
			}
			if err := o.faults.apply(fx); err != nil {
				return err
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			return runSandbox(ctx, a.io, pol, fx, o)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.addr, "addr", "127.0.0.1:0", "loopback address to listen on; port 0 picks a free port")
	fs.StringVar(&o.fixture, "fixture", "", "fixture file with accounts, keys and OAuth clients (default: the built-in demo)")
	fs.BoolVar(&o.showKeys, "show-keys", false, "show keys and client secrets in full in the start-up listing")
	fs.BoolVar(&o.printEnv, "print-env", false, "print shell exports pointing klrbac at the sandbox instead of the listing, then close stdout")
	fs.StringVar(&o.envFile, "env-file", "", "create this file, holding the shell exports, once ready (never overwrites one); removed at exit")
	fs.BoolVar(&o.printFixture, "print-fixture", false, "print the built-in demo fixture, a starting point for your own, and exit")
	fs.BoolVar(&o.log, "log", false, "log every request to stderr (credentials masked)")
	o.faults.register(fs)
	_ = c.RegisterFlagCompletionFunc("fixture", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	})
	return c
}

func loadFixture(path string) (*sandbox.Fixture, error) {
	if path == "" {
		return sandbox.DemoFixture(), nil
	}
	return sandbox.LoadFixture(path)
}

func runSandbox(ctx context.Context, io *ui.IO, pol *policy.Policy, fx *sandbox.Fixture, o sandboxOptions) error {
	if err := checkLoopback(o.addr); err != nil {
		return err
	}
	opts := sandbox.Options{}
	if o.log {
		opts.Logf = func(format string, args ...any) {
			fmt.Fprintf(io.Err, "sandbox: "+format+"\n", args...)
		}
	}
	srv := sandbox.New(fx, opts)
	if err := srv.Start(o.addr); err != nil {
		return listenError(o.addr, err)
	}
	defer srv.Close()
	env := sandboxEnv(srv.URL(), fx, pol, os.Getpid())
	if o.envFile != "" {
		written, err := writeEnvFile(o.envFile, env)
		if err != nil {
			return err
		}
		defer removeEnvFile(o.envFile, written)
	}
	if o.printEnv {
		// The exports are the sandbox's own, public credentials: they are the output.
		if err := writeEnv(unmasked(io.Out), env); err != nil {
			return err
		}
		releaseStdout(unmasked(io.Out))
	} else if err := printSandbox(io, srv.URL(), fx, o.showKeys); err != nil {
		return err
	}
	fmt.Fprintf(io.Err, "sandbox: serving %s on %s (pid %d); Ctrl-C or SIGTERM stops it\n", fx.Source, srv.URL(), os.Getpid())

	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		fmt.Fprintf(io.Err, "sandbox: requests still in flight were cut off: %v\n", err)
	}
	fmt.Fprintln(io.Err, "sandbox: stopped")
	// Stopping by Ctrl-C or SIGTERM is the only way a sandbox ends: it still exits as an
	// interrupted command does (130), which scripts tell apart from a sandbox that failed.
	return ctx.Err()
}

// checkLoopback refuses addresses other machines could reach: the sandbox's keys are public.
func checkLoopback(addr string) error {
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

// printSandbox writes the start-up listing: the URL alone on the first line, the readiness signal
// scripts wait for, then the accounts' keys and OAuth clients.
func printSandbox(io *ui.IO, url string, fx *sandbox.Fixture, show bool) error {
	if show {
		// --show-keys asks for the fixture's credentials in full: they are the output.
		raw := *io
		raw.Out = unmasked(io.Out)
		io = &raw
	}
	if _, err := fmt.Fprintln(io.Out, url); err != nil {
		return err
	}
	secret := func(s string) string {
		if show {
			return s
		}
		return sandbox.Mask(s)
	}
	var keys, clients [][]string
	for _, a := range fx.Accounts {
		for _, k := range a.Keys {
			keys = append(keys, []string{a.ID, k.Name, secret(k.Secret), k.Status, dash(k.Scopes)})
		}
		for _, c := range a.OAuthClients {
			clients = append(clients, []string{a.ID, c.Name, c.ClientID, secret(c.ClientSecret), dash(c.RedirectURIs)})
		}
	}
	if len(keys) > 0 {
		fmt.Fprintln(io.Out)
		if err := io.Table([]string{"ACCOUNT", "KEY", "VALUE", "STATUS", "SCOPES"}, keys); err != nil {
			return err
		}
	}
	if len(clients) > 0 {
		fmt.Fprintln(io.Out)
		if err := io.Table([]string{"ACCOUNT", "OAUTH CLIENT", "CLIENT ID", "SECRET", "REDIRECT URIS"}, clients); err != nil {
			return err
		}
	}
	return nil
}

// envVar is one shell export.
type envVar struct{ name, value string }

// sandboxEnv is the environment that points klrbac at a sandbox: its URLs, the key of each role
// (matched by key name, in the role's key_env variable, first account first), the first OAuth
// client, and the sandbox's pid when it runs as its own process (pid 0: not).
func sandboxEnv(url string, fx *sandbox.Fixture, pol *policy.Policy, pid int) []envVar {
	env := []envVar{{"KLRBAC_API_URL", url}, {"KLRBAC_AUTH_URL", url}}
	seen := map[string]bool{}
	for _, a := range fx.Accounts {
		for _, k := range a.Keys {
			r, ok := pol.Role(k.Name)
			if !ok || seen[r.EnvVar()] {
				continue
			}
			seen[r.EnvVar()] = true
			env = append(env, envVar{r.EnvVar(), k.Secret})
		}
	}
	for _, a := range fx.Accounts {
		if len(a.OAuthClients) > 0 {
			c := a.OAuthClients[0]
			env = append(env, envVar{"KLAVIYO_OAUTH_CLIENT_ID", c.ClientID}, envVar{"KLAVIYO_OAUTH_CLIENT_SECRET", c.ClientSecret})
			break
		}
	}
	if pid > 0 {
		env = append(env, envVar{"KLRBAC_SANDBOX_PID", strconv.Itoa(pid)})
	}
	return env
}

func writeEnv(w io.Writer, env []envVar) error {
	var b strings.Builder
	for _, e := range env {
		b.WriteString("export " + e.name + "=" + shellQuote(e.value) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeEnvFile creates path holding the exports and returns what it wrote. The file appears whole,
// so a script polling for it never reads half of it: its appearance is the signal that the sandbox
// is ready. It is written under a temporary name beside path and linked into place, and a link
// never replaces a file: whatever path already holds (a file of the user's, or another sandbox's
// exports) is left alone, even if it appears while this one is being written.
func writeEnvFile(path string, env []envVar) ([]byte, error) {
	var b bytes.Buffer
	if err := writeEnv(&b, env); err != nil {
		return nil, err
	}
	refuse := func() error {
		return fault.Usagef("refusing to overwrite %s", path).
			Hint("--env-file creates a new file and removes it when the sandbox stops; remove " + path + " or name another file")
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, refuse()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fault.Usagef("cannot write --env-file: %v", err).Hint("name a file in a directory you can write to")
	}
	defer os.Remove(tmp.Name()) // the link keeps the file; the temporary name goes
	// CreateTemp makes the file 0600: it holds keys.
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return nil, fault.Unavailablef("cannot write --env-file: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fault.Unavailablef("cannot write --env-file: %v", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, refuse()
		}
		var le *os.LinkError
		if errors.As(err, &le) {
			err = le.Err
		}
		return nil, fault.Usagef("cannot write --env-file %s: %v", path, err).Hint("name a file in a directory you can write to, on a file system with hard links")
	}
	return b.Bytes(), nil
}

// removeEnvFile removes the env file when the sandbox stops, but only while it still holds what the
// sandbox wrote: a file someone has written over since is theirs.
func removeEnvFile(path string, written []byte) {
	if got, err := os.ReadFile(path); err == nil && bytes.Equal(got, written) {
		_ = os.Remove(path)
	}
}

// shellQuote quotes a value for POSIX shells.
func shellQuote(s string) string {
	safe := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:@%+=,", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
