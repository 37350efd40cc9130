package proxy

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/klrbac/klrbac/internal/config"
)

// Environment of a proxy child process (the crash and TLS tests run the proxy in a process of its
// own, to kill it or to put it in a network namespace).
const (
	childEnv       = "KLRBAC_TEST_PROXY_CHILD" // the listen address
	childUpstream  = "KLRBAC_TEST_PROXY_UPSTREAM"
	childAuditLog  = "KLRBAC_TEST_PROXY_AUDIT"
	childTokens    = "KLRBAC_TEST_PROXY_TOKENS"
	childConfig    = "KLRBAC_TEST_PROXY_CONFIG"
	childTLSCert   = "KLRBAC_TEST_PROXY_CERT"
	childTLSKey    = "KLRBAC_TEST_PROXY_KEY"
	childNamespace = "KLRBAC_TEST_PROXY_NETNS" // run TestMain's namespace test instead
)

func TestMain(m *testing.M) {
	if os.Getenv(childNamespace) != "" {
		os.Exit(namespaceChild())
	}
	if listen := os.Getenv(childEnv); listen != "" {
		os.Exit(proxyChild(listen))
	}
	os.Exit(m.Run())
}

// proxyChild runs a proxy and prints "listening ADDR" once it does.
func proxyChild(listen string) int {
	err := Run(context.Background(), childOptions(listen))
	fmt.Println("stopped:", err)
	return 1
}

func childOptions(listen string) RunOptions {
	return RunOptions{
		Listen:     listen,
		Upstream:   os.Getenv(childUpstream),
		AuditLog:   os.Getenv(childAuditLog),
		TokensFile: os.Getenv(childTokens),
		TLSCert:    os.Getenv(childTLSCert),
		TLSKey:     os.Getenv(childTLSKey),
		Actor:      "proxy-child",
		Loader:     Loader{Config: config.Options{File: os.Getenv(childConfig)}, Getenv: getRoleKey},
		Stderr:     os.Stderr,
		Ready:      func(addr string) { fmt.Println("listening", addr) },
	}
}
