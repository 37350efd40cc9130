package oauthflow

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/config"
	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/secrets"
	"github.com/klrbac/klrbac/internal/suggest"
)

// Setup is what the oauth commands share: the apps and Klaviyo's URLs as configured, and the keyring
// that keeps the tokens.
type Setup struct {
	Config *config.Config
	// ClientID is KLAVIYO_OAUTH_CLIENT_ID's value: the client id of the default app, and of a
	// configured app that names none.
	ClientID string
	// RedirectURI, when set, stands in for DefaultRedirectURI in every app that takes the default.
	// The command-line tests put a free port there, so that runs side by side never contend for
	// that one port.
	RedirectURI string
	Store       secrets.Store
	// Trail, when set, opens the audit trail that keepers record their changes in, and a login its
	// failures. It is called last, once the app's name and the config's apps have passed.
	Trail func() *audit.Trail
}

// ConfiguredApps are the apps cfg defines under oauth.apps.
func ConfiguredApps(cfg *config.Config) ([]App, error) {
	sec, _ := cfg.Raw("oauth")
	return ParseApps(cfg.File, sec.Value)
}

// App finds an app by name: one the config defines, else the built-in default app. An unknown name
// is a usage error with a suggestion.
func (s Setup) App(name string) (App, error) {
	if err := secrets.CheckAppName(name); err != nil {
		return App{}, err
	}
	apps, err := ConfiguredApps(s.Config)
	if err != nil {
		return App{}, err
	}
	var names []string
	for _, ap := range apps {
		if ap.Name == name {
			if ap.ClientID == "" {
				ap.ClientID = s.ClientID
			}
			return s.withDefaultRedirect(ap), nil
		}
		names = append(names, ap.Name)
	}
	if name == secrets.DefaultApp {
		ap := s.withDefaultRedirect(DefaultApp())
		ap.ClientID = s.ClientID
		return ap, nil
	}
	hint := suggest.Hint(suggest.Closest(name, append(names, secrets.DefaultApp), 1))
	if hint == "" {
		hint = "define it under oauth.apps in the config (see `klrbac oauth login --help`)"
	}
	return App{Name: name}, fault.Usagef("unknown OAuth app %q", name).Hint(hint)
}

// withDefaultRedirect gives an app that took the default redirect URI the one in force.
func (s Setup) withDefaultRedirect(ap App) App {
	if ap.RedirectURI == DefaultRedirectURI && s.RedirectURI != "" {
		ap.RedirectURI = s.RedirectURI
	}
	return ap
}

// Keeper returns the keeper of app name's tokens, recording in the Setup's Trail when it has one. The
// app need not be in the config any more: a token set names the client it was issued to. An app
// neither configured nor the default app is kept too, with its unknown name as the error to report
// should the keyring hold nothing for it.
func (s Setup) Keeper(name string) (*Keeper, error) {
	ap, err := s.App(name)
	var fe *fault.Error
	if err != nil && (!errors.As(err, &fe) || fe.Kind != fault.Usage || secrets.CheckAppName(name) != nil) {
		return nil, err
	}
	lock, lerr := lockFile(name)
	if lerr != nil {
		return nil, lerr
	}
	k := &Keeper{
		App: name, ClientID: ap.ClientID, Endpoints: EndpointsFor(s.Config.AuthURL(), s.Config.APIURL()),
		Store: s.Store, LockFile: lock, HTTPClient: noRedirects(), Unknown: err,
		ClientSecret: func(ctx context.Context) (secrets.Secret, error) {
			r, err := secrets.ResolveOAuthClientSecret(ctx, s.Store, name, secrets.ResolveOptions{})
			return r.Value, err
		},
	}
	// Set only when there is one: a nil *audit.Trail in the interface would not read as "none".
	if s.Trail != nil {
		k.Trail = s.Trail()
	}
	return k, nil
}

// Login logs app name in and keeps its tokens (Keeper.Authorize), recording in the Setup's Trail,
// which it needs. An unknown app is refused before anything is asked of the keyring or the trail.
func (s Setup) Login(ctx context.Context, name string, o AuthorizeOptions) (*Result, error) {
	if s.Trail == nil {
		return nil, errors.New("oauthflow: Setup.Trail is required to log in")
	}
	ap, err := s.App(name)
	if err != nil {
		return nil, err
	}
	k, err := s.Keeper(name)
	if err != nil {
		return nil, err
	}
	return k.Authorize(ctx, ap, s.Trail(), o)
}

// noRedirects calls Klaviyo's token and revocation endpoints. It never follows a redirect: the
// client secret goes to the configured API host and nowhere else.
func noRedirects() *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// lockFile serialises the refreshes of one app's tokens across klrbac processes.
func lockFile(name string) (string, error) {
	dir, err := config.StateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "oauth", name+".lock"), nil
}
