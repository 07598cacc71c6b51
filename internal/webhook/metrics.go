package webhook

import (
	"maps"
	"net/http"
	"strconv"
	"sync"

	"github.com/orkspace/orkestra-gateway/internal/metrics"
)

// codes are the HTTP statuses the envelope answers with; the code label of
// the requests metric takes exactly these values.
var codes = append(append([]int{}, answerCodes...), refusalCodes...)

// answerCodes are the statuses of a request whose review was read (its
// operation is known); refusalCodes those of a request refused before.
var (
	answerCodes  = []int{http.StatusOK, http.StatusInternalServerError}
	refusalCodes = []int{
		http.StatusBadRequest,
		http.StatusMethodNotAllowed,
		http.StatusRequestEntityTooLarge,
		http.StatusUnsupportedMediaType,
		http.StatusServiceUnavailable,
	}
)

// MetricsOptions name the two families of a set of endpoints. The owner of
// the endpoints picks the names (orkestra_gateway_admission_requests_total
// for the admission webhooks, for example), so a family never mixes review
// types.
type MetricsOptions struct {
	// RequestsName is the counter of requests by webhook and code (and
	// operation, with Operations).
	RequestsName, RequestsHelp string
	// DurationName is the histogram of the time to answer, by webhook.
	DurationName, DurationHelp string
	Buckets                    []float64
	// Operations adds the operation label to the requests counter: the
	// request's operation (Review.Operation) once its review is read,
	// empty for a request refused before.
	Operations bool
}

// Metrics are the request counter and the latency histogram of a set of
// endpoints. They are a metrics.Collector: register them once. Each
// endpoint's series are created, at zero, when the endpoint is built
// (Endpoints or New), never while serving.
type Metrics struct {
	metrics.Collectors
	requests   *metrics.CounterVec
	duration   *metrics.HistogramVec
	operations bool

	mu     sync.Mutex
	byName map[string]*series
}

// NewMetrics returns the families named by o, with no series yet.
func NewMetrics(o MetricsOptions) *Metrics {
	labels := []string{"webhook", "code"}
	if o.Operations {
		labels = []string{"webhook", "operation", "code"}
	}
	m := &Metrics{
		requests:   metrics.NewCounterVec(metrics.Opts{Name: o.RequestsName, Help: o.RequestsHelp}, labels),
		duration:   metrics.NewHistogramVec(metrics.HistogramOpts{Name: o.DurationName, Help: o.DurationHelp, Buckets: o.Buckets}, []string{"webhook"}),
		operations: o.Operations,
		byName:     map[string]*series{},
	}
	m.Collectors = metrics.Collectors{m.requests, m.duration}
	return m
}

// Endpoints creates the series of the named endpoints at zero, so that
// they show in /metrics before their first request. With operations, these
// are the series of requests refused before their review was read; New
// adds those of the operations the endpoint receives.
func (m *Metrics) Endpoints(names ...string) {
	for _, n := range names {
		m.endpoint(n, nil)
	}
}

// Requests is the counter of one endpoint and code (for tests and tools),
// for operation op when the family has the operation label.
func (m *Metrics) Requests(name, op string, code int) *metrics.Counter {
	return m.requests.WithLabelValues(m.labels(name, op, code)...)
}

func (m *Metrics) labels(name, op string, code int) []string {
	if m.operations {
		return []string{name, op, strconv.Itoa(code)}
	}
	return []string{name, strconv.Itoa(code)}
}

// series are one endpoint's series, looked up once when it is built.
type series struct {
	m        *Metrics
	name     string
	codes    map[opCode]*metrics.Counter // read-only once built
	duration *metrics.Histogram
}

type opCode struct {
	op   string
	code int
}

// count counts a request. The series of an operation the endpoint was not
// built for (a caller that is not the API server) is created then: the
// decoder admits only the four operations, so the set stays bounded.
func (s *series) count(op string, code int) {
	if !s.m.operations {
		op = ""
	}
	if c, ok := s.codes[opCode{op, code}]; ok {
		c.Inc()
		return
	}
	s.m.requests.WithLabelValues(s.m.labels(s.name, op, code)...).Inc()
}

// endpoint returns the series of name, creating at zero those of the
// operations ops (which are not kept when the endpoint already exists).
func (m *Metrics) endpoint(name string, ops []string) *series {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.byName[name]
	s := &series{m: m, name: name, codes: map[opCode]*metrics.Counter{}, duration: m.duration.WithLabelValues(name)}
	if old != nil {
		maps.Copy(s.codes, old.codes)
	}
	if !m.operations {
		for _, c := range codes {
			s.codes[opCode{"", c}] = m.requests.WithLabelValues(name, strconv.Itoa(c))
		}
	} else {
		for _, c := range refusalCodes {
			s.codes[opCode{"", c}] = m.requests.WithLabelValues(name, "", strconv.Itoa(c))
		}
		for _, op := range ops {
			for _, c := range answerCodes {
				s.codes[opCode{op, c}] = m.requests.WithLabelValues(name, op, strconv.Itoa(c))
			}
		}
	}
	m.byName[name] = s
	return s
}

// ListenerMetrics are the counters of one listener: its budget, its
// recovered panics and its suppressed log lines. They are a
// metrics.Collector: register them once.
type ListenerMetrics struct {
	metrics.Collectors
	inFlight   *metrics.Gauge
	rejected   *metrics.Counter
	panics     *metrics.Counter
	suppressed *metrics.Counter
}

// NewListenerMetrics returns the listener's collectors at zero.
func NewListenerMetrics() *ListenerMetrics {
	m := &ListenerMetrics{
		inFlight: metrics.NewGauge(metrics.Opts{
			Name: "orkestra_gateway_webhook_body_bytes_in_flight",
			Help: "Capacity of the request body buffers the webhook listener holds now (bounded by its budget).",
		}),
		rejected: metrics.NewCounter(metrics.Opts{
			Name: "orkestra_gateway_webhook_budget_rejections_total",
			Help: "Webhook requests answered 503 because their body would have taken the listener past its budget of bytes in flight.",
		}),
		panics: metrics.NewCounter(metrics.Opts{
			Name: "orkestra_gateway_webhook_panics_total",
			Help: "Panics recovered while answering a webhook request (each answered 500 and logged with its stack).",
		}),
		suppressed: NewLogLinesSuppressed("webhook"),
	}
	m.Collectors = metrics.Collectors{m.inFlight, m.rejected, m.panics, m.suppressed}
	return m
}

// NewLogLinesSuppressed is the counter of the log lines about refused or
// malformed requests that the listener called listener (webhook, notify)
// did not write because of its log rate limit: one family for every
// listener, told apart by the listener label.
func NewLogLinesSuppressed(listener string) *metrics.Counter {
	return metrics.NewCounter(metrics.Opts{
		Name:        "orkestra_gateway_log_lines_suppressed_total",
		Help:        "Log lines about refused or malformed requests not written because of the listener's log rate limit, by listener.",
		ConstLabels: metrics.Labels{"listener": listener},
	})
}
