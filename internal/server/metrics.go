package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orkspace/orkestra-gateway/internal/registration"
)

// metrics are the process-level metrics; the webhook handlers register their
// own (requests, decisions, latency) in package admission.
type metrics struct {
	syncs       *prometheus.CounterVec
	registWrite *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_sync_total",
			Help: "Maintenance ticks by result.",
		}, []string{"result"}),
		registWrite: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_registration_writes_total",
			Help: "Webhook configuration writes by action (created, updated, deleted).",
		}, []string{"action"}),
	}
	reg.MustRegister(m.syncs, m.registWrite)
	return m
}

func (m *metrics) observeSync(res registration.Result, err error) {
	if err != nil {
		m.syncs.WithLabelValues("error").Inc()
	} else {
		m.syncs.WithLabelValues("ok").Inc()
	}
	m.registWrite.WithLabelValues("created").Add(float64(res.Created))
	m.registWrite.WithLabelValues("updated").Add(float64(res.Updated))
	m.registWrite.WithLabelValues("deleted").Add(float64(res.Deleted))
}
