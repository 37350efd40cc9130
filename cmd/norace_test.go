//go:build !race

package cmd

// raceDetector says whether this test binary was built with -race.
const raceDetector = false
