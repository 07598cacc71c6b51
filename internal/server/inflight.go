package server

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/metrics"
)

// inflight counts the requests a listener is serving, in its gauge of
// orkestra_gateway_requests_in_flight. For the webhook listener the count
// also lets shutdown close the remaining connections as soon as no request
// is left: http.Server.Shutdown alone waits up to 5 s for connections that
// were opened but never used, which the API server keeps around, and that
// wait would eat the time the registration cleanup needs.
type inflight struct {
	n     atomic.Int64
	gauge *metrics.Gauge // nil: not exported
}

func (f *inflight) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.n.Add(1)
		if f.gauge != nil {
			f.gauge.Inc()
			defer f.gauge.Dec()
		}
		defer f.n.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// stop closes srv's listeners, lets the requests in flight finish (until ctx
// ends), then closes every connection.
func (f *inflight) stop(ctx context.Context, srv *http.Server) error {
	srv.SetKeepAlivesEnabled(false)
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			_ = srv.Close()
			return ctx.Err()
		case <-tick.C:
			if f.n.Load() == 0 {
				_ = srv.Close()
				<-done
				return nil
			}
		}
	}
}
