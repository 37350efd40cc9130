package oauthflow

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/warn"
)

// DefaultTimeout is how long a login waits for the browser unless told otherwise.
const DefaultTimeout = 5 * time.Minute

// Login is one run of the authorization-code flow with PKCE.
type Login struct {
	// App is the app to log in with; its Scopes are the scopes requested.
	App          App
	ClientSecret secrets.Secret
	Endpoints    Endpoints

	// HTTPClient calls the token endpoint (nil: a client with a 30 s timeout).
	HTTPClient *http.Client
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Listen opens the callback listener (nil: net.Listen).
	Listen func(network, addr string) (net.Listener, error)
	// Open shows the authorize URL in a browser; nil opens none (the URL is printed either way).
	Open func(url string) error
	// Manual, when set, replaces the listener: the person pastes the URL their browser was sent to,
	// and it is read from here, a line at a time.
	Manual io.Reader
	// Say tells the person running the login what to do and what happened (stderr).
	Say func(msg string)
	// Timeout bounds the wait for the browser (0: DefaultTimeout).
	Timeout time.Duration
	// Save stores the token set once the code is exchanged; it may fill in the set's account. The
	// browser's page says whether it worked only once it has returned. When it fails, the grant is
	// revoked at Klaviyo: a token set nobody keeps must not leave a grant behind.
	Save func(ctx context.Context, t *secrets.TokenSet) error
	// Failed, when set, is told why a login that reached Klaviyo's answer failed: denied in the
	// browser, or a code Klaviyo would not exchange. Not told of timeouts or interruptions.
	Failed func(ctx context.Context, err error)
	// Abandoned, when set, is told of the revocation of a grant whose tokens Save could not keep,
	// and of its error (nil when revoked), so that it can be recorded.
	Abandoned func(ctx context.Context, c Change, err error)
}

// Result is a completed login.
type Result struct {
	Token     secrets.TokenSet
	Requested []string
	Granted   []string
	// Missing are the requested scopes Klaviyo did not grant.
	Missing []string
	// CallbackAt is when the callback reached klrbac (the paste was read, in manual mode), and
	// SavedAt when Save returned: the time klrbac itself took.
	CallbackAt, SavedAt time.Time
}

// ErrDenied matches (errors.Is) a login the person denied in the browser.
var ErrDenied = errors.New("authorization was denied in the browser")

func (l *Login) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Login) say(format string, args ...any) {
	if l.Say != nil {
		l.Say(fmt.Sprintf(format, args...))
	}
}

// warn says a warning through Say, in the one form every warning takes (package warn).
func (l *Login) warn(format string, args ...any) {
	if l.Say != nil {
		var b strings.Builder
		warn.Printf(&b, format, args...)
		l.Say(strings.TrimSuffix(b.String(), "\n"))
	}
}

