package server

import (
	"net/http"
	"sync"

	"github.com/orkspace/orkestra-gateway/internal/metrics"
)

// readiness is the state behind /readyz: every condition must hold. It
// holds the name of the condition that does not (a fixed phrase such as
// "registrations not applied"), never the error behind it: /readyz is
// unauthenticated, and API server errors name resources, users and
// permissions. The caller logs the error.
type readiness struct {
	mu     sync.Mutex
	reason string         // "" when ready
	gauge  *metrics.Gauge // orkestra_gateway_ready; nil: not exported
}

func newReadiness(gauge *metrics.Gauge) *readiness {
	return &readiness{reason: "starting", gauge: gauge}
}

func (r *readiness) set(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reason = reason
	if r.gauge != nil {
		if reason == "" {
			r.gauge.Set(1)
		} else {
			r.gauge.Set(0)
		}
	}
}

func (r *readiness) get() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reason
}

func (r *readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !readOnly(w, req) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if reason := r.get(); reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + reason + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

func livez(w http.ResponseWriter, req *http.Request) {
	if !readOnly(w, req) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readOnly answers 405 to anything but GET and HEAD (the probes and
// scrapers), and reports whether the request may go on.
func readOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method "+r.Method+" not allowed; probes and /metrics are read with GET", http.StatusMethodNotAllowed)
	return false
}

// readOnlyHandler is h behind readOnly (the /metrics handler answers any
// method).
func readOnlyHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if readOnly(w, r) {
			h.ServeHTTP(w, r)
		}
	})
}
