package sandbox_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/klrbac/klrbac/internal/browsertest"
	"github.com/klrbac/klrbac/internal/sandbox"
)

// needChromium finds Chromium, or skips when none is installed, except in CI, where its absence is
// a failure.
func needChromium(t *testing.T) string {
	t.Helper()
	if path, ok := browsertest.Path(); ok {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is not installed; .ci/run installs it")
	}
	t.Skip("Chromium is not installed (apt-get install chromium-headless-shell); the consent page is not tested in a browser")
	return ""
}

// TestConsentPageInABrowser presses Allow and Deny on the consent page in headless Chromium, as a
// person authorizing an app from klrbac would.
func TestConsentPageInABrowser(t *testing.T) {
	chromium := needChromium(t)
	callbacks := make(chan url.Values, 2)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/callback" { // not the browser's favicon request
			callbacks <- r.URL.Query()
		}
		_, _ = w.Write([]byte("you may close this window"))
	}))
	defer app.Close()
	f := sandbox.DemoFixture()
	f.Accounts[0].OAuthClients[0].RedirectURIs = []string{app.URL + "/callback"}
	srv := httptest.NewServer(sandbox.New(f, sandbox.Options{}))
	defer srv.Close()

	actx, cancel := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU)
	defer cancel()
	browser, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	for _, button := range []string{"#allow", "#deny"} {
		// A tab per button: in one tab, the next page load could abort the callback page still
		// loading after the redirect (net::ERR_ABORTED).
		ctx, cancelTab := chromedp.NewContext(browser)
		defer cancelTab()
		q := url.Values{
			"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {app.URL + "/callback"},
			"scope": {"profiles:read"}, "state": {"state-" + button[1:]},
			"code_challenge_method": {"S256"}, "code_challenge": {sandbox.S256(verifier)},
		}
		if err := chromedp.Do(ctx,
			chromedp.Navigate(srv.URL+"/oauth/authorize?"+q.Encode()),
			chromedp.WaitVisible(chromedp.CSS(button)),
			chromedp.Click(chromedp.CSS(button)),
		); err != nil {
			t.Fatalf("%s: %v", button, err)
		}
		select {
		case got := <-callbacks:
			switch button {
			case "#allow":
				if got.Get("code") == "" || got.Get("state") != "state-allow" {
					t.Errorf("allow: callback %v", got)
				}
				tok := flow{t, srv.URL}.post("/oauth/token", clientID, secret, url.Values{"grant_type": {"authorization_code"},
					"code": {got.Get("code")}, "code_verifier": {verifier}, "redirect_uri": {app.URL + "/callback"}})
				if tok.status != 200 || tok.Scope != "profiles:read" {
					t.Errorf("exchanging the browser's code: %+v", tok)
				}
			case "#deny":
				if got.Get("error") != "access_denied" || got.Get("state") != "state-deny" || got.Get("code") != "" {
					t.Errorf("deny: callback %v", got)
				}
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the browser never reached the callback", button)
		}
	}
}