func (l *Login) httpClient() *http.Client {
	if l.HTTPClient != nil {
		return l.HTTPClient
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// oauth2Config is the golang.org/x/oauth2 view of the app: HTTP Basic client authentication, as
// Klaviyo requires; no probing of other styles, which would send the secret in a form body.
func oauth2Config(clientID string, secret secrets.Secret, ep Endpoints, redirect string, scopes []string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: secret.Reveal(),
		Endpoint:     oauth2.Endpoint{AuthURL: ep.AuthURL, TokenURL: ep.TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL:  redirect,
		Scopes:       scopes,
	}
}

// newState returns 32 random bytes, base64url: the state that ties a callback to this login.
func newState() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Run logs in: it shows the authorize URL, waits for the answer, exchanges the code and saves the
// token set. An interruption (ctx cancelled) returns ctx's error, a timeout says so, and a denial
// matches ErrDenied.
func (l *Login) Run(ctx context.Context) (*Result, error) {
	redirect, err := CheckRedirectURI(l.App.RedirectURI)
	if err != nil {
		return nil, err
	}
	if l.App.ClientID == "" {
		return nil, fault.Configf("OAuth app %s has no client id", l.App.Name).
			Hint("set oauth.apps." + l.App.Name + ".client_id in the config, or " + ClientIDEnv)
	}
	if len(l.App.Scopes) == 0 {
		return nil, fault.Usagef("no scopes to request for OAuth app %s", l.App.Name).
			Hint("pass --scopes, e.g. --scopes accounts:read,profiles:read, or set oauth.apps." + l.App.Name + ".scopes in the config")
	}
	if l.Save == nil {
		return nil, errors.New("oauthflow: Login.Save is required")
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	verifier := oauth2.GenerateVerifier()
	state, err := newState()
	if err != nil {
		return nil, fault.Unavailablef("cannot draw a random state: %v", err)
	}
	cfg := oauth2Config(l.App.ClientID, l.ClientSecret, l.Endpoints, l.App.RedirectURI, l.App.Scopes)
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))

	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wait func(context.Context) (arrival, error)
	var lb *loopback
	if l.Manual != nil {
		l.say("Open this URL in a browser on any machine and allow access:\n\n  %s\n", authURL)
		l.say("The browser is then sent to %s, which will not load: copy the whole address from the address bar and paste it here.", l.App.RedirectURI)
		wait = func(ctx context.Context) (arrival, error) { return l.readPasted(ctx, redirect, state) }
	} else {
		listen := l.Listen
		if listen == nil {
			listen = net.Listen
		}
		lns, err := listenLoopback(listen, redirect)
		if err != nil {
			return nil, err
		}
		lb = newLoopback(lns, redirect, state, l.now, func(msg string) { l.say("klrbac: %s", msg) })
		defer lb.close()
		wait = func(ctx context.Context) (arrival, error) {
			select {
			case a := <-lb.arrivals:
				return a, nil
			case <-ctx.Done():
				return arrival{}, ctx.Err()
			}
		}
		l.say("Open this URL in your browser to authorize OAuth app %s:\n\n  %s\n", l.App.Name, authURL)
		waiting := fmt.Sprintf("Waiting for the authorization (up to %s; Ctrl-C stops)...", timeout)
		if l.Open != nil {
			if err := l.Open(authURL); err != nil {
				l.say("klrbac: could not open a browser (%v): open the URL above yourself", err)
			} else {
				waiting = "Opened it in your browser. " + waiting
			}
		}
		l.say("%s", waiting)
	}

	// The state travels in the authorize URL, which is printed, so a local process may read it and
	// send a callback of its own first. A code Klaviyo refuses therefore does not end a login that
	// listens: it goes on waiting, until the timeout, for a code that Klaviyo exchanges or an
	// explicit error. Codes are tried one at a time; while one is being exchanged the listener
	// turns any other away.
	var refused error
	for {
		a, err := wait(waitCtx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				return nil, err
			}
			if refused == nil {
				return nil, fault.Unavailablef("no answer from the browser within %s", timeout).
					Hint("run klrbac oauth login again (--timeout gives more time); on a machine without a browser, use --manual")
			}
			l.say("klrbac: no other answer came within %s", timeout)
			if l.Failed != nil {
				l.Failed(ctx, refused)
			}
			return nil, refused
		}
		res, err := l.complete(ctx, cfg, a, verifier)
		if lb != nil && err != nil && ctx.Err() == nil && codeRefused(a.cb, err) {
			refused = err
			l.say("klrbac: Klaviyo refused the code of a callback (%v); still waiting for the authorization", err)
			lb.reopen() // before the page, which the sender may answer at once
			a.reply <- page{status: http.StatusBadRequest, title: "Code refused",
				message: "Klaviyo did not accept the authorization code this page brought, so klrbac is still waiting for the authorization. If you allowed access in the tab klrbac opened, look at the terminal."}
			continue
		}
		if a.reply != nil {
			a.reply <- outcomePage(l.App.Name, res, err)
		}
		if err != nil && l.Failed != nil && ctx.Err() == nil && isKlaviyoAnswer(err) {
			l.Failed(ctx, err)
		}
		return res, err
	}
}

// codeRefused reports whether Klaviyo refused the code a callback brought, rather than the client
// or the request: a bogus code proves only that someone sent one, so the login waits on.
func codeRefused(cb callback, err error) bool {
	var re *RefusedError
	return cb.Error == "" && errors.As(err, &re) && !re.Client()
}

