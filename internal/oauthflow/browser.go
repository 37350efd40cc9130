package oauthflow

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/cli/browser"
)

// browserEnv names the browser command, as many Unix tools read it.
const browserEnv = "BROWSER"

// browserWait is how long klrbac waits to see whether the browser command failed at once; a
// browser that keeps running is left to run.
const browserWait = 3 * time.Second

// OpenBrowser shows url in a browser: $BROWSER when set — a command, or a colon-separated list
// of commands tried in turn, with %s standing for the URL (else it comes last) — otherwise what
// github.com/cli/browser finds (xdg-open, x-www-browser, ...). The browser's own output is
// discarded: klrbac's stdout is for results, and browsers are chatty.
func OpenBrowser(url string) error {
	if spec := os.Getenv(browserEnv); strings.TrimSpace(spec) != "" {
		var err error
		for _, entry := range strings.Split(spec, ":") {
			argv := strings.Fields(entry)
			if len(argv) == 0 {
				continue
			}
			substituted := false
			for i, arg := range argv {
				if strings.Contains(arg, "%s") {
					argv[i], substituted = strings.ReplaceAll(arg, "%s", url), true
				}
			}
			if !substituted {
				argv = append(argv, url)
			}
			if err = startBrowser(exec.Command(argv[0], argv[1:]...)); err == nil {
				return nil
			}
		}
		return fmt.Errorf("$%s: %w", browserEnv, err)
	}
	browser.Stdout, browser.Stderr = io.Discard, io.Discard
	done := make(chan error, 1)
	go func() { done <- browser.OpenURL(url) }()
	select {
	case err := <-done:
		return err
	case <-time.After(browserWait):
		return nil
	}
}

// startBrowser starts a browser command and reports its failure if it fails at once.
func startBrowser(c *exec.Cmd) error {
	c.Stdout, c.Stderr = io.Discard, io.Discard
	if err := c.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s exited with status %d", c.Path, ee.ExitCode())
		}
		return err
	case <-time.After(browserWait):
		return nil
	}
}
