// Package browsertest finds the Chromium that the real-browser tests drive.
package browsertest

import "os/exec"

// candidates are tried in order: Debian's chromium-headless-shell first, Chromium's own headless
// build, which starts in about a quarter of the full browser's CPU (it loads no desktop libraries),
// then the full browser under the names distributions give it.
var candidates = []string{
	"/usr/bin/chromium-headless-shell", "chromium-headless-shell", "headless-shell",
	"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
}

// Path is the Chromium to drive, and whether there is one.
func Path() (string, bool) {
	for _, name := range candidates {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}
