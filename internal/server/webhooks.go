package server

import (
	"fmt"
	"math"
	"net/http"
	"runtime/debug"

	"github.com/orkspace/orkestra-gateway/internal/admission"
	"github.com/orkspace/orkestra-gateway/internal/conversion"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// route is one path of the webhook listener: the registration feature
// whose configuration (or CRD spec.conversion) sends the API server there.
type route struct {
	feature webhook.Feature
	handler http.Handler
}

// routes lists what the webhook listener serves for p: every admission
// webhook (disabled ones allow everything, so a stale registration never
// meets a 404), and /convert when a CRD entry converts.
func (g *Gateway) routes(l *webhook.Listener) ([]route, error) {
	var rs []route
	for _, w := range admission.Webhooks(g.policy, admission.WithMetrics(g.metrics.admission)) {
		// Each handler also answers the probes of an engine switch sent
		// through its configuration (registration.Prober).
		h := admission.AnswerProbes(w.Handler, g.ns, g.policy.Certs.SecretName)
		rs = append(rs, route{w.Feature, admission.Serve(w.Name, h, admission.ServeOptions{
			Logger: g.log, Metrics: g.metrics.admission, Listener: l, Operations: w.Operations,
		})})
	}
	// Without a converting entry /convert answers 404, and nothing of the
	// converter's memory budget is exposed.
	if g.policy.Converts() {
		conv, err := conversion.New(g.policy, conversion.Options{Logger: g.log, Metrics: g.metrics.conversion, Listener: l, Key: g.tls.conversionKey})
		if err != nil {
			return nil, fmt.Errorf("conversion: %w", err)
		}
		rs = append(rs, route{webhook.Convert, conv})
	}
	return rs, nil
}

// webhookHandler mounts the routes on one mux behind one Listener.
func (g *Gateway) webhookHandler() (http.Handler, error) {
	budget := bodyBudget(debug.SetMemoryLimit(-1))
	l := webhook.NewListener(webhook.ListenerOptions{Logger: g.log, MaxBytesInFlight: budget, Metrics: g.metrics.listener})
	rs, err := g.routes(l)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	for _, r := range rs {
		mux.Handle(r.feature.Path(), r.handler)
	}
	g.log.Debug("webhook listener", "paths", len(rs), "bodyBudget", budget)
	return mux, nil
}

// The webhook listener's budget of request body bytes in flight. What a
// request costs beyond its body is proportional to it: an AdmissionReview
// is decoded in place (its objects stay slices of the body) and the
// handlers decode only the fields they read; a ConversionReview holds its
// body and the converted objects, with one object decoded at a time.
// Measured with the bundle's GOMEMLIMIT (115 MiB, a budget of 29 MiB): a
// 15 MiB ConversionReview peaks at 85-91 MiB of RSS, an UPDATE of two
// 3.8 MiB objects at 55-58 MiB, from 24 MiB idle. A quarter of the memory limit for
// bodies keeps the worst case under the limit, with the rest for the
// runtime, the connections and the tick.
const (
	defaultBodyBudget = 32 << 20 // no GOMEMLIMIT: sized for the bundle's 128 MiB
	minBodyBudget     = conversion.DefaultMaxBodyBytes
	maxBodyBudget     = 256 << 20
)

// bodyBudget is the budget for a Go memory limit (GOMEMLIMIT; MaxInt64 when
// unset): a quarter of it, at least one ConversionReview at its limit.
func bodyBudget(memLimit int64) int64 {
	if memLimit <= 0 || memLimit == math.MaxInt64 {
		return defaultBodyBudget
	}
	return min(max(memLimit/4, minBodyBudget), maxBodyBudget)
}
