package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
)

func init() {
	register(benchmark{
		name: "proxy",
		what: "GET /api/profiles per second from 32 clients through `klrbac proxy` (audited, durable) vs straight to the sandbox",
		run:  runProxyThroughput,
	})
	register(benchmark{
		name: "proxy-latency",
		what: "p50 and p99 latency `klrbac proxy` adds to GET /api/profiles at low load (one client)",
		run:  runProxyLatency,
	})
	register(benchmark{
		name: "proxy-audit",
		what: "audit appends per second from 32 goroutines with group commit vs one fsync per entry",
		run:  runProxyAudit,
	})
}

const proxyClients = 32

// proxyRig is a sandbox without rate limits and a proxy in front of it, with a token for a viewer;
// beside the proxy, the floor: a bare net/http reverse proxy in front of the same sandbox, which
// shows what the second HTTP hop alone costs on the machine, and so how near 0.5 a proxy can come.
type proxyRig struct {
	sandbox *server
	floor   *server
	proxy   *exec.Cmd
	url     string
	token   string
}

func startProxyRig(env *benchEnv) (*proxyRig, error) {
	rproxy, err := buildBaseline(env, "rproxy")
	if err != nil {
		return nil, err
	}
	sb, err := startServer(env.klrbac, "sandbox", "--no-rate-limits")
	if err != nil {
		return nil, err
	}
	rig := &proxyRig{sandbox: sb}
	if rig.floor, err = startServer(rproxy, sb.url); err != nil {
		rig.stop()
		return nil, err
	}
	dir, err := os.MkdirTemp(env.dir, "proxy-")
	if err != nil {
		rig.stop()
		return nil, err
	}
	cfg := filepath.Join(dir, "klrbac.yaml")
	if err := os.WriteFile(cfg, []byte("keyring:\n  backend: \"off\"\nusers:\n  bench: viewer\n"), 0o600); err != nil {
		rig.stop()
		return nil, err
	}
	runEnv := append(os.Environ(), "KLRBAC_CONFIG="+cfg, "KLRBAC_PROXY_TOKENS="+filepath.Join(dir, "tokens"),
		"KLRBAC_AUDIT_LOG="+filepath.Join(dir, "audit.log"), "KLAVIYO_KEY_VIEWER="+benchViewerKey)
	create := exec.Command(env.klrbac, "proxy", "token", "create", "bench")
	create.Env = runEnv
	out, err := create.Output()
	if err != nil {
		rig.stop()
		return nil, fmt.Errorf("proxy token create: %w", err)
	}
	rig.token = strings.TrimSpace(string(out))
	port, err := freePort()
	if err != nil {
		rig.stop()
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	rig.proxy = exec.Command(env.klrbac, "proxy", "--listen", addr, "--upstream", sb.url)
	rig.proxy.Env = runEnv
	if err := rig.proxy.Start(); err != nil {
		rig.stop()
		return nil, err
	}
	rig.url = "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(rig.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			rig.stop()
			return nil, fmt.Errorf("the proxy did not become healthy: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return rig, nil
}

func (r *proxyRig) stop() {
	if r.proxy != nil && r.proxy.Process != nil {
		_ = r.proxy.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = r.proxy.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = r.proxy.Process.Kill()
			<-done
		}
	}
	if r.floor != nil {
		r.floor.stop()
	}
	r.sandbox.stop()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func runProxyThroughput(env *benchEnv) error {
	rig, err := startProxyRig(env)
	if err != nil {
		return err
	}
	defer rig.stop()
	rs, err := alternateLoad(env.samples, proxyClients,
		target{rig.url, rig.token}, target{rig.floor.url, benchViewerKey}, target{rig.sandbox.url, benchViewerKey})
	if err != nil {
		return err
	}
	via, floor, direct := rs[0], rs[1], rs[2]
	v, f, d := via.median(), floor.median(), direct.median()
	fmt.Printf("   %d keep-alive clients, one request in flight each, %d alternating samples of %s\n", proxyClients, env.samples, loadSample)
	fmt.Printf("   through klrbac proxy (audited, fsynced) %s\n", via.line())
	fmt.Printf("   through a bare reverse proxy          %s\n", floor.line())
	fmt.Printf("   straight to the sandbox               %s\n", direct.line())
	fmt.Printf("   ratio bare reverse proxy / direct: %.2f  (the second hop alone: no proxy on these cores does better)\n", f/d)
	fmt.Printf("   ratio proxy / direct: %.2f  (target >= 0.40: %s)\n", v/d, verdict(v/d >= 0.40 && via.bad == 0))
	return nil
}

func runProxyLatency(env *benchEnv) error {
	rig, err := startProxyRig(env)
	if err != nil {
		return err
	}
	defer rig.stop()
	const perRound = 200
	targets := []target{{rig.url, rig.token}, {rig.floor.url, benchViewerKey}, {rig.sandbox.url, benchViewerKey}}
	times := make([][]float64, len(targets))
	for round := range max(5, env.samples) {
		for i, t := range targets {
			ms, err := t.timed(perRound)
			if err != nil {
				return fmt.Errorf("%s: %w", t.base, err)
			}
			if round > 0 { // the first round warms connections and caches
				times[i] = append(times[i], ms...)
			}
		}
	}
	via, floor, direct := times[0], times[1], times[2]
	p50v, p50f, p50d := percentile(via, 0.5), percentile(floor, 0.5), percentile(direct, 0.5)
	p99v, p99f, p99d := percentile(via, 0.99), percentile(floor, 0.99), percentile(direct, 0.99)
	fmt.Printf("   one keep-alive client, %d calls each way, alternating rounds of %d\n", len(via), perRound)
	row := func(label string, p50, p99 float64) {
		fmt.Printf("   %-31s p50 %.3f ms  p99 %.3f ms\n", label, p50, p99)
	}
	row("through klrbac proxy:", p50v, p99v)
	row("through a bare reverse proxy:", p50f, p99f)
	row("straight to sandbox:", p50d, p99d)
	fmt.Printf("   %-31s p50 %+.3f ms  p99 %+.3f ms  (the second hop alone)\n", "added by a bare reverse proxy:", p50f-p50d, p99f-p99d)
	fmt.Printf("   %-31s p50 %+.3f ms  p99 %+.3f ms  (target p50 <= +1 ms: %s)\n", "added by klrbac proxy:",
		p50v-p50d, p99v-p99d, verdict(p50v-p50d <= 1))
	return nil
}

func runProxyAudit(env *benchEnv) error {
	const each = 50
	measure := func(grouped bool) (float64, error) {
		path := filepath.Join(env.dir, fmt.Sprintf("proxy-audit-%v.log", grouped))
		defer os.Remove(path)
		defer os.Remove(path + ".lock")
		log, err := audit.Open(path, audit.Options{})
		if err != nil {
			return 0, err
		}
		var store audit.Store = log
		var gc *audit.GroupCommit
		if grouped {
			gc = audit.NewGroupCommit(log, 0)
			store = gc
		}
		var wg sync.WaitGroup
		errs := make(chan error, proxyClients)
		start := time.Now()
		for range proxyClients {
			wg.Go(func() {
				for range each {
					e := audit.Entry{UserID: "bench", Role: "viewer", Action: "GET", Resource: "/api/profiles", Success: true,
						KlaviyoEndpoint: "GET /api/profiles", IPAddress: "127.0.0.1"}
					if _, err := store.AppendAll(context.Background(), []audit.Entry{e}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		d := time.Since(start)
		if gc != nil {
			_ = gc.Close()
		}
		close(errs)
		if err := <-errs; err != nil {
			return 0, err
		}
		return float64(proxyClients*each) / d.Seconds(), nil
	}
	var grouped, single []float64
	for range max(3, env.samples/3) {
		g, err := measure(true)
		if err != nil {
			return err
		}
		s, err := measure(false)
		if err != nil {
			return err
		}
		grouped, single = append(grouped, g), append(single, s)
	}
	g, s := median(grouped), median(single)
	fmt.Printf("   %d goroutines x %d entries, durable appends to one file log\n", proxyClients, each)
	fmt.Printf("   group commit:          median %8.0f appends/s\n", g)
	fmt.Printf("   one fsync per entry:   median %8.0f appends/s\n", s)
	fmt.Printf("   ratio group commit / one fsync per entry: %.1fx\n", g/s)
	return nil
}
