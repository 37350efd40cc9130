package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/klrbac/klrbac/internal/browsertest"
	"github.com/klrbac/klrbac/internal/sandbox"
	"github.com/klrbac/klrbac/internal/secrets"
)

// scriptSandbox holds the sandbox a script started last, for the commands that look inside it.
type scriptSandbox struct{ srv *sandbox.Server }

type sandboxKey struct{}

func setScriptSandbox(ts *testscript.TestScript, srv *sandbox.Server) {
	if s, ok := ts.Value(sandboxKey{}).(*scriptSandbox); ok {
		s.srv = srv
	}
}

func scriptSandboxOf(ts *testscript.TestScript) *sandbox.Server {
	s, ok := ts.Value(sandboxKey{}).(*scriptSandbox)
	if !ok || s.srv == nil {
		ts.Fatalf("no sandbox: start one with the sandbox command first")
	}
	return s.srv
}

// runSaveURL is the scripts' $BROWSER: `saveurl FILE URL` writes URL to FILE, atomically, so that a
// script waiting for the file never reads half of it.
func runSaveURL() int {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: saveurl FILE URL")
		return 2
	}
	tmp := os.Args[1] + ".tmp"
	if err := os.WriteFile(tmp, []byte(os.Args[2]+"\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Rename(tmp, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// runPasteBack is the person at the terminal of a manual login: `pasteback allow|deny PROGRAM
// [ARGS...]` runs PROGRAM (klrbac oauth login --manual ...) with its standard input a pipe, answers
// the sandbox's consent page at the authorize URL PROGRAM prints on stderr, as a browser on another
// machine would, and pastes the address the browser was sent to. PROGRAM's output passes through,
// and its exit status is pasteback's. The address, which holds the code, is never printed.
func runPasteBack() int {
	if len(os.Args) < 3 || (os.Args[1] != "allow" && os.Args[1] != "deny") {
		fmt.Fprintln(os.Stderr, "usage: pasteback allow|deny PROGRAM [ARGS...]")
		return 2
	}
	c := exec.Command(os.Args[2], os.Args[3:]...)
	c.Stdout = os.Stdout
	paste, err := c.StdinPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pasteback:", err)
		return 2
	}
	stderr, err := c.StderrPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pasteback:", err)
		return 2
	}
	if err := c.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "pasteback:", err)
		return 2
	}
	pasted := false
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(os.Stderr, line)
		authURL := strings.TrimSpace(line)
		if pasted || !strings.HasPrefix(line, "  http") || !strings.Contains(authURL, "/oauth/authorize?") {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		loc, err := sandbox.Consent(ctx, nil, authURL, os.Args[1] == "allow")
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "pasteback: the consent page:", err)
			_ = c.Process.Kill()
			_ = c.Wait()
			return 2
		}
		if _, err := fmt.Fprintln(paste, loc); err != nil {
			fmt.Fprintln(os.Stderr, "pasteback: pasting:", err)
		}
		pasted = true
	}
	err = c.Wait()
	if !pasted {
		fmt.Fprintln(os.Stderr, "pasteback: the program printed no authorize URL")
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode()
	case err != nil:
		fmt.Fprintln(os.Stderr, "pasteback:", err)
		return 2
	}
	return 0
}

// authorizeURL waits up to ten seconds for the file a saveurl browser writes, and returns the URL.
// It removes the file, so that the next login's URL is not mistaken for this one.
func authorizeURL(ts *testscript.TestScript, file string) string {
	path := ts.MkAbs(file)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil {
			ts.Check(os.Remove(path))
			return strings.TrimSpace(string(b))
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no browser was opened: %s did not appear within 10s", file)
		}
	}
}

var pageResult = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`<h1 id="result"[^>]*>([^<]*)</h1>`) })

