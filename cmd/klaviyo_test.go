package cmd

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/klrbac/klrbac/internal/klaviyo"
	"github.com/klrbac/klrbac/internal/ui"
)

// TestKlaviyoClientFollowsConfig: the client commands get talks to KLRBAC_API_URL with
// KLRBAC_REVISION and klrbac's User-Agent.
func TestKlaviyoClientFollowsConfig(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Content-Type", klaviyo.MediaType)
		_, _ = w.Write([]byte(`{"data":[]}`))
	}))
	defer srv.Close()
	t.Setenv("KLRBAC_CONFIG", "")
	t.Setenv("KLRBAC_API_URL", srv.URL)
	t.Setenv("KLRBAC_REVISION", "2026-10-15")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Chdir(t.TempDir())
	a := &app{io: &ui.IO{}}
	opts, err := a.klaviyoOptions()
	if err != nil {
		t.Fatal(err)
	}
	c := klaviyo.New(opts)
	if _, err := c.Do(context.Background(), klaviyo.Request{Path: "/api/profiles", Credential: klaviyo.PrivateKey("pk_" + strings.Repeat("a", 34))}); err != nil {
		t.Fatal(err)
	}
	if got.Get("revision") != "2026-10-15" || !strings.HasPrefix(got.Get("User-Agent"), "klrbac/") || c.APIURL() != srv.URL {
		t.Errorf("headers %v, API URL %s", got, c.APIURL())
	}
}