// complete turns the callback into a stored token set.
func (l *Login) complete(ctx context.Context, cfg *oauth2.Config, a arrival, verifier string) (*Result, error) {
	if a.cb.Error != "" {
		return nil, callbackError(a.cb)
	}
	tok, err := cfg.Exchange(context.WithValue(ctx, oauth2.HTTPClient, l.httpClient()), a.cb.Code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, tokenError(ctx, err, l.App.Name, "the authorization code")
	}
	now := l.now()
	set := tokenSet(tok, now)
	set.App, set.ClientID = l.App.Name, l.App.ClientID
	set.Requested = strings.Join(l.App.Scopes, " ")
	set.Authorized = now
	if set.Scope == "" {
		// RFC 6749: a response without scope grants exactly what was asked.
		set.Scope = set.Requested
	}
	if err := l.Save(ctx, &set); err != nil {
		l.abandon(ctx, set)
		return nil, err
	}
	granted := set.Scopes()
	res := &Result{Token: set, Requested: slices.Clone(l.App.Scopes), Granted: granted, CallbackAt: a.at, SavedAt: l.now()}
	for _, s := range l.App.Scopes {
		if !slices.Contains(granted, s) {
			res.Missing = append(res.Missing, s)
		}
	}
	return res, nil
}

// abandonTimeout bounds the revocation of a grant a failed login leaves behind.
const abandonTimeout = 10 * time.Second

// abandon revokes at Klaviyo the grant of a token set the login could not keep (its record or its
// storage failed): nobody would hold its refresh token, and the grant would stay active, and
// unrecorded, until removed in Klaviyo. Best effort: the login has failed either way, and this only
// says how it left things.
func (l *Login) abandon(ctx context.Context, t secrets.TokenSet) {
	token, hint, label := t.RefreshToken, "refresh_token", "refresh token"
	if token.IsZero() {
		token, hint, label = t.AccessToken, "access_token", "access token"
	}
	if token.IsZero() {
		return
	}
	// An interrupted login revokes too: a grant left behind is worse than a moment's wait.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abandonTimeout)
	defer cancel()
	k := &Keeper{App: l.App.Name, Endpoints: l.Endpoints, HTTPClient: l.HTTPClient}
	which := label + " " + token.Described()
	err := k.revoke(rctx, l.App.ClientID, l.ClientSecret, token, hint)
	if err != nil {
		l.warn("could not keep the tokens Klaviyo issued, nor revoke their grant (%s): %v", which, err)
		l.say("hint: the grant stays active at Klaviyo until the app's access (client %s) is removed in the Klaviyo account that authorized it", l.App.ClientID)
	} else {
		l.say("klrbac: could not keep the tokens Klaviyo issued; revoked their grant at Klaviyo (%s) so that none is left behind", which)
	}
	if l.Abandoned != nil {
		l.Abandoned(rctx, Change{Action: ActionRevoke, Fingerprint: token.Fingerprint(), Endpoint: "POST /oauth/revoke",
			Reason: "the login's tokens could not be kept"}, err)
	}
}

// tokenSet builds a token set from a token response received at now.
func tokenSet(tok *oauth2.Token, now time.Time) secrets.TokenSet {
	t := secrets.TokenSet{
		AccessToken:  secrets.NewSecret(tok.AccessToken),
		RefreshToken: secrets.NewSecret(tok.RefreshToken),
		TokenType:    tok.TokenType,
		Obtained:     now,
	}
	if s, ok := tok.Extra("scope").(string); ok {
		t.Scope = strings.Join(strings.Fields(s), " ")
	}
	switch {
	case tok.ExpiresIn > 0:
		t.Expiry = now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	case !tok.Expiry.IsZero():
		t.Expiry = tok.Expiry
	}
	return t
}

// callbackError explains an error the authorization server sent back through the browser.
func callbackError(cb callback) error {
	desc := printable(cb.Description, 200)
	if cb.Error == "access_denied" {
		return (&fault.Error{Kind: fault.Findings, Err: ErrDenied}).Hint("run klrbac oauth login again and choose Allow to authorize the app")
	}
	e := fault.Wrap(fault.Unavailable, &RefusedError{What: "the authorization request", Code: printable(cb.Error, 64), Description: desc})
	switch cb.Error {
	case "invalid_scope":
		return e.Hint("request only scopes the app is registered for in Klaviyo (--scopes, or oauth.apps.<app>.scopes)")
	case "unauthorized_client", "invalid_client":
		return e.Hint("check the app's client id (oauth.apps.<app>.client_id or " + ClientIDEnv + ")")
	}
	return e.Hint("run klrbac oauth login again")
}

