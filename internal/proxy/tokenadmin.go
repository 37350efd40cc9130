package proxy

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/mask"
	"github.com/klrbac/klrbac/internal/warn"
)

// The actions that token changes are recorded under: proxy's own, so that the commands and the
// audit trail's completion name them without a copy.
const (
	ActionTokenCreate = "proxy.token.create"
	ActionTokenRevoke = "proxy.token.revoke"
)

// CreateToken makes a token for user, valid for ttl, and records it (by fingerprint) in t. A token
// whose record cannot be written must not work, so it is revoked again before the refusal; a
// revocation that fails too is told on warnTo, since the token then exists unrecorded.
func CreateToken(ctx context.Context, t *audit.Trail, store TokenStore, user, name string, ttl time.Duration, warnTo io.Writer) (string, Token, error) {
	if err := t.Ready(ctx, ActionTokenCreate, user); err != nil {
		return "", Token{}, err
	}
	secret, tok, err := store.Create(ctx, user, name, ttl)
	if err != nil {
		return "", Token{}, err
	}
	_, err = t.Record(ctx, audit.Entry{Action: ActionTokenCreate, Resource: user, Success: true,
		Fingerprint: mask.Fingerprint(secret), Reason: fmt.Sprintf("token %s, expires %s", tok.ID, tok.Expires.Format(time.RFC3339))})
	if err != nil {
		if _, rerr := store.Revoke(context.WithoutCancel(ctx), tok.ID); rerr != nil {
			warn.Printf(warnTo, "token %s was made but could not be revoked: %v", tok.ID, rerr)
		}
		return "", Token{}, t.Refuse(ActionTokenCreate, user, err)
	}
	return secret, tok, nil
}

// RevokeTokens revokes the token with id ref, or every active token of the user named ref, as an
// audited change: nothing is revoked that the trail cannot record. A ref shaped like a credential
// is recorded as such, never as itself.
func RevokeTokens(ctx context.Context, t *audit.Trail, store TokenStore, ref string) ([]Token, error) {
	resource := ref
	if LooksLikeToken(ref) || mask.LooksSecret(ref) {
		resource = "(credential-shaped argument)"
	}
	var revoked []Token
	err := t.Audited(ctx, audit.Entry{Action: ActionTokenRevoke, Resource: resource}, func() error {
		var err error
		revoked, err = store.Revoke(ctx, ref)
		return err
	})
	return revoked, err
}

// TokenView is the JSON and YAML shape of a token in `proxy token list`: its times in UTC, RFC 3339,
// empty when unset, and its state at the time of listing.
type TokenView struct {
	ID       string `json:"id" yaml:"id"`
	User     string `json:"user" yaml:"user"`
	Name     string `json:"name" yaml:"name"`
	State    string `json:"state" yaml:"state"`
	Created  string `json:"created" yaml:"created"`
	Expires  string `json:"expires" yaml:"expires"`
	LastUsed string `json:"last_used" yaml:"last_used"`
}

// ListTokens lists the store's tokens as seen at now.
func ListTokens(ctx context.Context, store TokenStore, now time.Time) ([]TokenView, error) {
	tokens, err := store.List(ctx)
	if err != nil {
		return nil, err
	}
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	views := make([]TokenView, len(tokens))
	for i, t := range tokens {
		views[i] = TokenView{ID: t.ID, User: t.User, Name: t.Name, State: t.State(now),
			Created: stamp(t.Created), Expires: stamp(t.Expires), LastUsed: stamp(t.LastUsed)}
	}
	return views, nil
}
