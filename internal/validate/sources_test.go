package validate

import (
	"context"
	"errors"
	"testing"

	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/secrets"
)

// fakeApp is a logged-in OAuth app: its grant's scopes, and whether its token can be had.
type fakeApp struct {
	scope    string
	loadErr  error
	tokenErr error
	fetched  *int
}

func (f fakeApp) Load(context.Context) (secrets.TokenSet, error) {
	return secrets.TokenSet{Scope: f.scope, AccountID: "ACC"}, f.loadErr
}

func (f fakeApp) AccessToken(context.Context) (klaviyo.Credential, error) {
	*f.fetched++
	return klaviyo.Credential{}, f.tokenErr
}

func TestSourcesAutoTakesAppsGrantedCredentialsRead(t *testing.T) {
	fetched := 0
	apps := map[string]fakeApp{
		"lister":    {scope: "profiles:read credentials:read", fetched: &fetched},
		"narrow":    {scope: "profiles:read", fetched: &fetched},
		"loggedout": {loadErr: errors.New("not logged in"), fetched: &fetched},
	}
	c := Credentials{Apps: []string{"narrow", "lister", "loggedout", "unknown"}, Quota: func(a string) string { return "q:" + a },
		App: func(name string) (OAuthApp, error) {
			a, ok := apps[name]
			if !ok {
				return nil, errors.New("no such app")
			}
			return a, nil
		}}
	named, auto, err := Request{}.Sources(context.Background(), c, ByAuto)
	if err != nil || named.Name != "" {
		t.Fatalf("Sources: named %+v, err %v", named, err)
	}
	if len(auto) != 1 || auto[0].Name != "OAuth app lister" || !auto[0].Optional || auto[0].Account != "ACC" || auto[0].AccountID != "q:lister" {
		t.Fatalf("auto sources: %+v", auto)
	}
	if fetched != 0 {
		t.Fatalf("a token was fetched %d times before any listing", fetched)
	}
	if _, err := auto[0].Credential(context.Background()); err != nil || fetched != 1 {
		t.Fatalf("the source's credential: err %v, fetched %d", err, fetched)
	}
	if _, auto, _ := (Request{}).Sources(context.Background(), c, ByProbe); len(auto) != 0 {
		t.Fatalf("probing took inventory sources: %+v", auto)
	}

	// A named app's token is fetched at once, and its failure is the run's.
	named, _, err = Request{InventoryApp: "lister"}.Sources(context.Background(), c, ByInventory)
	if err != nil || named.Name != "OAuth app lister" || fetched != 2 {
		t.Fatalf("named app: %+v, err %v, fetched %d", named, err, fetched)
	}
	apps["lister"] = fakeApp{scope: "credentials:read", tokenErr: errors.New("refresh refused"), fetched: &fetched}
	if _, _, err := (Request{InventoryApp: "lister"}).Sources(context.Background(), c, ByInventory); err == nil || err.Error() != "refresh refused" {
		t.Fatalf("a named app whose token cannot be had: %v", err)
	}
	if _, _, err := (Request{InventoryApp: "unknown"}).Sources(context.Background(), c, ByInventory); err == nil {
		t.Fatal("an unknown named app was taken")
	}
}