// cmdBrowse stands in for a person at a browser: it takes the authorize URL klrbac opened (from the
// file the saveurl browser wrote), answers the sandbox's consent page, follows the redirect to
// klrbac's callback and prints the callback page's status and title:
//
//	browse allow authorize-url     # callback: 200 Authorized
//	browse deny authorize-url      # callback: 200 Authorization denied
func cmdBrowse(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 || (args[0] != "allow" && args[0] != "deny") {
		ts.Fatalf("usage: browse allow|deny URLFILE")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	loc, err := sandbox.Consent(ctx, nil, authorizeURL(ts, args[1]), args[0] == "allow")
	ts.Check(err)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
	ts.Check(err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.Fatalf("browse: the callback did not answer: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	title := "?"
	if m := pageResult().FindSubmatch(body); m != nil {
		title = html.UnescapeString(string(m[1]))
	}
	fmt.Fprintf(ts.Stdout(), "callback: %d %s\n", resp.StatusCode, title)
}

// scriptCondition answers the scripts' [conditions]. [chromium] holds when Chromium is installed;
// in CI (CI=true) its absence fails the script instead of skipping it, since .ci/run installs it.
func scriptCondition(cond string) (bool, error) {
	switch cond {
	case "chromium":
		_, found := browsertest.Path()
		return chromiumCondition(found, os.Getenv("CI"))
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

func chromiumCondition(found bool, ci string) (bool, error) {
	if !found && ci == "true" {
		return false, fmt.Errorf("chromium is not installed, and CI=true: .ci/run installs it")
	}
	return found, nil
}

// TestChromiumConditionFailsInCI keeps the real-browser script from being skipped where it must run.
func TestChromiumConditionFailsInCI(t *testing.T) {
	for _, c := range []struct {
		found   bool
		ci      string
		want    bool
		wantErr bool
	}{{true, "", true, false}, {true, "true", true, false}, {false, "", false, false}, {false, "true", false, true}} {
		got, err := chromiumCondition(c.found, c.ci)
		if got != c.want || (err != nil) != c.wantErr {
			t.Errorf("found %v, CI=%q: %v, %v", c.found, c.ci, got, err)
		}
	}
	if _, err := scriptCondition("chromiun"); err == nil {
		t.Error("an unknown condition was accepted")
	}
}

// cmdChromium is cmdBrowse in a real browser: headless Chromium, driven by chromedp, loads the
// authorize URL klrbac opened, clicks Allow (or Deny) on the sandbox's consent page and lands on
// klrbac's callback page, whose title it prints:
//
//	[!chromium] skip 'Chromium is not installed'
//	chromium allow authorize-url   # callback: Authorized
//
// A script's chromium commands share one Chromium, started by the first, each in a browser context
// of its own (as a private window is: no cookies or storage from the others): starting Chromium
// takes seconds of CPU, a browser context next to nothing.
func cmdChromium(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 || (args[0] != "allow" && args[0] != "deny") {
		ts.Fatalf("usage: chromium allow|deny URLFILE")
	}
	browser := scriptChromium(ts)
	authURL := authorizeURL(ts, args[1])
	tab, cancelTab := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelTab()
	tab, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	button := chromedp.CSS("#" + args[0])
	if err := chromedp.Do(tab,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(button),
		chromedp.Click(button),
		chromedp.WaitVisible(chromedp.CSS("#result")),
	); err != nil {
		ts.Fatalf("chromium: %v", err)
	}
	title, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("#result")))
	if err != nil {
		ts.Fatalf("chromium: %v", err)
	}
	attr, err := chromedp.Run(tab, chromedp.AttributeValue(chromedp.CSS("#result"), "data-ok"))
	if err != nil {
		ts.Fatalf("chromium: %v", err)
	}
	okAttr := attr.Value
	fmt.Fprintf(ts.Stdout(), "callback: %s (ok=%s)\n", strings.TrimSpace(title), okAttr)
}

type chromiumKey struct{}

// scriptChromium is the script's Chromium, started on first use and stopped when the script ends.
func scriptChromium(ts *testscript.TestScript) context.Context {
	holder, _ := ts.Value(chromiumKey{}).(*context.Context)
	if holder == nil {
		ts.Fatalf("chromium: the script has no place for a browser (see scriptParams)")
	}
	if *holder != nil {
		return *holder
	}
	path, ok := browsertest.Path()
	if !ok {
		ts.Fatalf("chromium is not installed; guard the script with [!chromium] skip")
	}
	// The profile lives outside $WORK: the browser's history holds the callback URL, with its
	// (single-use, already spent) code, and is the browser's business, not klrbac's output.
	profile, err := os.MkdirTemp("", "klrbac-chromium-")
	ts.Check(err)
	ts.Defer(func() { _ = os.RemoveAll(profile) })
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Fewer processes, each a few hundred milliseconds of CPU to start: the pages of the sandbox
		// and of klrbac's callback share one renderer instead of one per site, no spare renderer is
		// started ahead, and no extensions or crash reporter run (about a tenth of the script's
		// CPU). Site isolation guards a person's browsing, which the script has none of.
		chromedp.Flag("disable-features", "site-per-process,IsolateOrigins,SpareRendererForSitePerProcess,Translate,OptimizationHints,MediaRouter,AutofillServerCommunication"),
		chromedp.Flag("disable-site-isolation-trials", true),
		chromedp.Flag("renderer-process-limit", "1"),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-component-extensions-with-background-pages", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.UserDataDir(profile),
	)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	// Deferred calls run last first: the browser is closed, then its process stopped, then (above)
	// its profile removed.
	ts.Defer(cancelAlloc)
	ts.Defer(cancelBrowser)
	// An empty run starts the browser, which lives as long as the context of this first run: so
	// that is the script's, and a timer stands in for a deadline.
	timer := time.AfterFunc(60*time.Second, cancelBrowser)
	err = chromedp.Do(bctx)
	timer.Stop()
	if err != nil {
		ts.Fatalf("chromium: starting: %v", err)
	}
	*holder = bctx
	return bctx
}

// cmdCallAPI calls the sandbox's API with the access token the previous command printed (klrbac
// oauth token), and prints the status and body, as a script using the token would:
//
//	exec klrbac oauth token
//	callapi GET /api/accounts
func cmdCallAPI(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: callapi METHOD PATH (after exec klrbac oauth token)")
	}
	token := strings.TrimSpace(ts.ReadFile("stdout"))
	if token == "" || strings.ContainsAny(token, " \n") {
		ts.Fatalf("callapi: the previous command did not print one token")
	}
	req, err := http.NewRequest(args[0], ts.Getenv("KLRBAC_API_URL")+args[1], nil)
	ts.Check(err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("revision", "2026-07-15")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%d\n%s\n", resp.StatusCode, body)
	if (resp.StatusCode == http.StatusOK) == neg {
		ts.Fatalf("callapi: %d", resp.StatusCode)
	}
}

// cmdTokenSet changes a token set in the fake keyring, as time or another machine would:
//
//	tokenset default expires 30s       # the access token expires 30s from now
//	tokenset default expires -1m       # it expired a minute ago
//	tokenset default drop-refresh      # no refresh token
func cmdTokenSet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: tokenset APP expires DURATION | tokenset APP drop-refresh")
	}
	fk := &fileKeyring{path: ts.Getenv(testKeyringEnv)}
	items, err := fk.load()
	ts.Check(err)
	k := key(secrets.Service, secrets.OAuthTokenItem(args[0]).String())
	raw, ok := items[k]
	if !ok {
		ts.Fatalf("tokenset: the keyring holds no token set for %s", args[0])
	}
	var set map[string]any
	ts.Check(json.Unmarshal([]byte(raw), &set))
	switch {
	case args[1] == "expires" && len(args) == 3:
		d, err := time.ParseDuration(args[2])
		ts.Check(err)
		set["expiry"] = time.Now().Add(d).UTC().Format(time.RFC3339Nano)
	case args[1] == "drop-refresh" && len(args) == 2:
		delete(set, "refresh_token")
	default:
		ts.Fatalf("usage: tokenset APP expires DURATION | tokenset APP drop-refresh")
	}
	b, err := json.Marshal(set)
	ts.Check(err)
	items[k] = string(b)
	ts.Check(fk.save(items))
}

