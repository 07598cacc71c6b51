package admission

import (
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/metrics"
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

// Metrics are the admission collectors: requests by webhook, operation and
// code and their latency (the envelope's), decisions by webhook, operation
// and result, and the failures of the Katalog's validation rules by rule
// (denials, and failures in audit mode). Build them once (NewMetrics),
// register them once, and give them to every Serve (and to Webhooks,
// WithMetrics). The series of the gateway's webhooks for requests refused
// before their review was read exist at zero from the start; those of each
// operation a webhook receives, and of each rule, when its Serve and
// handler are built.
type Metrics struct {
	metrics.Collectors
	envelope  *webhook.Metrics
	decisions *metrics.CounterVec
	denials   *metrics.CounterVec // rule; series created by the validation handler (audit.go)
	audit     *metrics.CounterVec // rule; likewise
}

// NewMetrics returns the admission collectors, with the series of every
// webhook of the gateway at zero.
func NewMetrics() *Metrics {
	m := &Metrics{
		envelope: webhook.NewMetrics(webhook.MetricsOptions{
			RequestsName: "orkestra_gateway_admission_requests_total",
			RequestsHelp: "Admission HTTP requests by webhook, operation (empty when refused before the review was read) and HTTP status code.",
			DurationName: "orkestra_gateway_admission_request_duration_seconds",
			DurationHelp: "Time to answer an admission request, by webhook.",
			// Handlers are CPU-only: sub-millisecond is normal, and the API
			// server's timeout (at most 30s) bounds the tail.
			Buckets:    []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5},
			Operations: true,
		}),
		decisions: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_admission_decisions_total",
			Help: "Admission decisions by webhook, operation and result (allowed, denied, warned, patched, error).",
		}, []string{"webhook", "operation", "result"}),
		denials: newDenialsVec(),
		audit:   newAuditVec(),
	}
	m.envelope.Endpoints(webhookNames...)
	m.Collectors = metrics.Collectors{m.envelope, m.decisions, m.denials, m.audit}
	return m
}

// decisions are the decision counters of one webhook, by operation and
// result, created at zero for the operations it receives (when its Serve
// is built) and read-only afterwards.
type decisions struct {
	vec  *metrics.CounterVec
	name string
	by   map[[2]string]*metrics.Counter // operation, result
}

func (m *Metrics) decisionsOf(name string, ops []string) *decisions {
	d := &decisions{vec: m.decisions, name: name, by: make(map[[2]string]*metrics.Counter, len(ops)*len(results))}
	for _, op := range ops {
		for _, r := range results {
			d.by[[2]string{op, r}] = m.decisions.WithLabelValues(name, op, r)
		}
	}
	return d
}

// inc counts a decision. An operation the webhook was not built for (a
// caller that is not the API server) gets its series then: the decoder
// admits only the four operations, so the set stays bounded.
func (d *decisions) inc(op, result string) {
	if c, ok := d.by[[2]string{op, result}]; ok {
		c.Inc()
		return
	}
	d.vec.WithLabelValues(d.name, op, result).Inc()
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
