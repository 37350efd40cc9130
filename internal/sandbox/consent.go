package sandbox

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// requestField finds the consent form's hidden request id; compiled on first use.
var requestField = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`<input type="hidden" name="request" value="([^"]*)">`)
})

// Consent answers an authorization request the way a person at the sandbox's consent page does,
// without a browser: it loads authorizeURL, presses Allow (allow true) or Deny, and returns where
// the sandbox sends the browser next, the app's redirect URI with a code or an error, and the state.
// It never follows that redirect: the caller delivers it, to a loopback listener or elsewhere. For
// tests and benchmarks that stand in for a browser; client must not follow redirects (nil: one
// that does not).
func Consent(ctx context.Context, client *http.Client, authorizeURL string, allow bool) (string, error) {
	if client == nil {
		client = &http.Client{}
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	switch {
	case resp.StatusCode == http.StatusFound:
		// The request was refused through the redirect URI (a bad scope, say): no page to answer.
		return resp.Header.Get("Location"), nil
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("consent page: HTTP %d: %s", resp.StatusCode, pageText(body))
	}
	m := requestField().FindSubmatch(body)
	if m == nil {
		return "", errors.New("consent page: no consent form")
	}
	decision := "deny"
	if allow {
		decision = "allow"
	}
	base, err := url.Parse(authorizeURL)
	if err != nil {
		return "", err
	}
	action := base.ResolveReference(&url.URL{Path: "/oauth/authorize"})
	form := url.Values{"request": {html.UnescapeString(string(m[1]))}, "decision": {decision}}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.Do(req)
	if err != nil {
		return "", err
	}
	body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("consent: HTTP %d: %s", resp.StatusCode, pageText(body))
	}
	return resp.Header.Get("Location"), nil
}

// pageText is an error page's message without its markup, for error messages.
func pageText(body []byte) string {
	s := string(body)
	if i := strings.Index(s, "<h1"); i >= 0 {
		s = s[i:]
	}
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(html.UnescapeString(b.String())), " ")
}
