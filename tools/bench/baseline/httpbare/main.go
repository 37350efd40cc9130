// Command httpbare is the floor for the sandbox throughput benchmark: a bare net/http server on
// loopback that answers every request with a fixed JSON:API document of the size the sandbox sends
// for an empty list, checking nothing. It prints its URL as the first line on stdout, as
// `klrbac sandbox` does, and serves until killed.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpbare:", err)
		os.Exit(1)
	}
	body := []byte(`{"data":[],"links":{"self":"http://` + ln.Addr().String() + `/api/profiles","next":null,"prev":null}}`)
	fmt.Println("http://" + ln.Addr().String())
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/vnd.api+json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}))
	fmt.Fprintln(os.Stderr, "httpbare:", err)
	os.Exit(1)
}
