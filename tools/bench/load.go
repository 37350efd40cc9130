package main

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator the HTTP throughput and latency benchmarks share. It speaks HTTP/1.1 over plain
// sockets with a prepared request: on two cores net/http's client costs more than the servers under
// test and would measure itself.

const (
	// The demo's viewer key, which holds profiles:read: every call passes the scope check.
	benchViewerKey = "pk_2cfe4e666cee9366c8d0c7eaf2911a6936"
	loadSample     = time.Second
)

// target is a server under load: where it is, and the credential its calls carry.
type target struct {
	base, credential string
}

// request is the call every benchmark sends, GET /api/profiles, as bytes ready to write.
func (t target) request() (host string, req []byte) {
	host = strings.TrimPrefix(t.base, "http://")
	return host, []byte("GET /api/profiles?page[size]=1 HTTP/1.1\r\nHost: " + host +
		"\r\nAuthorization: Klaviyo-API-Key " + t.credential +
		"\r\nrevision: 2026-07-15\r\nAccept: application/vnd.api+json\r\nUser-Agent: klrbac-bench\r\n\r\n")
}

// load sends the call from workers keep-alive connections for d, one request in flight per
// connection, and returns the rate of 200 answers and the number of other answers.
func (t target) load(workers int, d time.Duration) (perSec float64, bad int64, err error) {
	host, req := t.request()
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

// timed sends n calls one after another over one keep-alive connection and returns each one's
// time in milliseconds.
func (t target) timed(n int) ([]float64, error) {
	host, req := t.request()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 4096)
	out := make([]float64, 0, n)
	for range n {
		start := time.Now()
		ok, err := exchange(conn, r, req)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("a call was not answered 200")
		}
		out = append(out, ms(time.Since(start)))
	}
	return out, nil
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

// rates are one side's samples of a throughput comparison.
type rates struct {
	perSec []float64
	bad    int64 // answers other than 200, over all samples
}

func (r rates) median() float64 { return median(r.perSec) }

// line reports the median with its spread.
func (r rates) line() string {
	return fmt.Sprintf("median %8.0f req/s  (p10 %.0f, p90 %.0f; %d non-200)",
		r.median(), percentile(r.perSec, 0.1), percentile(r.perSec, 0.9), r.bad)
}

// alternateLoad warms the targets, then loads them in turn, samples times each for loadSample, with
// workers connections: a busy machine then slows them all alike, and their ratios hold.
func alternateLoad(samples, workers int, targets ...target) ([]rates, error) {
	out := make([]rates, len(targets))
	for _, t := range targets {
		if _, _, err := t.load(workers, 300*time.Millisecond); err != nil {
			return nil, fmt.Errorf("%s: %w", t.base, err)
		}
	}
	for range samples {
		for i, t := range targets {
			v, bad, err := t.load(workers, loadSample)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.base, err)
			}
			out[i].perSec, out[i].bad = append(out[i].perSec, v), out[i].bad+bad
		}
	}
	return out, nil
}
