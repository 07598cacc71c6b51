package conversion

import (
	"net/http"
	"sync"

	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// Results, the "result" label.
const (
	resultSuccess    = "success"
	resultFailure    = "failure"
	resultBadRequest = "bad_request" // malformed HTTP request or ConversionReview
	resultError      = "error"       // internal error (a recovered panic)
)

// Metrics are the conversion collectors: requests to /convert by code and
// their latency (the envelope's), reviews by result, and objects converted,
// their latency, preserved fields dropped and malformed annotations by CRD
// and versions. Build them once (NewMetrics), register them once, and give
// them to New: every series of the Katalog's conversion CRDs is created at
// zero when the Converter is built, never while serving.
type Metrics struct {
	metrics.Collectors
	envelope *webhook.Metrics
	reviews  *metrics.CounterVec   // result
	objects  *metrics.CounterVec   // group, kind, from, to, result
	latency  *metrics.HistogramVec // group, kind, from, to
	dropped  *metrics.CounterVec   // group, kind
	invalid  *metrics.CounterVec   // group, kind, reason

	results map[string]*metrics.Counter // reviews by result; read-only
}

// NewMetrics returns the conversion collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		envelope: webhook.NewMetrics(webhook.MetricsOptions{
			RequestsName: "orkestra_gateway_conversion_requests_total",
			RequestsHelp: "Conversion HTTP requests by webhook and HTTP status code.",
			DurationName: "orkestra_gateway_conversion_request_duration_seconds",
			DurationHelp: "Time to answer a ConversionReview, by webhook.",
			Buckets:      []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5},
		}),
		reviews: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_conversion_reviews_total",
			Help: "ConversionReviews answered, by result (success, failure, bad_request, error).",
		}, []string{"result"}),
		objects: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_conversion_objects_total",
			Help: "Objects converted, by group, kind, from and to version and result (success, failure). " +
				"Objects of a failed review before the failing one are not counted: none was answered.",
		}, []string{"group", "kind", "from", "to", "result"}),
		latency: metrics.NewHistogramVec(metrics.HistogramOpts{
			Name: "orkestra_gateway_conversion_object_duration_seconds",
			Help: "Time to convert one object, by group, kind, from and to version.",
			// Conversion is CPU-only: tens of microseconds are normal.
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .1, 1},
		}, []string{"group", "kind", "from", "to"}),
		dropped: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_conversion_preserved_dropped_total",
			Help: "Preserved fields dropped because the preserved-fields annotation would exceed its bound, by group and kind.",
		}, []string{"group", "kind"}),
		invalid: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_conversion_preserved_invalid_total",
			Help: "Preserved-fields annotations ignored, by group, kind and reason (malformed; unauthenticated: " +
				"no MAC, a wrong one or another object's; out-of-scope: authenticated fields the conversion does not drop).",
		}, []string{"group", "kind", "reason"}),
		results: map[string]*metrics.Counter{},
	}
	for _, r := range []string{resultSuccess, resultFailure, resultBadRequest, resultError} {
		m.results[r] = m.reviews.WithLabelValues(r)
	}
	m.Collectors = metrics.Collectors{m.envelope, m.reviews, m.objects, m.latency, m.dropped, m.invalid}
	return m
}

// converterMetrics is one Converter's view of Metrics: the series of its CRDs,
// created when it is built and read-only afterwards.
type converterMetrics struct {
	*Metrics
	pairs map[[4]string]*pairSeries // group, kind, from, to
	kinds map[groupKind]*kindSeries
}

type pairSeries struct {
	success, failure *metrics.Counter
	latency          *metrics.Histogram
}

type kindSeries struct {
	dropped *metrics.Counter
	invalid map[string]*metrics.Counter // by reason; read-only
}

// mu serializes the creation of series on a shared Metrics.
var mu sync.Mutex

// newMetrics creates, at zero, the series of every CRD of plans and every
// pair of its versions, on m (a private Metrics when nil). An object's
// labels are set only when both its versions are declared (convertOne), so
// every series a Converter counts into exists here.
func newMetrics(m *Metrics, plans map[groupKind]*plan) *converterMetrics {
	if m == nil {
		m = NewMetrics()
	}
	mu.Lock()
	defer mu.Unlock()
	out := &converterMetrics{Metrics: m, pairs: map[[4]string]*pairSeries{}, kinds: map[groupKind]*kindSeries{}}
	for gk, pl := range plans {
		out.kinds[gk] = &kindSeries{
			dropped: m.dropped.WithLabelValues(gk.group, gk.kind),
			invalid: map[string]*metrics.Counter{},
		}
		for _, r := range []string{reasonMalformed, reasonUnauthenticated, reasonOutOfScope} {
			out.kinds[gk].invalid[r] = m.invalid.WithLabelValues(gk.group, gk.kind, r)
		}
		for _, from := range pl.versions {
			for _, to := range pl.versions {
				out.pairs[[4]string{gk.group, gk.kind, from, to}] = &pairSeries{
					success: m.objects.WithLabelValues(gk.group, gk.kind, from, to, resultSuccess),
					failure: m.objects.WithLabelValues(gk.group, gk.kind, from, to, resultFailure),
					latency: m.latency.WithLabelValues(gk.group, gk.kind, from, to),
				}
			}
		}
	}
	return out
}

// failed counts a request the envelope answered with code (a
// ConversionReview has no operation).
func (m *converterMetrics) failed(code int, _ string) {
	switch {
	case code == http.StatusInternalServerError:
		m.results[resultError].Inc()
	case code >= 400 && code < 500:
		m.results[resultBadRequest].Inc()
	} // 503: the listener's budget, counted there
}