// cmdFreePort sets a variable to a loopback port free at the time, so that a script's redirect URI
// does not collide with other scripts', or with another test run on the machine:
//
//	freeport PORT
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport NAME")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ts.Check(ln.Close())
	ts.Setenv(args[0], port)
}

// cmdExpandEnv replaces $NAME and ${NAME} in files with the script's variables, for fixtures and
// configs that name a port chosen by freeport:
//
//	expandenv klrbac.yaml fixture.yaml
func cmdExpandEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: expandenv FILE...")
	}
	for _, f := range args {
		ts.Check(os.WriteFile(ts.MkAbs(f), []byte(os.Expand(ts.ReadFile(f), ts.Getenv)), 0o600))
	}
}

// cmdSandboxCount checks how many requests the script's sandbox answered for an operation with a
// status:
//
//	sandboxcount 'POST /oauth/token' 200 2
func cmdSandboxCount(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: sandboxcount 'METHOD PATH' STATUS N")
	}
	status, err := strconv.Atoi(args[1])
	ts.Check(err)
	want, err := strconv.Atoi(args[2])
	ts.Check(err)
	if got := scriptSandboxOf(ts).Stats().Count(args[0], status); got != want {
		ts.Fatalf("the sandbox answered %s with %d %d times, want %d", args[0], status, got, want)
	}
}
