package admission

import (
	"github.com/orkspace/orkestra-gateway/internal/promreg"
	"log/slog"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/prometheus/client_golang/prometheus"
)

// Decision results, the "result" label of the decisions metric.
const (
	resultAllowed = "allowed"
	resultDenied  = "denied"
	resultWarned  = "warned"
	resultPatched = "patched"
	resultError   = "error"
)

type metrics struct {
	requests  *prometheus.CounterVec
	decisions *prometheus.CounterVec
	latency   *prometheus.HistogramVec
}

// metricsFor returns the admission collectors registered on reg, reusing
// those already registered there by an earlier Serve. A nil reg gives
// unregistered collectors.
func metricsFor(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_admission_requests_total",
			Help: "Admission HTTP requests by webhook and HTTP status code.",
		}, []string{"webhook", "code"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_admission_decisions_total",
			Help: "Admission decisions by webhook and result (allowed, denied, warned, patched, error).",
		}, []string{"webhook", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orkestra_gateway_admission_duration_seconds",
			Help: "Time to answer an admission request, by webhook.",
			// Handlers are CPU-only: sub-millisecond is normal, and the API
			// server's timeout (at most 30s) bounds the tail.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5},
		}, []string{"webhook"}),
	}
	if reg == nil {
		return m
	}
	m.requests = promreg.Register(reg, log, m.requests)
	m.decisions = promreg.Register(reg, log, m.decisions)
	m.latency = promreg.Register(reg, log, m.latency)
	return m
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
