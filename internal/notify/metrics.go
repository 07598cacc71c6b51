package notify

import (
	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// Label values.
const (
	resultDelivered = "delivered"
	resultFailed    = "failed"
	resultSuccess   = "success"
	resultError     = "error"

	suppressedThrottled = "throttled"
	suppressedDuplicate = "duplicate"

	authMissing     = "missing"   // no bearer token
	authInvalid     = "invalid"   // the TokenReview did not authenticate it
	authAudience    = "audience"  // authenticated, but not for the gateway's audience
	authForbidden   = "forbidden" // authenticated, not in allowedCallers
	authUnavailable = "error"     // the TokenReview could not be made
	authBusy        = "busy"      // the TokenReview budget was spent
	authThrottled   = "throttled" // the address failed too often: 429 without a review

	limitCaller     = "caller"     // an allowed caller over its rate
	limitInFlight   = "in-flight"  // too many requests being handled
	limitConnection = "connection" // a connection over the listener's caps
)

// Metrics are the notify relay's collectors. Build them once per process
// with NewMetrics, register them once, and pass them to every Server
// (Options.Metrics); every series of the fixed label sets exists from the
// start, at zero.
type Metrics struct {
	metrics.Collectors
	requests     *metrics.CounterVec
	depth        *metrics.GaugeVec
	deliveries   *metrics.CounterVec
	retries      *metrics.CounterVec
	suppressed   *metrics.CounterVec
	authFailures *metrics.CounterVec
	limited      *metrics.CounterVec
	reviews      *metrics.CounterVec
	queueFull    *metrics.CounterVec
	renderErrors *metrics.Counter
	logsDropped  *metrics.Counter
}

// requestCodes are the statuses /notify answers, so each series exists at zero.
var requestCodes = []string{"200", "202", "400", "401", "403", "404", "405", "413", "415", "429", "500", "502", "503"}

// NewMetrics builds the notify collectors. No label carries an event field
// or a secret: label values are fixed sets, so cardinality is bounded
// whatever callers send.
func NewMetrics() *Metrics {
	m := &Metrics{
		requests: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_notify_requests_total",
			Help: "/notify requests by HTTP status code.",
		}, []string{"code"}),
		depth: metrics.NewGaugeVec(metrics.Opts{
			Name: "orkestra_gateway_notify_queue_depth",
			Help: "Deliveries waiting or being attempted, by destination (email, slack-webhook, slack-api).",
		}, []string{"destination"}),
		deliveries: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_notify_deliveries_total",
			Help: "Final delivery outcomes by destination (email, slack-webhook, slack-api) and result (delivered, failed).",
		}, []string{"destination", "result"}),
		retries: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_notify_retries_total",
			Help: "Delivery attempts that failed and were scheduled again, by destination.",
		}, []string{"destination"}),
		suppressed: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_notify_suppressed_total",
			Help: "Event deliveries (per team) not queued, by reason (throttled, duplicate).",
		}, []string{"reason"}),
		authFailures: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_notify_auth_failures_total",
			Help: "Rejected /notify callers by reason (missing, invalid, audience, forbidden, error, busy, throttled).",
		}, []string{"reason"}),
		limited: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_notify_limited_total",
			Help: "/notify requests and connections refused by a limit (caller: 429 to an allowed caller over its rate; in-flight: 503; connection: closed at accept).",
		}, []string{"limit"}),
		reviews: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_notify_tokenreviews_total",
			Help: "TokenReviews made for /notify callers, by result (success, error).",
		}, []string{"result"}),
		renderErrors: metrics.NewCounter(metrics.Opts{
			Name: "orkestra_gateway_notify_render_errors_total",
			Help: "Template errors while rendering a notification; the default text was sent instead.",
		}),
		queueFull: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_notify_queue_full_total",
			Help: "Events refused with 503 because the queue of a destination they need had no room, by destination.",
		}, []string{"destination"}),
		logsDropped: webhook.NewLogLinesSuppressed("notify"),
	}
	for _, c := range requestCodes {
		m.requests.WithLabelValues(c)
	}
	for _, d := range destinations {
		m.depth.WithLabelValues(d)
		m.retries.WithLabelValues(d)
		m.queueFull.WithLabelValues(d)
		m.deliveries.WithLabelValues(d, resultDelivered)
		m.deliveries.WithLabelValues(d, resultFailed)
	}
	for _, r := range []string{suppressedThrottled, suppressedDuplicate} {
		m.suppressed.WithLabelValues(r)
	}
	for _, r := range []string{authMissing, authInvalid, authAudience, authForbidden, authUnavailable, authBusy, authThrottled} {
		m.authFailures.WithLabelValues(r)
	}
	for _, l := range []string{limitCaller, limitInFlight, limitConnection} {
		m.limited.WithLabelValues(l)
	}
	for _, r := range []string{resultSuccess, resultError} {
		m.reviews.WithLabelValues(r)
	}
	m.Collectors = metrics.Collectors{m.requests, m.depth, m.deliveries, m.retries, m.suppressed, m.authFailures,
		m.limited, m.reviews, m.queueFull, m.renderErrors, m.logsDropped}
	return m
}
