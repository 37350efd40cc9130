package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/mask"
)

// DefaultApp is the OAuth app name used when a command names none.
const DefaultApp = "default"

// CheckAppName checks an OAuth app name: 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a
// letter or digit, so that it reads well in an item name (oauth-client:<app>) and a command line.
func CheckAppName(name string) error {
	if mask.LooksSecret(name) {
		return fault.Usagef("invalid OAuth app name: it looks like a credential, so it is not repeated here").
			Hint("give the app's name (such as default or reporting); a client secret is read from standard input, never an argument")
	}
	ok := len(name) >= 1 && len(name) <= 64
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == '_' || c == '-')
	}
	if !ok {
		return fault.Usagef("invalid OAuth app name %q", name).
			Hint("use 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

// TokenSet is what an OAuth authorization leaves to keep: the tokens, what they grant, and to whom.
// Its tokens are Secrets, so printing a TokenSet shows masks.
type TokenSet struct {
	AccessToken  Secret
	RefreshToken Secret
	TokenType    string
	// Scope is the space-separated scopes Klaviyo granted.
	Scope string
	// Expiry is when the access token expires; zero if unknown.
	Expiry time.Time

	// App is the klrbac name of the OAuth app, and ClientID the client the tokens were issued to:
	// a refresh or revocation must authenticate as that client, whatever the config says today.
	App      string
	ClientID string
	// Requested is the space-separated scopes the login asked for, to show what Klaviyo narrowed.
	Requested string
	// AccountID and AccountName are the Klaviyo account that authorized the app, when known (the
	// token response does not say; klrbac asks GET /api/accounts when accounts:read was granted).
	AccountID   string
	AccountName string
	// Authorized is when the login happened; Obtained is when the current access token was issued.
	Authorized time.Time
	Obtained   time.Time
}

// Scopes returns the granted scopes as a list.
func (t TokenSet) Scopes() []string { return strings.Fields(t.Scope) }

// Remaining is how long the access token stays valid at now; negative once expired, and a very
// long time when the expiry is unknown (Klaviyo always sends one).
func (t TokenSet) Remaining(now time.Time) time.Duration {
	if t.Expiry.IsZero() {
		return time.Duration(1<<63 - 1)
	}
	return t.Expiry.Sub(now)
}

// Refreshable reports whether the set holds a refresh token.
func (t TokenSet) Refreshable() bool { return !t.RefreshToken.IsZero() }

// GrantToken is the token that stands for the grant: the refresh token, else (a set without one)
// the access token. It is what revocation sends and what the audit trail fingerprints.
func (t TokenSet) GrantToken() Secret {
	if t.Refreshable() {
		return t.RefreshToken
	}
	return t.AccessToken
}

// storedTokenSet is the JSON kept in the keyring. It is the only place token values are encoded;
// TokenSet itself marshals to masks.
type storedTokenSet struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Scope        string    `json:"scope,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	App          string    `json:"app,omitempty"`
	ClientID     string    `json:"client_id,omitempty"`
	Requested    string    `json:"requested_scope,omitempty"`
	AccountID    string    `json:"account_id,omitempty"`
	AccountName  string    `json:"account_name,omitempty"`
	Authorized   time.Time `json:"authorized,omitzero"`
	Obtained     time.Time `json:"obtained,omitzero"`
}

func encodeTokenSet(t TokenSet) (Secret, error) {
	b, err := json.Marshal(storedTokenSet{
		AccessToken: t.AccessToken.Reveal(), RefreshToken: t.RefreshToken.Reveal(),
		TokenType: t.TokenType, Scope: t.Scope, Expiry: t.Expiry.UTC(),
		App: t.App, ClientID: t.ClientID, Requested: t.Requested, AccountID: t.AccountID, AccountName: t.AccountName,
		Authorized: t.Authorized.UTC(), Obtained: t.Obtained.UTC(),
	})
	if err != nil {
		return Secret{}, err
	}
	return NewSecret(string(b)), nil
}

// decodeTokenSet parses a token set read back from the keyring. Its errors never quote the data.
func decodeTokenSet(s Secret) (TokenSet, error) {
	var st storedTokenSet
	if err := json.Unmarshal([]byte(s.Reveal()), &st); err != nil {
		return TokenSet{}, fmt.Errorf("not a token set")
	}
	if st.AccessToken == "" && st.RefreshToken == "" {
		return TokenSet{}, fmt.Errorf("the token set holds no token")
	}
	return TokenSet{
		AccessToken: NewSecret(st.AccessToken), RefreshToken: NewSecret(st.RefreshToken),
		TokenType: st.TokenType, Scope: st.Scope, Expiry: st.Expiry,
		App: st.App, ClientID: st.ClientID, Requested: st.Requested, AccountID: st.AccountID, AccountName: st.AccountName,
		Authorized: st.Authorized, Obtained: st.Obtained,
	}, nil
}

// GetTokenSet reads app's token set from the keyring; a missing one matches ErrNotFound.
func GetTokenSet(ctx context.Context, store Store, app string) (TokenSet, error) {
	v, err := store.Get(ctx, OAuthTokenItem(app))
	if err != nil {
		return TokenSet{}, err
	}
	t, err := decodeTokenSet(v)
	if err != nil {
		return TokenSet{}, fault.Unavailablef("the keyring's token set for OAuth app %s is unreadable: %v", app, err).
			Hint("log in again to replace it")
	}
	return t, nil
}

// SetTokenSet stores app's token set in the keyring, replacing any earlier one.
func SetTokenSet(ctx context.Context, store Store, app string, t TokenSet) error {
	v, err := encodeTokenSet(t)
	if err != nil {
		return err
	}
	return store.Set(ctx, OAuthTokenItem(app), v)
}

// DeleteTokenSet removes app's token set; a missing one matches ErrNotFound.
func DeleteTokenSet(ctx context.Context, store Store, app string) error {
	return store.Delete(ctx, OAuthTokenItem(app))
}
