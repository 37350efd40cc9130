package sandbox

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/klrbac/klrbac/internal/httpstatus"
)

// Stats counts the requests a sandbox has answered, per operation and status. Statuses are HTTP
// codes as strings, plus "reset" for connections the sandbox reset on purpose.
type Stats struct {
	Requests int            `json:"requests"`
	Statuses map[string]int `json:"statuses"`
	// Operations is keyed by "METHOD /path/template", e.g. "GET /api/profiles/{id}"; requests that
	// reach no operation count under "unmatched".
	Operations map[string]OperationStats `json:"operations"`
}

// OperationStats counts one operation's requests.
type OperationStats struct {
	ID       string         `json:"id,omitempty"`
	Requests int            `json:"requests"`
	Statuses map[string]int `json:"statuses"`
}

// Status returns how many requests were answered with code.
func (s Stats) Status(code int) int { return s.Statuses[strconv.Itoa(code)] }

// Count returns how many requests to op ("GET /api/profiles") were answered with code.
func (s Stats) Count(op string, code int) int { return s.Operations[op].Statuses[strconv.Itoa(code)] }

const statusReset = -1

type statsCollector struct {
	mu       sync.Mutex
	requests int
	statuses map[int]int
	ops      map[string]*opCounter
}

type opCounter struct {
	id       string
	requests int
	statuses map[int]int
}

func newStatsCollector() *statsCollector {
	return &statsCollector{statuses: map[int]int{}, ops: map[string]*opCounter{}}
}

func (c *statsCollector) add(op, id string, status int) {
	if op == "" {
		op = "unmatched"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	c.statuses[status]++
	oc := c.ops[op]
	if oc == nil {
		oc = &opCounter{statuses: map[int]int{}}
		c.ops[op] = oc
	}
	// A call stopped before its operation was known (a fault, a bad revision) brings no id; the
	// first call that does names the counter.
	if oc.id == "" {
		oc.id = id
	}
	oc.requests++
	oc.statuses[status]++
}

func statusKey(code int) string {
	if code == statusReset {
		return "reset"
	}
	return strconv.Itoa(code)
}

// Stats returns a snapshot of the request counts.
func (s *Server) Stats() Stats {
	c := s.stats
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Stats{Requests: c.requests, Statuses: map[string]int{}, Operations: map[string]OperationStats{}}
	for code, n := range c.statuses {
		out.Statuses[statusKey(code)] = n
	}
	for op, oc := range c.ops {
		os := OperationStats{ID: oc.id, Requests: oc.requests, Statuses: map[string]int{}}
		for code, n := range oc.statuses {
			os.Statuses[statusKey(code)] = n
		}
		out.Operations[op] = os
	}
	return out
}

// ResetStats sets every count back to zero.
func (s *Server) ResetStats() {
	c := s.stats
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = 0
	c.statuses = map[int]int{}
	c.ops = map[string]*opCounter{}
}

func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodDelete:
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", "GET, HEAD, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.Stats())
}

// recorder notes the status a handler answered with, for the stats and the request log.
type recorder struct {
	httpstatus.Recorder
	s       *Server
	r       *http.Request
	op, id  string
	who     string // masked credential, for the log
	counted bool
}

func (s *Server) record(w http.ResponseWriter, op, id string) *recorder {
	return &recorder{Recorder: httpstatus.Recorder{ResponseWriter: w}, s: s, op: op, id: id}
}

// done counts the request once its answer is written.
func (rec *recorder) done() {
	if rec.counted {
		return
	}
	rec.counted = true
	if rec.Code == 0 {
		rec.Code = http.StatusOK
	}
	rec.s.stats.add(rec.op, rec.id, rec.Code)
	if rec.s.logf != nil && rec.r != nil {
		who := rec.who
		if who == "" {
			who = "-"
		}
		rec.s.logf("%s %s %s %s", rec.r.Method, rec.r.URL.Path, who, statusKey(rec.Code))
	}
}
