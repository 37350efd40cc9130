package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func init() {
	register(benchmark{
		name: "sandbox",
		what: "scope-checked GETs per second that `klrbac sandbox` answers over keep-alive loopback, vs a bare net/http server",
		run:  runSandboxThroughput,
	})
}

const (
	// The demo's viewer key, which holds profiles:read: every call passes the scope check.
	benchViewerKey = "pk_2cfe4e666cee9366c8d0c7eaf2911a6936"
	loadWorkers    = 16
	loadSample     = time.Second
)

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

// load sends GET /api/profiles from loadWorkers keep-alive connections for d, one request in
// flight per connection, and returns the rate of 200 answers and the number of other answers. It
// speaks HTTP/1.1 over plain sockets with a prepared request: on two cores net/http's client costs
// more than the servers under test and would measure itself.
func load(base string, d time.Duration) (perSec float64, bad int64, err error) {
	return loadWith(base, benchViewerKey, loadWorkers, d)
}

// loadWith is load with the credential and the number of connections given.
func loadWith(base, credential string, workers int, d time.Duration) (perSec float64, bad int64, err error) {
	host := strings.TrimPrefix(base, "http://")
	req := []byte("GET /api/profiles?page[size]=1 HTTP/1.1\r\nHost: " + host +
		"\r\nAuthorization: Klaviyo-API-Key " + credential +
		"\r\nrevision: 2026-07-15\r\nAccept: application/vnd.api+json\r\nUser-Agent: klrbac-bench\r\n\r\n")
	deadline := time.Now().Add(d)
	var ok, other atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			if err := keepAlive(host, req, deadline, &ok, &other); err != nil {
				firstErr.CompareAndSwap(nil, err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if e, _ := firstErr.Load().(error); e != nil {
		return 0, other.Load(), e
	}
	return float64(ok.Load()) / elapsed.Seconds(), other.Load(), nil
}

// keepAlive sends req over one connection until deadline, reading each answer whole.
func keepAlive(host string, req []byte, deadline time.Time, ok, other *atomic.Int64) error {
	conn, err := net.Dial("tcp", host)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline.Add(10 * time.Second))
	r := bufio.NewReaderSize(conn, 4096)
	for time.Now().Before(deadline) {
		got200, err := exchange(conn, r, req)
		if err != nil {
			return err
		}
		if got200 {
			ok.Add(1)
		} else {
			other.Add(1)
		}
	}
	return nil
}

// exchange sends req over conn and reads the whole answer, reporting whether it was a 200.
func exchange(conn net.Conn, r *bufio.Reader, req []byte) (bool, error) {
	if _, err := conn.Write(req); err != nil {
		return false, err
	}
	status, err := r.ReadSlice('\n')
	if err != nil {
		return false, err
	}
	got200 := strings.HasPrefix(string(status), "HTTP/1.1 200 ")
	length := -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return false, err
		}
		if len(line) <= 2 {
			break
		}
		if name, value, found := strings.Cut(string(line), ":"); found && strings.EqualFold(name, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(value))
		}
	}
	if length < 0 {
		return false, fmt.Errorf("answer without Content-Length: %q", status)
	}
	if _, err := r.Discard(length); err != nil {
		return false, err
	}
	return got200, nil
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

	// Warm both: connections, the sandbox's route table and quota entries.
	for _, u := range []string{sb.url, floor.url} {
		if _, _, err := load(u, 300*time.Millisecond); err != nil {
			return err
		}
	}
	var sbRates, floorRates []float64
	var sbBad, floorBad int64
	for range env.samples {
		r, bad, err := load(sb.url, loadSample)
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		sbRates, sbBad = append(sbRates, r), sbBad+bad
		r, bad, err = load(floor.url, loadSample)
		if err != nil {
			return fmt.Errorf("bare net/http: %w", err)
		}
		floorRates, floorBad = append(floorRates, r), floorBad+bad
	}
	s, f := median(sbRates), median(floorRates)
	fmt.Printf("   %d keep-alive connections, one request in flight each, %d alternating samples of %s\n", loadWorkers, env.samples, loadSample)
	fmt.Printf("   klrbac sandbox (GET /api/profiles, viewer key) median %8.0f req/s  (p10 %.0f, p90 %.0f; %d non-200)\n",
		s, percentile(sbRates, 0.1), percentile(sbRates, 0.9), sbBad)
	fmt.Printf("   bare net/http handler                          median %8.0f req/s  (p10 %.0f, p90 %.0f; %d non-200)\n",
		f, percentile(floorRates, 0.1), percentile(floorRates, 0.9), floorBad)
	fmt.Printf("   ratio sandbox / bare net/http: %.2f\n", s/f)
	fmt.Printf("   absolute: %.0f req/s  (target >= 10,000/s: %s)\n", s, verdict(s >= 10000 && sbBad == 0))
	return nil
}
