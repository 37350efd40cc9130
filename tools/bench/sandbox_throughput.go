package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

func init() {
	register(benchmark{
		name: "sandbox",
		what: "scope-checked GETs per second that `klrbac sandbox` answers over keep-alive loopback, vs a bare net/http server",
		run:  runSandboxThroughput,
	})
}

// loadWorkers is the sandbox benchmark's number of connections.
const loadWorkers = 16

// server is a subprocess serving HTTP on loopback.
type server struct {
	url string
	cmd *exec.Cmd
}

// startServer runs argv and waits for the URL it prints as its first line on stdout.
func startServer(argv ...string) (*server, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "http://") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s printed no URL", argv[0])
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return &server{url: lines.Text(), cmd: cmd}, nil
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func runSandboxThroughput(env *benchEnv) error {
	bare, err := buildBaseline(env, "httpbare")
	if err != nil {
		return err
	}
	sb, err := startServer(env.klrbac, "sandbox", "--no-rate-limits")
	if err != nil {
		return err
	}
	defer sb.stop()
	floor, err := startServer(bare)
	if err != nil {
		return err
	}
	defer floor.stop()

	rs, err := alternateLoad(env.samples, loadWorkers, target{sb.url, benchViewerKey}, target{floor.url, benchViewerKey})
	if err != nil {
		return err
	}
	sbRates, floorRates := rs[0], rs[1]
	s, f := sbRates.median(), floorRates.median()
	fmt.Printf("   %d keep-alive connections, one request in flight each, %d alternating samples of %s\n", loadWorkers, env.samples, loadSample)
	fmt.Printf("   klrbac sandbox (GET /api/profiles, viewer key) %s\n", sbRates.line())
	fmt.Printf("   bare net/http handler                          %s\n", floorRates.line())
	fmt.Printf("   ratio sandbox / bare net/http: %.2f\n", s/f)
	fmt.Printf("   absolute: %.0f req/s  (target >= 10,000/s: %s)\n", s, verdict(s >= 10000 && sbRates.bad == 0))
	return nil
}
