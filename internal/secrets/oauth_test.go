package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/klrbac/klrbac/internal/fault"
)

func TestTokenSetRoundTrip(t *testing.T) {
	s := mockKeyring(t, nil)
	ctx := context.Background()
	const access, refresh = "access-token-0123456789abcdef-aaaa", "refresh-token-0123456789abcdef-rrrr"
	want := TokenSet{AccessToken: NewSecret(access), RefreshToken: NewSecret(refresh), TokenType: "Bearer",
		Scope: "profiles:read lists:read", Expiry: time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)}
	if _, err := GetTokenSet(ctx, s, "crm"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing token set: %v", err)
	}
	if err := SetTokenSet(ctx, s, "crm", want); err != nil {
		t.Fatal(err)
	}
	raw, err := keyring.Get(Service, "oauth-token:crm")
	if err != nil || !strings.Contains(raw, `"refresh_token":"`+refresh+`"`) || !strings.Contains(raw, `"expiry":"2026-07-15T12:00:00Z"`) {
		t.Fatalf("stored JSON %q, %v", raw, err)
	}
	got, err := GetTokenSet(ctx, s, "crm")
	if err != nil {
		t.Fatal(err)
	}
	if !got.AccessToken.Equal(want.AccessToken) || !got.RefreshToken.Equal(want.RefreshToken) ||
		got.TokenType != want.TokenType || got.Scope != want.Scope || !got.Expiry.Equal(want.Expiry) {
		t.Errorf("round trip: %+v", got)
	}
	if printed := fmt.Sprintf("%+v %#v", got, got); strings.Contains(printed, access) || strings.Contains(printed, refresh) {
		t.Errorf("printing a token set reveals a token: %s", printed)
	}
	if err := DeleteTokenSet(ctx, s, "crm"); err != nil {
		t.Fatal(err)
	}
	if err := DeleteTokenSet(ctx, s, "crm"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestUnreadableTokenSet(t *testing.T) {
	s := mockKeyring(t, nil)
	ctx := context.Background()
	for _, bad := range []string{"not json at all", `{"scope":"x"}`, `{"access_token": 7}`} {
		_ = s.Set(ctx, OAuthTokenItem("crm"), NewSecret(bad))
		_, err := GetTokenSet(ctx, s, "crm")
		if fault.KindOf(err) != fault.Unavailable || !strings.Contains(err.Error(), "token set for OAuth app crm is unreadable") {
			t.Errorf("%q: %v", bad, err)
		}
		if strings.Contains(err.Error(), bad) {
			t.Errorf("error quotes the data: %v", err)
		}
	}
}

func TestCheckAppName(t *testing.T) {
	for _, ok := range []string{"default", "crm-sync", "a", "app.v2_x"} {
		if err := CheckAppName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "Upper", "has space", "a:b", strings.Repeat("a", 65)} {
		if err := CheckAppName(bad); fault.KindOf(err) != fault.Usage {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzDecodeTokenSet: data read back from the keyring never panics the decoder, and a decoded set
// encodes back to an equivalent one.
func FuzzDecodeTokenSet(f *testing.F) {
	for _, s := range []string{`{"access_token":"a","refresh_token":"r","token_type":"Bearer","scope":"x y","expiry":"2026-01-02T03:04:05Z"}`,
		`{}`, `null`, `[]`, `{"access_token":""}`, `{"expiry":"yesterday","access_token":"a"}`, "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		ts, err := decodeTokenSet(NewSecret(data))
		if err != nil {
			if len(data) >= 16 && strings.Contains(err.Error(), data) {
				t.Fatalf("error quotes the data: %v", err)
			}
			return
		}
		enc, err := encodeTokenSet(ts)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeTokenSet(enc)
		if err != nil || !again.AccessToken.Equal(ts.AccessToken) || !again.RefreshToken.Equal(ts.RefreshToken) ||
			again.Scope != ts.Scope || again.TokenType != ts.TokenType || !again.Expiry.Equal(ts.Expiry) {
			t.Fatalf("round trip of %q: %+v, %v", data, again, err)
		}
	})
}

// TestTokenSetKeepsWhatTheLoginKnew round-trips the fields beyond the tokens: the app and client
// they belong to, the account, and when they were obtained.
func TestTokenSetKeepsWhatTheLoginKnew(t *testing.T) {
	s := mockKeyring(t, nil)
	ctx := context.Background()
	at := time.Date(2026, 7, 15, 11, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	want := TokenSet{AccessToken: NewSecret("access-token-0123456789abcdef-aaaa"), RefreshToken: NewSecret("refresh-token-0123456789abcdef-rrrr"),
		Scope: "accounts:read profiles:read", Expiry: at.Add(time.Hour), App: "crm", ClientID: "crm-client",
		Requested: "accounts:read profiles:read lists:read", AccountID: "DEMO01", AccountName: "Demo Company",
		Authorized: at, Obtained: at.Add(time.Minute)}
	if err := SetTokenSet(ctx, s, "crm", want); err != nil {
		t.Fatal(err)
	}
	got, err := GetTokenSet(ctx, s, "crm")
	if err != nil {
		t.Fatal(err)
	}
	if got.App != want.App || got.ClientID != want.ClientID || got.Requested != want.Requested || got.AccountID != want.AccountID ||
		got.AccountName != want.AccountName || !got.Authorized.Equal(want.Authorized) || !got.Obtained.Equal(want.Obtained) {
		t.Errorf("round trip: %+v", got)
	}
	if !slicesEqual(got.Scopes(), []string{"accounts:read", "profiles:read"}) || !got.Refreshable() {
		t.Errorf("scopes %v, refreshable %v", got.Scopes(), got.Refreshable())
	}
	if left := got.Remaining(at.Add(30 * time.Minute)); left != 30*time.Minute {
		t.Errorf("remaining %s", left)
	}
	if (TokenSet{}).Remaining(at) <= 24*time.Hour {
		t.Error("a token set without expiry counts as expiring")
	}
	raw, _ := keyring.Get(Service, "oauth-token:crm")
	if !strings.Contains(raw, `"authorized":"2026-07-15T09:00:00Z"`) || strings.Contains(raw, `"obtained":"0001`) {
		t.Errorf("stored JSON %s", raw)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, " ") == strings.Join(b, " ") }
