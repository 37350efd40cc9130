package proxy

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the proxy's Prometheus metrics, in a registry of their own.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	upstream prometheus.Histogram
	reloads  *prometheus.CounterVec
	// counters keeps each label set's counter, so that a call costs a map read rather than hashing
	// its labels into the vector again.
	counters sync.Map // requestLabels -> prometheus.Counter
}

type requestLabels struct {
	role, decision string
	status         int
}

// NewMetrics registers the proxy's metrics; queueDepth reports the audit entries waiting to be written.
func NewMetrics(queueDepth func() float64) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klrbac_proxy_requests_total",
			Help: "Calls answered, by role, decision (allowed, denied, unauthenticated, no_role, unknown_operation, invalid, unavailable, upstream_error) and status.",
		}, []string{"role", "decision", "status"}),
		upstream: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "klrbac_proxy_upstream_seconds",
			Help:    "Time from a call's arrival to Klaviyo's answer headers, for forwarded calls.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "klrbac_proxy_reloads_total",
			Help: "Policy reloads, by result (applied, refused).",
		}, []string{"result"}),
	}
	m.registry.MustRegister(m.requests, m.upstream, m.reloads,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "klrbac_proxy_audit_queue_depth",
			Help: "Audit entries waiting to be written or being written.",
		}, queueDepth),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

func (m *Metrics) observe(c *call, status int) {
	key := requestLabels{c.role, c.decision, status}
	counter, ok := m.counters.Load(key)
	if !ok {
		counter, _ = m.counters.LoadOrStore(key, m.requests.WithLabelValues(c.role, c.decision, strconv.Itoa(status)))
	}
	counter.(prometheus.Counter).Inc()
	if c.answered {
		m.upstream.Observe(c.upstream.Seconds())
	}
}

func (m *Metrics) reloaded(ok bool) {
	if m == nil {
		return
	}
	result := "applied"
	if !ok {
		result = "refused"
	}
	m.reloads.WithLabelValues(result).Inc()
}
