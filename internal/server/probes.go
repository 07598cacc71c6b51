package server

import (
	"net/http"
	"sync"
)

// readiness is the state behind /readyz: every condition must hold. It
// holds the name of the condition that does not (a fixed phrase such as
// "registrations not applied"), never the error behind it: /readyz is
// unauthenticated, and API server errors name resources, users and
// permissions. The caller logs the error.
type readiness struct {
	mu     sync.Mutex
	reason string // "" when ready
}

func newReadiness() *readiness { return &readiness{reason: "starting"} }

func (r *readiness) set(reason string) {
	r.mu.Lock()
	r.reason = reason
	r.mu.Unlock()
}

func (r *readiness) get() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reason
}

func (r *readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if reason := r.get(); reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + reason + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

func livez(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}
