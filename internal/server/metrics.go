package server

import (
	"github.com/orkspace/orkestra-gateway/internal/admission"
	"github.com/orkspace/orkestra-gateway/internal/buildinfo"
	"github.com/orkspace/orkestra-gateway/internal/conversion"
	"github.com/orkspace/orkestra-gateway/internal/dedup"
	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/notify"
	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// The listeners of the process, the listener label of the in-flight gauge.
const (
	listenerWebhook = "webhook"
	listenerNotify  = "notify"
	listenerProbe   = "probe"
)

// gatewayMetrics are every collector of the process, built once in Run and
// registered once; each package's collectors are injected into it. Every
// series with a fixed label set exists at zero from the start (notify's
// and the claims' too, whether notifications are on or not).
type gatewayMetrics struct {
	metrics.Collectors
	admission  *admission.Metrics
	conversion *conversion.Metrics
	listener   *webhook.ListenerMetrics // the webhook listener's budget, panics, logs
	certs      *certMetrics             // tls.go
	notify     *notify.Metrics
	dedup      *dedup.Metrics // the notification claims (leases.go)

	build      *metrics.GaugeVec
	ready      *metrics.Gauge
	unenforced *metrics.Gauge    // CEL rules no engine enforces
	inFlight   *metrics.GaugeVec // by listener

	syncs       *metrics.CounterVec
	syncOK      *metrics.Counter
	syncError   *metrics.Counter
	registWrite *metrics.CounterVec
	created     *metrics.Counter
	updated     *metrics.Counter
	deleted     *metrics.Counter
}

func newMetrics(build buildinfo.Info) *gatewayMetrics {
	m := &gatewayMetrics{
		admission:  admission.NewMetrics(),
		conversion: conversion.NewMetrics(),
		listener:   webhook.NewListenerMetrics(),
		certs:      newCertMetrics(),
		notify:     notify.NewMetrics(),
		dedup:      dedup.NewMetrics(),
		build: metrics.NewGaugeVec(metrics.Opts{
			Name: "orkestra_gateway_build_info",
			Help: "Always 1; the labels name the build: version, commit, Go version and build tags.",
		}, []string{"version", "commit", "goversion", "tags"}),
		ready: metrics.NewGauge(metrics.Opts{
			Name: "orkestra_gateway_ready",
			Help: "1 while /readyz answers 200 (registrations applied, the served certificate trusted, not shutting down), else 0.",
		}),
		unenforced: metrics.NewGauge(metrics.Opts{
			Name: "orkestra_gateway_admission_cel_rules_unenforced",
			Help: "CEL rules (expression:) of the Katalog that nothing enforces: engine auto keeps validation on the webhook engine, which never evaluates CEL, because the API server serves no ValidatingAdmissionPolicy. Anything above 0 is a rule the Katalog promises and the cluster does not keep.",
		}),
		inFlight: metrics.NewGaugeVec(metrics.Opts{
			Name: "orkestra_gateway_requests_in_flight",
			Help: "HTTP requests being served, by listener (webhook, notify, probe; the probe listener counts the scrape reading it).",
		}, []string{"listener"}),
		syncs: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_registration_syncs_total",
			Help: "Applications of the registrations (webhook configurations, CRD conversion settings) at start-up and on the maintenance tick, by result (success, error).",
		}, []string{"result"}),
		registWrite: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_registration_writes_total",
			Help: "Webhook configuration writes by action (created, updated, deleted).",
		}, []string{"action"}),
	}
	m.build.WithLabelValues(build.Version, build.Commit, build.Go, build.Tags).Set(1)
	for _, l := range []string{listenerWebhook, listenerNotify, listenerProbe} {
		m.inFlight.WithLabelValues(l)
	}
	m.syncOK, m.syncError = m.syncs.WithLabelValues("success"), m.syncs.WithLabelValues("error")
	m.created = m.registWrite.WithLabelValues("created")
	m.updated = m.registWrite.WithLabelValues("updated")
	m.deleted = m.registWrite.WithLabelValues("deleted")
	m.Collectors = metrics.Collectors{m.admission, m.conversion, m.listener, m.certs, m.notify, m.dedup,
		m.build, m.ready, m.unenforced, m.inFlight, m.syncs, m.registWrite}
	return m
}

func (m *gatewayMetrics) observeSync(res registration.Result, err error) {
	if err != nil {
		m.syncError.Inc()
	} else {
		m.syncOK.Inc()
	}
	m.created.Add(float64(res.Created))
	m.updated.Add(float64(res.Updated))
	m.deleted.Add(float64(res.Deleted))
}
