package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/audit"
	"github.com/klrbac/klrbac/internal/sandbox"
)

// startChild runs a proxy in a child process and returns its address and the process.
func startChild(t *testing.T, listen string, env ...string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + listen}, env...)...)
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if addr, ok := strings.CutPrefix(lines.Text(), "listening "); ok {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return addr, cmd
		}
	}
	t.Fatal("the proxy child never listened")
	return "", nil
}

// A proxy killed under load has written every entry of every call it answered: group commit
// answers a call only once the batch holding its entry is on disk.
func TestCrashLosesNoAcknowledgedEntry(t *testing.T) {
	dir := t.TempDir()
	sb := httptest.NewServer(sandbox.New(nil, sandbox.Options{}))
	defer sb.Close()
	cfg := filepath.Join(dir, "klrbac.yaml")
	if err := os.WriteFile(cfg, []byte(baseConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "proxy-tokens")
	file, _ := OpenTokenFile(tokens, nil)
	tok, _, err := file.Create(context.Background(), "alice", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "audit.log")
	addr, child := startChild(t, "127.0.0.1:0", childUpstream+"="+sb.URL, childAuditLog+"="+log, childTokens+"="+tokens, childConfig+"="+cfg)

	var (
		mu    sync.Mutex
		acked []string
		sent  atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 16 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("crash-%d-%d", w, i)
				req, _ := http.NewRequest("GET", "http://"+addr+"/api/profiles/"+id, nil)
				req.Header.Set("Authorization", "Klaviyo-API-Key "+tok)
				req.Header.Set("revision", revision)
				sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					return
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusServiceUnavailable {
					mu.Lock()
					acked = append(acked, "/api/profiles/"+id)
					mu.Unlock()
				}
			}
		})
	}
	// Let calls pile up, then kill the proxy in the middle of them.
	for sent.Load() < 400 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()

	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	written := map[string]bool{}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if e, err := audit.ParseLine(line); err == nil {
			written[e.Resource] = true
		}
	}
	if len(acked) < 50 {
		t.Fatalf("only %d calls were answered before the kill: the test proves nothing", len(acked))
	}
	for _, r := range acked {
		if !written[r] {
			t.Errorf("call %s was answered but its audit entry is not in the log", r)
		}
	}
	t.Logf("%d calls answered, %d entries on disk", len(acked), len(written))
}
