package conversion

import (
	"github.com/orkspace/orkestra-gateway/internal/promreg"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Results, the "result" label.
const (
	resultSuccess    = "success"
	resultFailure    = "failure"
	resultBadRequest = "bad_request" // malformed HTTP request or ConversionReview
	resultError      = "error"       // internal error (a recovered panic)
)

type metrics struct {
	reviews *prometheus.CounterVec   // result
	objects *prometheus.CounterVec   // group, kind, from, to, result
	latency *prometheus.HistogramVec // group, kind, from, to
	dropped *prometheus.CounterVec   // group, kind
	invalid *prometheus.CounterVec   // group, kind, reason
}

// metricsFor returns the conversion collectors registered on reg, reusing
// those an earlier Converter registered there. A nil reg gives unregistered
// collectors.
func metricsFor(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		reviews: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_conversion_reviews_total",
			Help: "ConversionReviews answered, by result (success, failure, bad_request, error).",
		}, []string{"result"}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_conversion_objects_total",
			Help: "Objects converted, by group, kind, from and to version and result (success, failure). " +
				"Objects of a failed review before the failing one are not counted: none was answered.",
		}, []string{"group", "kind", "from", "to", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orkestra_gateway_conversion_duration_seconds",
			Help: "Time to convert one object, by group, kind, from and to version.",
			// Conversion is CPU-only: tens of microseconds are normal.
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .1, 1},
		}, []string{"group", "kind", "from", "to"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_conversion_preserved_dropped_total",
			Help: "Preserved fields dropped because the preserved-fields annotation would exceed its bound, by group and kind.",
		}, []string{"group", "kind"}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_conversion_preserved_invalid_total",
			Help: "Preserved-fields annotations ignored, by group, kind and reason (malformed; unauthenticated: " +
				"no MAC, a wrong one or another object's; out-of-scope: authenticated fields the conversion does not drop).",
		}, []string{"group", "kind", "reason"}),
	}
	if reg == nil {
		return m
	}
	m.reviews = promreg.Register(reg, log, m.reviews)
	m.objects = promreg.Register(reg, log, m.objects)
	m.latency = promreg.Register(reg, log, m.latency)
	m.dropped = promreg.Register(reg, log, m.dropped)
	m.invalid = promreg.Register(reg, log, m.invalid)
	return m
}
