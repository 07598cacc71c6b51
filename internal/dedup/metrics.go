package dedup

import "github.com/orkspace/orkestra-gateway/internal/metrics"

// Metrics are the claim collectors. Build them once per process
// (NewMetrics), register them once, and give them to every Leases
// (Options.Metrics); every series exists, at zero, from the start.
type Metrics struct {
	claims  *metrics.CounterVec
	cleanup *metrics.CounterVec

	claimed, held, unavailable *metrics.Counter // claims by result
	removed, failed            *metrics.Counter // cleanup by result
}

// NewMetrics returns the claim collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		claims: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_notify_claims_total",
			Help: "Claims of a throttle key or event id across replicas (one Lease each), by result: claimed (this replica delivers), " +
				"held (another replica holds it: suppressed), unavailable (the API server could not decide: delivered anyway, possibly twice).",
		}, []string{"result"}),
		cleanup: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_notify_lease_cleanup_total",
			Help: "Leases removed by this replica (expired on the maintenance tick, or released after a failed delivery), and removals that failed, by result (removed, error).",
		}, []string{"result"}),
	}
	m.claimed = m.claims.WithLabelValues(ResultClaimed)
	m.held = m.claims.WithLabelValues(ResultHeld)
	m.unavailable = m.claims.WithLabelValues(ResultUnavailable)
	m.removed = m.cleanup.WithLabelValues("removed")
	m.failed = m.cleanup.WithLabelValues("error")
	return m
}

// Describe implements metrics.Collector.
func (m *Metrics) Describe(f func(*metrics.Desc)) {
	m.claims.Describe(f)
	m.cleanup.Describe(f)
}

// Collect implements metrics.Collector.
func (m *Metrics) Collect(f func(*metrics.Desc, metrics.Sample)) {
	m.claims.Collect(f)
	m.cleanup.Collect(f)
}
