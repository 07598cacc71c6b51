package webhook

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Codes are the HTTP statuses the envelope answers with; the code label of
// the requests metric takes exactly these values.
var Codes = []int{
	http.StatusOK,
	http.StatusBadRequest,
	http.StatusMethodNotAllowed,
	http.StatusRequestEntityTooLarge,
	http.StatusUnsupportedMediaType,
	http.StatusInternalServerError,
	http.StatusServiceUnavailable,
}

// MetricsOptions name the two families of a set of endpoints. The owner of
// the endpoints picks the names (orkestra_gateway_admission_requests_total
// for the admission webhooks, for example), so a family never mixes review
// types.
type MetricsOptions struct {
	// RequestsName is the counter of requests by webhook and code.
	RequestsName, RequestsHelp string
	// DurationName is the histogram of the time to answer, by webhook.
	DurationName, DurationHelp string
	Buckets                    []float64
}

// Metrics are the request counter and the latency histogram of a set of
// endpoints. They are a prometheus.Collector: register them once. Each
// endpoint's series are created, at zero, when the endpoint is built
// (Endpoints or New), never while serving.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	mu     sync.Mutex
	byName map[string]*series
}

// NewMetrics returns the families named by o, with no series yet.
func NewMetrics(o MetricsOptions) *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: o.RequestsName, Help: o.RequestsHelp}, []string{"webhook", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: o.DurationName, Help: o.DurationHelp, Buckets: o.Buckets}, []string{"webhook"}),
		byName:   map[string]*series{},
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.duration.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.duration.Collect(ch)
}

// Endpoints creates the series of the named endpoints at zero, so that
// they show in /metrics before their first request.
func (m *Metrics) Endpoints(names ...string) {
	for _, n := range names {
		m.endpoint(n)
	}
}

// Requests is the counter of one endpoint and code (for tests and tools).
func (m *Metrics) Requests(name string, code int) prometheus.Counter {
	return m.requests.WithLabelValues(name, strconv.Itoa(code))
}

// series are one endpoint's series, looked up once when it is built.
type series struct {
	codes    map[int]prometheus.Counter // read-only once built
	duration prometheus.Observer
}

func (m *Metrics) endpoint(name string) *series {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.byName[name]; ok {
		return s
	}
	s := &series{codes: make(map[int]prometheus.Counter, len(Codes)), duration: m.duration.WithLabelValues(name)}
	for _, c := range Codes {
		s.codes[c] = m.requests.WithLabelValues(name, strconv.Itoa(c))
	}
	m.byName[name] = s
	return s
}

// ListenerMetrics are the counters of one listener: its budget, its
// recovered panics and its suppressed log lines. They are a
// prometheus.Collector: register them once.
type ListenerMetrics struct {
	inFlight   prometheus.Gauge
	rejected   prometheus.Counter
	panics     prometheus.Counter
	suppressed prometheus.Counter
}

// NewListenerMetrics returns the listener's collectors at zero.
func NewListenerMetrics() *ListenerMetrics {
	return &ListenerMetrics{
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "orkestra_gateway_webhook_body_bytes_in_flight",
			Help: "Capacity of the request body buffers the webhook listener holds now (bounded by its budget).",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orkestra_gateway_webhook_budget_rejections_total",
			Help: "Webhook requests answered 503 because their body would have taken the listener past its budget of bytes in flight.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orkestra_gateway_webhook_panics_total",
			Help: "Panics recovered while answering a webhook request (each answered 500 and logged with its stack).",
		}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orkestra_gateway_webhook_bad_request_logs_suppressed_total",
			Help: "Log lines about malformed webhook requests not written because of the rate limit.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (m *ListenerMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *ListenerMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

func (m *ListenerMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.inFlight, m.rejected, m.panics, m.suppressed}
}
