package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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

// faultFlags are the fault switches, shared with the testscript command that starts a sandbox. Each
// reaches the overrides only when given, so that what the user leaves out keeps the fixture's value.
type faultFlags struct {
	o     sandbox.Overrides
	given []func()
}

func (f *faultFlags) register(fs *pflag.FlagSet) {
	override(f, fs, &f.o.Latency, fs.DurationVar, "latency", "add this delay to every /api response and to /oauth/token and /oauth/revoke")
	override(f, fs, &f.o.Unavailable, fs.Float64Var, "fault-unavailable", "answer this share of all /api calls with 503")
	override(f, fs, &f.o.EdgeBlock, fs.Float64Var, "fault-edge-block", "answer this share of all /api calls with Cloudflare's HTML 403 (cf-mitigated: challenge)")
	override(f, fs, &f.o.Reset, fs.Float64Var, "fault-reset", "reset the connection of this share of all /api calls")
	override(f, fs, &f.o.Throttle, fs.Float64Var, "fault-throttle", "answer this share of all /api calls with 429, whatever the rate limits")
	override(f, fs, &f.o.NoRetryAfter, fs.BoolVar, "no-retry-after", "send 429s without a Retry-After header")
	override(f, fs, &f.o.AcceptWrites, fs.BoolVar, "accept-writes", "answer every write call 202 Accepted, whatever its body (tests klrbac's side-effect guard)")
	override(f, fs, &f.o.NoRateLimits, fs.BoolVar, "no-rate-limits", "count calls and send RateLimit headers, but never answer 429 for a full window")
}

// override defines flag name (with define, at its zero value) and points *p at its value once given.
func override[T any](f *faultFlags, fs *pflag.FlagSet, p **T, define func(*T, string, T, string), name, usage string) {
	v := new(T)
	define(v, name, *v, usage)
	f.given = append(f.given, func() {
		if fs.Changed(name) {
			*p = v
		}
	})
}

// overrides are the fault flags the user gave, to lay over the fixture's own settings.
func (f *faultFlags) overrides() sandbox.Overrides {
	for _, g := range f.given {
		g()
	}
	return f.o
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
			fx, err := sandbox.LoadFixture(o.fixture)
			if err != nil {
				return err
			}
			if err := o.faults.overrides().Apply(fx); err != nil {
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

func runSandbox(ctx context.Context, io *ui.IO, pol *policy.Policy, fx *sandbox.Fixture, o sandboxOptions) error {
	var logf func(string, ...any)
	if o.log {
		logf = func(format string, args ...any) {
			fmt.Fprintf(io.Err, "sandbox: "+format+"\n", args...)
		}
	}
	return sandbox.Run(ctx, fx, sandbox.RunOptions{Addr: o.addr, EnvFile: o.envFile, Policy: pol, Logf: logf, Stderr: io.Err,
		Ready: func(url string, env []sandbox.EnvVar) error {
			if !o.printEnv {
				return printSandbox(io, url, fx, o.showKeys)
			}
			// The exports are the sandbox's own, public credentials: they are the output.
			if err := sandbox.WriteEnv(unmasked(io.Out), env); err != nil {
				return err
			}
			sandbox.ReleaseStdout(unmasked(io.Out))
			return nil
		}})
}

// printSandbox writes the start-up listing, the fixture's credentials masked unless show asks for
// them.
func printSandbox(io *ui.IO, url string, fx *sandbox.Fixture, show bool) error {
	if show {
		// --show-keys asks for the fixture's credentials in full: they are the output.
		raw := *io
		raw.Out = unmasked(io.Out)
		io = &raw
	}
	keys, clients := fx.Listing(show)
	return io.SandboxListing(url, keys, clients)
}
