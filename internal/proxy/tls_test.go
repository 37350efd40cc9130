package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klrbac/klrbac/internal/fault"
	"github.com/klrbac/klrbac/internal/sandbox"
)

// nonLoopback is the address the TLS test listens on: a documentation address (TEST-NET-1), added to
// the loopback interface of a network namespace of the test's own, so nothing outside it is touched.
const nonLoopback = "192.0.2.10"

func TestListenRules(t *testing.T) {
	for _, c := range []struct {
		listen, cert, key string
		insecure, ok      bool
	}{
		{"127.0.0.1:8790", "", "", false, true},
		{"127.0.0.2:8790", "", "", false, true},
		{"[::1]:8790", "", "", false, true},
		{"localhost:8790", "", "", false, true},
		{"0.0.0.0:8790", "", "", false, false},
		{":8790", "", "", false, false},
		{"192.0.2.10:8790", "", "", false, false},
		{"192.0.2.10:8790", "c.pem", "k.pem", false, true},
		{"192.0.2.10:8790", "", "", true, true},
		{"192.0.2.10:8790", "c.pem", "", false, false},
		{"nonsense", "", "", false, false},
	} {
		err := CheckListen(c.listen, c.cert, c.key, c.insecure)
		if (err == nil) != c.ok {
			t.Errorf("CheckListen(%q, cert %q, key %q, insecure %v) = %v", c.listen, c.cert, c.key, c.insecure, err)
		}
		if err != nil && fault.KindOf(err) != fault.Usage {
			t.Errorf("CheckListen(%q): %v is not a usage error", c.listen, err)
		}
	}
}

// TestTLSOnANonLoopbackAddress runs the proxy in a user and network namespace of its own, where
// 192.0.2.10 is a local address that is not loopback: plaintext is refused there, TLS works.
func TestTLSOnANonLoopbackAddress(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err == nil {
		err = exec.Command(unshare, "-rn", "true").Run()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs user and network namespaces (unshare -rn) for this test: %v", err)
		}
		t.Skipf("skipping: no user and network namespaces here (unshare -rn: %v)", err)
	}
	cmd := exec.Command(unshare, "-rn", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childNamespace+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "namespace test passed") {
		t.Fatalf("in the namespace: %v\n%s", err, out)
	}
}

// namespaceChild is the TLS test inside its namespace; it prints what went wrong, or that it passed.
func namespaceChild() int {
	if err := namespaceTest(os.Getenv(childNamespace)); err != nil {
		fmt.Println("namespace test failed:", err)
		return 1
	}
	fmt.Println("namespace test passed")
	return 0
}

func namespaceTest(dir string) error {
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", nonLoopback + "/32", "dev", "lo"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	sb := httptest.NewServer(sandbox.New(nil, sandbox.Options{}))
	defer sb.Close()
	cfg := filepath.Join(dir, "klrbac.yaml")
	if err := os.WriteFile(cfg, []byte(baseConfig), 0o600); err != nil {
		return err
	}
	tokens := filepath.Join(dir, "proxy-tokens")
	file, _ := OpenTokenFile(tokens, nil)
	tok, _, err := file.Create(context.Background(), "alice", "", time.Hour)
	if err != nil {
		return err
	}
	certFile, keyFile, pool, err := selfSigned(dir, nonLoopback)
	if err != nil {
		return err
	}
	opts := childOptions(nonLoopback + ":0")
	opts.Upstream, opts.AuditLog, opts.TokensFile = sb.URL, filepath.Join(dir, "audit.log"), tokens
	opts.Loader.Config.File = cfg
	opts.Stderr = io.Discard

	// Plaintext on this address is refused before anything starts.
	plain := opts
	if err := Run(context.Background(), plain); fault.KindOf(err) != fault.Usage || !strings.Contains(err.Error(), "without TLS") {
		return fmt.Errorf("plaintext on %s: %v", nonLoopback, err)
	}

	withTLS := opts
	withTLS.TLSCert, withTLS.TLSKey = certFile, keyFile
	ready := make(chan string, 1)
	withTLS.Ready = func(addr string) { ready <- addr }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, withTLS) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		return fmt.Errorf("TLS proxy did not start: %v", err)
	}
	if host, _, _ := net.SplitHostPort(addr); host != nonLoopback {
		return fmt.Errorf("listening on %s, not %s", addr, nonLoopback)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", "https://"+addr+"/api/profiles", nil)
	req.Header.Set("Authorization", "Klaviyo-API-Key "+tok)
	req.Header.Set("revision", revision)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("https call: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("https call: status %d", resp.StatusCode)
	}
	// The same port does not answer plaintext HTTP.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return errors.New("the TLS listener answered plaintext HTTP")
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutdown: %v", err)
	}
	return nil
}

// selfSigned writes a certificate for ip and its key, and returns a pool trusting it.
func selfSigned(dir, ip string) (certFile, keyFile string, pool *x509.CertPool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "klrbac proxy test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP(ip)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", nil, err
	}
	certFile, keyFile = filepath.Join(dir, "proxy.crt"), filepath.Join(dir, "proxy.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return "", "", nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool, nil
}
