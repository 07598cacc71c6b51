package notify

import (
	"github.com/orkspace/orkestra-gateway/internal/promreg"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values.
const (
	resultDelivered = "delivered"
	resultFailed    = "failed"

	suppressedThrottled = "throttled"
	suppressedDuplicate = "duplicate"

	authMissing     = "missing"   // no bearer token
	authInvalid     = "invalid"   // the TokenReview did not authenticate it
	authForbidden   = "forbidden" // authenticated, not in allowedCallers
	authUnavailable = "error"     // the TokenReview could not be made
)

type metrics struct {
	requests     *prometheus.CounterVec
	depth        *prometheus.GaugeVec
	deliveries   *prometheus.CounterVec
	retries      *prometheus.CounterVec
	suppressed   *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	renderErrors prometheus.Counter
}

// newMetrics returns the notify collectors registered on reg (none when reg
// is nil). No label carries an event field or a secret: label values are
// fixed sets, so cardinality is bounded whatever callers send.
func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_notify_requests_total",
			Help: "/notify requests by HTTP status code.",
		}, []string{"code"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "orkestra_gateway_notify_queue_depth",
			Help: "Deliveries waiting or being attempted, by destination (email, slack-webhook, slack-api).",
		}, []string{"destination"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_notify_deliveries_total",
			Help: "Final delivery outcomes by channel (email, slack-webhook, slack-api) and result (delivered, failed).",
		}, []string{"channel", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_notify_retries_total",
			Help: "Delivery attempts that failed and were scheduled again, by channel.",
		}, []string{"channel"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_notify_suppressed_total",
			Help: "Event deliveries (per team) not queued, by reason (throttled, duplicate).",
		}, []string{"reason"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_notify_auth_failures_total",
			Help: "Rejected /notify callers by reason (missing, invalid, forbidden, error).",
		}, []string{"reason"}),
		renderErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orkestra_gateway_notify_render_errors_total",
			Help: "Template errors while rendering a notification; the default text was sent instead.",
		}),
	}
	// Zero series for the fixed label sets, so dashboards and alerts see 0
	// rather than nothing.
	for _, d := range destinations {
		m.depth.WithLabelValues(d)
		m.retries.WithLabelValues(d)
		m.deliveries.WithLabelValues(d, resultDelivered)
		m.deliveries.WithLabelValues(d, resultFailed)
	}
	for _, r := range []string{suppressedThrottled, suppressedDuplicate} {
		m.suppressed.WithLabelValues(r)
	}
	for _, r := range []string{authMissing, authInvalid, authForbidden, authUnavailable} {
		m.authFailures.WithLabelValues(r)
	}
	if reg == nil {
		return m
	}
	m.requests = promreg.Register(reg, log, m.requests)
	m.depth = promreg.Register(reg, log, m.depth)
	m.deliveries = promreg.Register(reg, log, m.deliveries)
	m.retries = promreg.Register(reg, log, m.retries)
	m.suppressed = promreg.Register(reg, log, m.suppressed)
	m.authFailures = promreg.Register(reg, log, m.authFailures)
	m.renderErrors = promreg.Register(reg, log, m.renderErrors)
	return m
}
