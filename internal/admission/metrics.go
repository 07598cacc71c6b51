package admission

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// Decision results, the "result" label of the decisions metric.
const (
	resultAllowed = "allowed"
	resultDenied  = "denied"
	resultWarned  = "warned"
	resultPatched = "patched"
	resultError   = "error"
)

var results = []string{resultAllowed, resultDenied, resultWarned, resultPatched, resultError}

// Metrics are the admission collectors: requests by webhook and code and
// their latency (the envelope's), and decisions by webhook and result. Build
// them once (NewMetrics), register them once, and give them to every Serve.
// The series of the gateway's webhooks exist at zero from the start; those
// of another webhook name are created when its Serve is built.
type Metrics struct {
	envelope  *webhook.Metrics
	decisions *prometheus.CounterVec
	audit     *prometheus.CounterVec // rule; series created by the validation handler (audit.go)

	mu     sync.Mutex
	byName map[string]map[string]prometheus.Counter
}

// NewMetrics returns the admission collectors, with the series of every
// webhook of the gateway at zero.
func NewMetrics() *Metrics {
	m := &Metrics{
		envelope: webhook.NewMetrics(webhook.MetricsOptions{
			RequestsName: "orkestra_gateway_admission_requests_total",
			RequestsHelp: "Admission HTTP requests by webhook and HTTP status code.",
			DurationName: "orkestra_gateway_admission_duration_seconds",
			DurationHelp: "Time to answer an admission request, by webhook.",
			// Handlers are CPU-only: sub-millisecond is normal, and the API
			// server's timeout (at most 30s) bounds the tail.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5},
		}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_admission_decisions_total",
			Help: "Admission decisions by webhook and result (allowed, denied, warned, patched, error).",
		}, []string{"webhook", "result"}),
		audit:  newAuditVec(),
		byName: map[string]map[string]prometheus.Counter{},
	}
	for _, n := range webhookNames {
		m.envelope.Endpoints(n)
		m.decisionsOf(n)
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.envelope.Describe(ch)
	m.decisions.Describe(ch)
	m.audit.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.envelope.Collect(ch)
	m.decisions.Collect(ch)
	m.audit.Collect(ch)
}

// decisionsOf returns the decision counters of webhook name by result,
// creating them at zero the first time (when its Serve is built).
func (m *Metrics) decisionsOf(name string) map[string]prometheus.Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.byName[name]; ok {
		return d
	}
	d := make(map[string]prometheus.Counter, len(results))
	for _, r := range results {
		d[r] = m.decisions.WithLabelValues(name, r)
	}
	m.byName[name] = d
	return d
}

// classify names the outcome of a response for the decisions metric.
func classify(resp *admissionv1.AdmissionResponse, err error) string {
	switch {
	case err != nil:
		return resultError
	case !resp.Allowed:
		return resultDenied
	case len(resp.Patch) > 0:
		return resultPatched
	case len(resp.Warnings) > 0:
		return resultWarned
	default:
		return resultAllowed
	}
}
