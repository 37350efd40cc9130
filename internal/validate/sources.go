package validate

import (
	"context"
	"slices"

	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/policy"
	"github.com/klrbac/klrbac/internal/secrets"
)

// OAuthApp is a logged-in OAuth app as a credential to list the account's keys with (oauthflow's
// Keeper): its stored grant, read without a call, and its access token, refreshed if need be.
type OAuthApp interface {
	Load(ctx context.Context) (secrets.TokenSet, error)
	AccessToken(ctx context.Context) (klaviyo.Credential, error)
}

// Credentials are where a run finds the credentials its inventory sources use.
type Credentials struct {
	Store  secrets.Store
	Policy *policy.Policy
	// Apps are the OAuth apps there are; App opens one by name, and Quota names the rate-limit
	// quota its calls count against.
	Apps  []string
	App   func(name string) (OAuthApp, error)
	Quota func(app string) string
}

// Sources are the credentials the run may list the account's keys with. named is the one the
// request names (--inventory-role's key, or --inventory-oauth's access token, fetched now so that a
// missing login fails before any probe is planned); auto, with method auto, are the OAuth apps
// logged in with a grant that holds credentials:read, each optional (a token that cannot be had, or
// a listing refused, passes to the next credential) and its token fetched only when listing.
func (r Request) Sources(ctx context.Context, c Credentials, method Method) (named InventorySource, auto []InventorySource, err error) {
	switch {
	case r.InventoryRole != "":
		named, err = RoleInventory(ctx, c.Store, c.Policy, r.InventoryRole)
	case r.InventoryApp != "":
		var app OAuthApp
		if app, err = c.App(r.InventoryApp); err != nil {
			return InventorySource{}, nil, err
		}
		var token klaviyo.Credential
		if token, err = app.AccessToken(ctx); err == nil {
			named = OAuthInventory(r.InventoryApp, c.Quota(r.InventoryApp), token)
		}
	}
	if err != nil || method != ByAuto {
		return named, nil, err
	}
	for _, name := range c.Apps {
		app, err := c.App(name)
		if err != nil {
			continue
		}
		t, err := app.Load(ctx)
		if err != nil || !slices.Contains(t.Scopes(), "credentials:read") {
			continue
		}
		src := OAuthInventory(name, c.Quota(name), klaviyo.Credential{})
		src.Credential = app.AccessToken
		src.Account, src.Optional = t.AccountID, true
		auto = append(auto, src)
	}
	return named, auto, nil
}
