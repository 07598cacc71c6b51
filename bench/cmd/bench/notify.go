package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/orkspace/orkestra-gateway/bench"
)

// slackStub stands in for a Slack incoming webhook: it answers at once and
// counts deliveries.
type slackStub struct {
	srv       *http.Server
	url       string
	delivered atomic.Int64
}

func startSlackStub() (*slackStub, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &slackStub{url: "http://" + ln.Addr().String() + "/hooks/bench"}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.delivered.Add(1)
		w.Write([]byte("ok"))
	}), ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *slackStub) close() { s.srv.Close() }

// The caller allowed by the benchmark Katalog (notification.allowedCallers).
const runtimeNS, runtimeSA = "orkestra-system", "orkestra-runtime"

// notify is section 6: events per second the gateway's /notify accepts,
// with delivery to a stub Slack incoming webhook, and the gateway's RSS.
// The caller authenticates with a real ServiceAccount token, which the
// gateway checks with a TokenReview (cached).
func (h *harness) notify(ctx context.Context) *bench.Notify {
	n := &bench.Notify{Status: bench.NotMeasured}
	t, err := h.notifyTarget(ctx)
	if err != nil {
		n.Reason = err.Error()
		return n
	}
	t.OK = func(status int, _ []byte) bool { return status == http.StatusAccepted }
	conns := min(h.o.conns, 16)
	// Warm-up: the TokenReview, connections; its events are delivered too.
	if warm := bench.Max(ctx, t, conns, 500*time.Millisecond); warm.Sent == warm.Errors {
		n.Reason = fmt.Sprintf("/notify accepted no event: %s", warm.FirstError)
		h.logf("notify: %s", n.Reason)
		return n
	}
	time.Sleep(2 * time.Second) // let the warm-up's deliveries finish
	pid := h.main.proc.PID()
	if rss, err := bench.RSS(pid); err == nil {
		n.RSSIdleMiB = bench.MiB(rss)
	}
	before := h.slack.delivered.Load()
	run := bench.Max(ctx, t, conns, h.o.notifyDur)
	if rss, err := bench.RSS(pid); err == nil {
		n.RSSEndMiB = bench.MiB(rss)
	}
	n.Status = "measured"
	n.Seconds, n.Connections = run.Seconds, conns
	n.Accepted, n.Refused = run.Sent-run.Errors, run.Errors
	n.PerSecond, n.Latency, n.FirstError = run.Throughput, run.Latency, run.FirstError
	n.Delivered = h.slack.delivered.Load() - before
	h.logf("notify: %.0f events/s accepted, %d refused, %d delivered, RSS %.1f MiB", n.PerSecond, n.Refused, n.Delivered, n.RSSEndMiB)
	return n
}

// notifyTarget sends distinct events to the gateway's /notify as the
// allowed caller; the caller sets OK.
func (h *harness) notifyTarget(ctx context.Context) (bench.Target, error) {
	token, err := h.env.ServiceAccountTokenFor(ctx, runtimeNS, runtimeSA, 0, "orkestra-gateway")
	if err != nil {
		return bench.Target{}, err
	}
	client, err := bench.NewClient(h.caPEM, h.o.conns)
	if err != nil {
		return bench.Target{}, err
	}
	now := time.Now().UTC().Format(time.RFC3339)
	return bench.Target{
		Client: client,
		URL:    fmt.Sprintf("https://127.0.0.1:%d/notify", h.main.notifyPort),
		Header: http.Header{"Authorization": {"Bearer " + token}},
		Body: func(i int64) []byte {
			b, _ := json.Marshal(map[string]any{
				"katalogName": "bench", "crName": fmt.Sprintf("shop-%d", i), "crNamespace": bench.Namespace,
				"gvk": bench.GroupGateway + "/v1/Website", "condKey": "Ready", "teamName": "platform",
				"subject": "Website not ready", "message": "replicas unavailable for 5m", "severity": "warning",
				"timestamp": now,
			})
			return b
		},
	}, nil
}
