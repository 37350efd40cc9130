package sandbox_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/sandbox"
)

// startListening runs a sandbox as `klrbac sandbox` does, with its own server and limits, on a free
// loopback port, and returns its host:port.
func startListening(t *testing.T) string {
	t.Helper()
	srv := sandbox.New(nil, sandbox.Options{})
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return strings.TrimPrefix(srv.URL(), "http://")
}

// rawExchange sends req on a new connection and returns the answer's status, Content-Type and body.
func rawExchange(t *testing.T, host, req string) (int, string, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	go func() { _, _ = io.WriteString(c, req) }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// jsonAPIError checks that body is a JSON:API error document with one error of the status.
func jsonAPIError(t *testing.T, what, contentType, body string, status int) {
	t.Helper()
	var doc struct {
		Errors []struct {
			ID     string `json:"id"`
			Status int    `json:"status"`
			Code   string `json:"code"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	if contentType != "application/vnd.api+json" || json.Unmarshal([]byte(body), &doc) != nil || len(doc.Errors) != 1 ||
		doc.Errors[0].Status != status || doc.Errors[0].Code == "" || doc.Errors[0].Detail == "" || doc.Errors[0].ID == "" {
		t.Errorf("%s: not a JSON:API error of status %d: %s %q", what, status, contentType, body)
	}
}

// TestSandboxRefusesUnreadableRequestsAsKlaviyo: requests net/http refuses before any handler runs
// are answered with a JSON:API error document, as every other sandbox error is.
func TestSandboxRefusesUnreadableRequestsAsKlaviyo(t *testing.T) {
	host := startListening(t)
	for _, c := range []struct {
		name, req string
		status    int
	}{
		{"negative Content-Length", "POST /api/profiles HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: -1\r\n\r\n", 400},
		{"two Content-Lengths", "POST /api/profiles HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
		{"malformed request line", "GARBAGE\r\n\r\n", 400},
		{"headers too large", "GET /api/profiles HTTP/1.1\r\nHost: " + host + "\r\nX-Filler: " + strings.Repeat("f", 2<<20) + "\r\n\r\n", 431},
		{"unknown Transfer-Encoding", "POST /api/profiles HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
	} {
		status, ct, body := rawExchange(t, host, c.req)
		if status != c.status {
			t.Errorf("%s: status %d, want %d", c.name, status, c.status)
		}
		jsonAPIError(t, c.name, ct, body, c.status)
	}
	// Answers handlers write are left alone.
	status, ct, body := rawExchange(t, host, "GET /api/profiles HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
	if status != 400 || !strings.Contains(body, "revision") {
		t.Errorf("no revision: %d %s", status, body)
	}
	jsonAPIError(t, "no revision", ct, body, 400)
}

// TestSandboxBoundsOAuthForms: the OAuth endpoints read at most a small form; a larger body is
// refused (413) without being read into memory, as the review's 10 MB form flood did.
func TestSandboxBoundsOAuthForms(t *testing.T) {
	host := startListening(t)
	big := url.Values{"request": {strings.Repeat("r", 10<<20)}, "decision": {"allow"}}.Encode()
	for _, path := range []string{"/oauth/authorize", "/oauth/token", "/oauth/revoke"} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+host+path, strings.NewReader(big))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("klrbac-demo-client", "f84aae6dcfcdac58a15ec4b3e420232276")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			// The server may close the connection before the client has sent it all.
			if !strings.Contains(err.Error(), "connection reset") && !strings.Contains(err.Error(), "broken pipe") {
				t.Errorf("%s: %v", path, err)
			}
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s with a 10 MB form: %d %s", path, resp.StatusCode, b[:min(len(b), 200)])
		}
	}
	// An ordinary form still works: the consent of an unknown request is refused as such.
	resp, err := http.PostForm("http://"+host+"/oauth/authorize", url.Values{"request": {"nosuch"}, "decision": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("small form: %d", resp.StatusCode)
	}
}

// TestSandboxCutsOffSlowClients: connections that send their headers or their body a little at a
// time and never finish, or stay open after an answer, are closed by the server rather than held
// for as long as the client likes (the review held 5,000 of them).
func TestSandboxCutsOffSlowClients(t *testing.T) {
	defer sandbox.ShortenTimeouts(200 * time.Millisecond)()
	host := startListening(t)
	for _, c := range []struct{ name, req string }{
		{"headers never finished", "GET /api/profiles HTTP/1.1\r\nHost: " + host + "\r\n"},
		{"body never finished", "POST /api/profiles HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Klaviyo-API-Key " + adminKey +
			"\r\nrevision: " + revision + "\r\nContent-Type: application/vnd.api+json\r\nContent-Length: 100000\r\n\r\n{\"data\":"},
		{"idle after an answer", "GET /_sandbox/health HTTP/1.1\r\nHost: " + host + "\r\n\r\n"},
	} {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(conn, c.req)
		// Far beyond the shortened timeouts: only a server that never closes reaches it.
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadAll(conn); err != nil {
			t.Errorf("%s: the server held the connection: %v", c.name, err)
		}
		conn.Close()
	}
}
