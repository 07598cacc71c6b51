package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orkspace/orkestra-gateway/internal/admission"
	"github.com/orkspace/orkestra-gateway/internal/conversion"
	"github.com/orkspace/orkestra-gateway/internal/dedup"
	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// metrics are every collector of the process except notify's, built once
// in Run and registered once; each package's collectors are injected into
// it. Every series with a fixed label set exists at zero from the start.
type metrics struct {
	admission  *admission.Metrics
	conversion *conversion.Metrics
	listener   *webhook.ListenerMetrics // the webhook listener's budget, panics, logs
	certs      *certMetrics             // tls.go
	dedup      *dedup.Metrics           // the notification claims (leases.go)

	syncs       *prometheus.CounterVec
	syncOK      prometheus.Counter
	syncError   prometheus.Counter
	registWrite *prometheus.CounterVec
	created     prometheus.Counter
	updated     prometheus.Counter
	deleted     prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		admission:  admission.NewMetrics(),
		conversion: conversion.NewMetrics(),
		listener:   webhook.NewListenerMetrics(),
		certs:      newCertMetrics(),
		dedup:      dedup.NewMetrics(),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_sync_total",
			Help: "Maintenance ticks by result.",
		}, []string{"result"}),
		registWrite: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_registration_writes_total",
			Help: "Webhook configuration writes by action (created, updated, deleted).",
		}, []string{"action"}),
	}
	m.syncOK, m.syncError = m.syncs.WithLabelValues("ok"), m.syncs.WithLabelValues("error")
	m.created = m.registWrite.WithLabelValues("created")
	m.updated = m.registWrite.WithLabelValues("updated")
	m.deleted = m.registWrite.WithLabelValues("deleted")
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.admission, m.conversion, m.listener, m.certs, m.dedup, m.syncs, m.registWrite}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

func (m *metrics) observeSync(res registration.Result, err error) {
	if err != nil {
		m.syncError.Inc()
	} else {
		m.syncOK.Inc()
	}
	m.created.Add(float64(res.Created))
	m.updated.Add(float64(res.Updated))
	m.deleted.Add(float64(res.Deleted))
}
