package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/cli/browser"
	"github.com/spf13/cobra"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/oauthflow"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/ui"
	"github.com/klrbac/klrbac/internal/warn"
)

type oauthLoginOptions struct {
	scopes    string
	noBrowser bool
	manual    bool
	timeout   time.Duration
}

func newOAuthLoginCommand(a *app) *cobra.Command {
	var o oauthLoginOptions
	c := &cobra.Command{
		Use:   "login [APP]",
		Short: "Authorize an OAuth app in the browser and keep its tokens in the keyring",
		Long: `Authorize OAuth app APP (default "default") with Klaviyo's authorization-code flow and
PKCE, and keep the tokens in the OS keyring (item "oauth-token:APP").

klrbac listens on the app's redirect URI, a loopback address with a fixed port registered
with the app in Klaviyo (the default app's is http://127.0.0.1:8765/callback), prints the
consent page's URL on stderr and opens it in the browser ($BROWSER when set, else the
desktop's default). Once you choose Allow, the browser is sent back to klrbac, which
exchanges the code (HTTP Basic client authentication with the app's client secret, and the
PKCE verifier) and stores the tokens. Klaviyo may grant fewer scopes than requested: klrbac
says which are missing.

--no-browser only prints the URL, to open wherever you like on this machine. --manual, for
SSH sessions and machines without a browser, starts no listener: open the URL on any
machine, and paste back the address the browser is sent to (its page will not load).

The scopes come from --scopes, else from the app's scopes in the config. The client secret
comes from KLAVIYO_OAUTH_CLIENT_SECRET, else the keyring (klrbac oauth set-secret APP). The
login is audited as oauth.login with the granted scopes and the account; a denial or a
refused code too, as failed.

The keyring, the client secret and the audit log are checked before anything listens or
opens: an audit log that cannot take the record (unwritable, or damaged) stops the login
there, exit 3. Should the record or the keyring fail anyway once the code is exchanged, the
grant Klaviyo has just issued is revoked there, so that none is left behind.

A denial in the browser exits 1. No answer within --timeout, a port in use, a refused code
or client secret, or a keyring that cannot store the tokens exit 3; Ctrl-C exits 130.` + exitStatus(
			exitOK, exitFindings, exitUsage, exitUnavailable, exitInterrupted),
		Example: `  klrbac oauth login --scopes accounts:read,profiles:read
  klrbac oauth login crm-sync
  klrbac oauth login crm-sync --manual          # over SSH`,
		Args: rangeArgs(0, 1, "at most one APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := appArg(args)
			if err != nil {
				return err
			}
			if o.manual && o.noBrowser {
				return fault.Usagef("--manual and --no-browser do not go together").
					Hint("--manual already opens no browser, and starts no listener")
			}
			if o.timeout <= 0 {
				return fault.Usagef("--timeout %s is not a positive duration", o.timeout).Hint("use e.g. --timeout 10m")
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			return a.runOAuthLogin(ctx, name, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.scopes, "scopes", "", "scopes to request, comma separated (default: the app's scopes in the config)")
	f.BoolVar(&o.noBrowser, "no-browser", false, "print the URL without opening a browser")
	f.BoolVar(&o.manual, "manual", false, "start no listener: paste the URL the browser is sent to (for SSH sessions)")
	f.DurationVar(&o.timeout, "timeout", oauthflow.DefaultTimeout, "how long to wait for the browser")
	return c
}

func (a *app) runOAuthLogin(ctx context.Context, name string, o oauthLoginOptions) error {
	ap, err := a.oauthApp(name)
	if err != nil {
		return err
	}
	if o.scopes != "" {
		if ap.Scopes, err = oauthflow.ParseScopes(o.scopes); err != nil {
			return err
		}
	}
	if ap.ClientID == "" {
		e := fault.Configf("no client id for OAuth app %s", name)
		if ap.BuiltIn() {
			return e.Hint("set " + oauthflow.ClientIDEnv + " to the app's client id, or define the app under oauth.apps in the config (see `klrbac oauth login --help`)")
		}
		return e.Hint(fmt.Sprintf("set oauth.apps.%s.client_id (%s:%d), or %s", name, ap.File, ap.Line, oauthflow.ClientIDEnv))
	}
	k, _, err := a.oauthKeeper(name)
	if err != nil {
		return err
	}
	// Everything that could fail after the browser is checked first, so that nobody authorizes an
	// app only to find the tokens cannot be kept: the keyring, the client secret, the audit log.
	if err := secrets.Probe(ctx, k.Store); err != nil {
		if secrets.ClassOf(err) == secrets.Disabled {
			return fault.Unavailablef("refusing to log in: the keyring is off (keyring.backend: off), and klrbac keeps OAuth tokens only in the OS keyring").
				Hint("turn it on by unsetting KLRBAC_KEYRING")
		}
		return secrets.Explain(err, "")
	}
	secret, err := secrets.ResolveOAuthClientSecret(ctx, k.Store, name, secrets.ResolveOptions{})
	if err != nil {
		return err
	}
	resource := secrets.OAuthTokenItem(name).String()
	if err := a.trail().Ready(ctx, oauthflow.ActionLogin, resource); err != nil {
		return err
	}
	kopts, err := a.klaviyoOptions()
	if err != nil {
		return err
	}
	login := &oauthflow.Login{
		App: ap, ClientSecret: secret.Value, Endpoints: k.Endpoints,
		HTTPClient: oauthHTTPClient(),
		Timeout:    o.timeout,
		Say:        func(msg string) { fmt.Fprintln(a.io.Err, msg) },
		Save: func(ctx context.Context, t *secrets.TokenSet) error {
			identifyAccount(ctx, a.io.Err, kopts, name, t)
			return k.Install(ctx, *t, oauthflow.Change{
				Action: oauthflow.ActionLogin, Fingerprint: t.AccessToken.Fingerprint(),
				Endpoint: "POST /oauth/token", Reason: loginReason(*t),
			})
		},
		Failed: func(ctx context.Context, err error) {
			e := audit.Entry{Action: oauthflow.ActionLogin, Resource: resource, Reason: err.Error()}
			if _, rerr := a.trail().Record(ctx, e); rerr != nil {
				warn.Printf(a.io.Err, "the failed login was not recorded: %v", rerr)
			}
		},
		// The grant is revoked whether or not this can be recorded: the log may be what failed.
		Abandoned: func(ctx context.Context, c oauthflow.Change, err error) {
			e := audit.Entry{Action: c.Action, Resource: resource, Success: err == nil, Fingerprint: c.Fingerprint,
				KlaviyoEndpoint: c.Endpoint, Reason: c.Reason}
			if err != nil {
				e.Reason += ": failed: " + err.Error()
			}
			if _, rerr := a.trail().Record(ctx, e); rerr != nil {
				warn.Printf(a.io.Err, "the revocation was not recorded: %v", rerr)
			}
		},
	}
	switch {
	case o.manual:
		login.Manual = a.io.In
	case !o.noBrowser:
		login.Open = openBrowser
	}
	res, err := login.Run(ctx)
	if err != nil {
		return err
	}
	reportLogin(a.io, name, res)
	return nil
}

// identifyAccount records which account authorized the app, when the grant lets klrbac ask
// (accounts:read). Not knowing it is no reason to lose the login: a failure is a warning.
func identifyAccount(ctx context.Context, stderr io.Writer, opts klaviyo.Options, name string, t *secrets.TokenSet) {
	if !slices.Contains(t.Scopes(), "accounts:read") {
		return
	}
	acct, err := oauthflow.Identify(ctx, klaviyo.New(opts), oauthflow.Quota(name), t.AccessToken)
	if err == nil {
		t.AccountID, t.AccountName = acct.ID, acct.Name
		return
	}
	warn.Printf(stderr, "could not tell which Klaviyo account authorized the app: %v", err)
}

// loginReason is the audit record's account of a login: what was granted, to which client, for
// which account. Never a token.
func loginReason(t secrets.TokenSet) string {
	parts := []string{"granted " + dash(t.Scopes())}
	if missing := missingScopes(t); len(missing) > 0 {
		parts = append(parts, "not granted "+strings.Join(missing, " "))
	}
	account := "unknown"
	if t.AccountID != "" {
		account = t.AccountID
	}
	parts = append(parts, "account "+account, "client "+t.ClientID)
	return strings.Join(parts, "; ")
}

func missingScopes(t secrets.TokenSet) []string {
	granted := t.Scopes()
	var out []string
	for _, s := range strings.Fields(t.Requested) {
		if !slices.Contains(granted, s) {
			out = append(out, s)
		}
	}
	return out
}

func reportLogin(io *ui.IO, name string, res *oauthflow.Result) {
	t := res.Token
	w := io.Err
	fmt.Fprintf(w, "logged in: OAuth app %s (client %s), account %s\n", name, t.ClientID, accountLabel(t.AccountID, t.AccountName))
	fmt.Fprintf(w, "  access token:   %s (fingerprint %s), valid until %s\n", t.AccessToken.Masked(), t.AccessToken.Fingerprint(), timeLabel(t.Expiry))
	fmt.Fprintf(w, "  refresh token:  %s\n", tokenLabel(t.RefreshToken))
	fmt.Fprintf(w, "  granted scopes: %s\n", dash(res.Granted))
	fmt.Fprintf(w, "  stored in the keyring as %s\n", secrets.OAuthTokenItem(name))
	if len(res.Missing) > 0 {
		warn.Printf(w, "Klaviyo granted fewer scopes than requested; not granted: %s", strings.Join(res.Missing, ", "))
		fmt.Fprintln(w, "hint: calls that need them will be refused (403); check the scopes the app is registered for in Klaviyo")
	}
}

// accountLabel shows the account a token set belongs to: "AbC123 (Demo Company)".
func accountLabel(id, name string) string {
	switch {
	case id != "" && name != "":
		return id + " (" + name + ")"
	case id != "":
		return id
	}
	return "unknown (grant accounts:read to record it)"
}

func tokenLabel(s secrets.Secret) string {
	if s.IsZero() {
		return "none"
	}
	return s.Masked() + " (fingerprint " + s.Fingerprint() + ")"
}

// tokenNote is tokenLabel for text already in brackets: "****a1b2, fingerprint 0c1d2e3f".
func tokenNote(s secrets.Secret) string {
	if s.IsZero() {
		return "none"
	}
	return s.Masked() + ", fingerprint " + s.Fingerprint()
}

func timeLabel(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}

// browserEnv names the browser command, as many Unix tools read it.
const browserEnv = "BROWSER"

// browserWait is how long klrbac waits to see whether the browser command failed at once; a
// browser that keeps running is left to run.
const browserWait = 3 * time.Second

// openBrowser shows url in a browser: $BROWSER when set — a command, or a colon-separated list
// of commands tried in turn, with %s standing for the URL (else it comes last) — otherwise what
// github.com/cli/browser finds (xdg-open, x-www-browser, ...). The browser's own output is
// discarded: klrbac's stdout is for results, and browsers are chatty.
func openBrowser(url string) error {
	if spec := os.Getenv(browserEnv); strings.TrimSpace(spec) != "" {
		var err error
		for _, entry := range strings.Split(spec, ":") {
			argv := strings.Fields(entry)
			if len(argv) == 0 {
				continue
			}
			substituted := false
			for i, arg := range argv {
				if strings.Contains(arg, "%s") {
					argv[i], substituted = strings.ReplaceAll(arg, "%s", url), true
				}
			}
			if !substituted {
				argv = append(argv, url)
			}
			if err = startBrowser(exec.Command(argv[0], argv[1:]...)); err == nil {
				return nil
			}
		}
		return fmt.Errorf("$%s: %w", browserEnv, err)
	}
	browser.Stdout, browser.Stderr = io.Discard, io.Discard
	done := make(chan error, 1)
	go func() { done <- browser.OpenURL(url) }()
	select {
	case err := <-done:
		return err
	case <-time.After(browserWait):
		return nil
	}
}

// startBrowser starts a browser command and reports its failure if it fails at once.
func startBrowser(c *exec.Cmd) error {
	c.Stdout, c.Stderr = io.Discard, io.Discard
	if err := c.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s exited with status %d", c.Path, ee.ExitCode())
		}
		return err
	case <-time.After(browserWait):
		return nil
	}
}
