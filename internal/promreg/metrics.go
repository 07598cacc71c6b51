// Package promreg holds what the gateway's packages share about Prometheus
// registration.
package promreg

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c, or returns the collector already registered under
// its name (several handlers, or several tests, on one registry). A clash
// with a foreign collector of the same name is logged and c is returned
// unregistered: serving matters more than a metric.
func Register[C prometheus.Collector](reg prometheus.Registerer, log *slog.Logger, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	if log != nil {
		log.Error("cannot register a metric", "err", err.Error())
	}
	return c
}