// isKlaviyoAnswer reports whether err is Klaviyo's own refusal, worth an audit record, rather than
// klrbac's or the network's failure.
func isKlaviyoAnswer(err error) bool {
	var re *RefusedError
	return errors.Is(err, ErrDenied) || errors.As(err, &re)
}

// outcomePage is what the browser is shown once the login knows how it ended.
func outcomePage(app string, res *Result, err error) page {
	if err == nil {
		msg := "klrbac is authorized for OAuth app " + app + " with the scopes " + strings.Join(res.Granted, ", ") + ". You can close this tab and go back to the terminal."
		return page{status: http.StatusOK, ok: true, title: "Authorized", message: msg}
	}
	if errors.Is(err, ErrDenied) {
		return page{status: http.StatusOK, title: "Authorization denied", message: "You denied the authorization, so klrbac has stopped. You can close this tab."}
	}
	return page{status: http.StatusOK, title: "Authorization failed", message: "klrbac could not complete the login: " + err.Error() + ". The terminal says what to do."}
}

// readPasted reads pasted URLs until one answers this login, the input ends, or ctx ends.
func (l *Login) readPasted(ctx context.Context, redirect *url.URL, state string) (arrival, error) {
	type line struct {
		text string
		err  error
	}
	lines := make(chan line)
	done := make(chan struct{})
	defer close(done)
	go func() {
		sc := bufio.NewScanner(l.Manual)
		sc.Buffer(make([]byte, 0, 4096), 64<<10)
		for sc.Scan() {
			select {
			case lines <- line{text: sc.Text()}:
			case <-done:
				return
			}
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		select {
		case lines <- line{err: err}:
		case <-done:
		}
	}()
	for {
		var ln line
		select {
		case ln = <-lines:
		case <-ctx.Done():
			return arrival{}, ctx.Err()
		}
		if ln.err != nil {
			if errors.Is(ln.err, io.EOF) {
				return arrival{}, fault.Usagef("no redirect URL was pasted").
					Hint("paste the address the browser was sent to, starting with " + l.App.RedirectURI)
			}
			return arrival{}, fault.Unavailablef("cannot read the pasted URL: %v", ln.err)
		}
		if strings.TrimSpace(ln.text) == "" {
			continue
		}
		cb, err := parsePasted(ln.text, redirect)
		switch {
		case err != nil:
			l.say("klrbac: %v; paste the address starting with %s", err, l.App.RedirectURI)
		case cb.State == "" && !cb.answer():
			l.say("klrbac: that is not a redirect address: it carries no code, error or state; paste the address starting with %s", l.App.RedirectURI)
		case !sameState(cb.State, state):
			l.say("klrbac: that address answers another login (its state does not match): paste the one from this login's browser tab")
		case !cb.answer():
			l.say("klrbac: that address carries neither a code nor an error; paste the whole address")
		default:
			return arrival{cb: cb, at: l.now()}, nil
		}
	}
}

// parsePasted reads a pasted redirect: the whole URL the browser was sent to, or its query string
// alone. A URL must be the app's redirect URI: a paste of something else is refused.
func parsePasted(s string, redirect *url.URL) (callback, error) {
	s = strings.TrimSpace(s)
	if len(s) > 16<<10 {
		return callback{}, errors.New("the pasted text is too long to be a redirect URL")
	}
	query := ""
	switch {
	case strings.Contains(s, "://"):
		u, err := url.Parse(s)
		if err != nil {
			return callback{}, errors.New("the pasted text is not a URL")
		}
		if !strings.EqualFold(u.Scheme, redirect.Scheme) || !strings.EqualFold(u.Host, redirect.Host) || u.EscapedPath() != redirect.EscapedPath() {
			return callback{}, errors.New("the pasted URL is not the redirect URI")
		}
		query = u.RawQuery
	default:
		query = strings.TrimPrefix(s, "?")
	}
	return parseCallback(query)
}

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }
