// Command rproxy is the floor for the proxy benchmarks: a bare httputil.ReverseProxy on loopback in
// front of the upstream URL given as its argument, with the transport and buffer pool klrbac proxy
// uses, deciding nothing and recording nothing. What it costs is what any net/http proxy costs on
// the machine: the second HTTP hop. It prints its URL as the first line on stdout, as
// `klrbac sandbox` does, and serves until killed.
package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
)

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufferPool) Put(p []byte) { b.p.Put(&p) }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rproxy UPSTREAM-URL")
		os.Exit(2)
	}
	up, err := url.Parse(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "rproxy:", err)
		os.Exit(2)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost, t.DisableCompression = 256, 256, true
	rp := &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(up) },
		Transport:  t,
		BufferPool: &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "rproxy:", err)
		os.Exit(1)
	}
	fmt.Println("http://" + ln.Addr().String())
	err = http.Serve(ln, rp)
	fmt.Fprintln(os.Stderr, "rproxy:", err)
	os.Exit(1)
}
