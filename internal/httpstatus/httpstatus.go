// Package httpstatus notes the status an HTTP handler answered with, for the logs, counts and
// metrics of the servers klrbac runs (the proxy, the sandbox), which learn it only as the handler
// writes.
package httpstatus

import "net/http"

// Recorder is a ResponseWriter that remembers the status written through it.
type Recorder struct {
	http.ResponseWriter
	// Code is the status written: 0 until the handler writes, 200 once it writes a body without
	// a status, as net/http then answers.
	Code int
}

// WriteHeader notes the first status and passes it on.
func (r *Recorder) WriteHeader(code int) {
	if r.Code == 0 {
		r.Code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write notes 200 when nothing was written before, and passes b on.
func (r *Recorder) Write(b []byte) (int, error) {
	if r.Code == 0 {
		r.Code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush flushes the writer underneath when it can, so that a stream passes through unbuffered.
func (r *Recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the writer underneath (to hijack the connection, to
// set deadlines).
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
