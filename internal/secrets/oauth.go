package secrets

import (
	"context"
	"encoding/json"
	"fmt"
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

// TokenSet is what an OAuth authorization leaves to keep: the tokens and what they grant. Its
// tokens are Secrets, so printing a TokenSet shows masks.
type TokenSet struct {
	AccessToken  Secret
	RefreshToken Secret
	TokenType    string
	// Scope is the space-separated scopes Klaviyo granted.
	Scope string
	// Expiry is when the access token expires; zero if unknown.
	Expiry time.Time
}

// storedTokenSet is the JSON kept in the keyring. It is the only place token values are encoded;
// TokenSet itself marshals to masks.
type storedTokenSet struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Scope        string    `json:"scope,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

func encodeTokenSet(t TokenSet) (Secret, error) {
	b, err := json.Marshal(storedTokenSet{
		AccessToken: t.AccessToken.Reveal(), RefreshToken: t.RefreshToken.Reveal(),
		TokenType: t.TokenType, Scope: t.Scope, Expiry: t.Expiry.UTC(),
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
