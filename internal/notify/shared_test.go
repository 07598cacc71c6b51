package notify

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/orkspace/orkestra-gateway/internal/dedup"
	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/notify/notifytest"
	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

// replicas are n notify servers sharing one namespace's Leases in a real
// API server, as n gateway replicas do. client nil means the control
// plane's.
func replicas(t *testing.T, n int, client dynamic.Interface) []*harness {
	t.Helper()
	env := controlPlane(t)
	if client == nil {
		client = env.Dynamic
	}
	ns := env.Namespace(t, "notify-shared")
	var hs []*harness
	for i := range n {
		hs = append(hs, newHarness(t, harnessOptions{Katalog: slackKatalog, Shared: func(reg *metrics.Registry, log *slog.Logger) SharedThrottle {
			m := dedup.NewMetrics()
			reg.MustRegister(m)
			l, err := dedup.New(client, dedup.Options{Namespace: ns, Holder: fmt.Sprintf("gateway-%d", i), Scope: "shop", Metrics: m, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			return l
		}}))
	}
	return hs
}

// postAll posts the same event to every replica at the same instant.
func postAll(t *testing.T, hs []*harness, ev map[string]any) []response {
	t.Helper()
	out := make([]response, len(hs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Go(func() {
			<-start
			out[i] = h.post(runtimeToken, ev, "")
		})
	}
	close(start)
	wg.Wait()
	return out
}

func delivered(hs []*harness) int {
	n := 0
	for _, h := range hs {
		h.waitIdle(5 * time.Second)
		n += len(h.slack.Delivered())
	}
	return n
}

func statuses(rs []response) (queued, suppressed int, reasons []string) {
	for _, r := range rs {
		switch r.ans.Status {
		case statusQueued:
			queued++
		case statusSuppressed:
			suppressed++
			reasons = append(reasons, r.ans.Reason)
		}
	}
	return queued, suppressed, reasons
}

// The same event at three replicas is delivered once; so is an event id
// seen with different keys; another key is another delivery.
func TestSharedThrottleAcrossReplicas(t *testing.T) {
	hs := replicas(t, 3, nil)
	rs := postAll(t, hs, eventBody("ops"))
	q, s, reasons := statuses(rs)
	if q != 1 || s != 2 {
		t.Fatalf("same event at 3 replicas: %d queued, %d suppressed (%v), want 1 and 2", q, s, rs)
	}
	for _, r := range reasons {
		if !strings.Contains(r, "throttled") || !strings.Contains(r, "another replica") {
			t.Errorf("suppressed reason %q", r)
		}
	}
	if n := delivered(hs); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}

	// One id, a different key at each replica: one delivery.
	var dup []response
	for i, h := range hs {
		dup = append(dup, h.post(runtimeToken, eventBody("ops", "id", "ev-7", "crName", fmt.Sprintf("dup-%d", i)), "").want(t, http.StatusAccepted))
	}
	if q, s, reasons := statuses(dup); q != 1 || s != 2 || !strings.Contains(strings.Join(reasons, " "), `duplicate id "ev-7"`) {
		t.Errorf("one id at 3 replicas: %d queued, %d suppressed %v", q, s, reasons)
	}
	// Another key: delivered.
	hs[2].post(runtimeToken, eventBody("ops", "crName", "web-9"), "").want(t, http.StatusAccepted)
	if n := delivered(hs); n != 3 {
		t.Errorf("%d deliveries, want 3", n)
	}
	var claimed, held float64
	for _, h := range hs {
		claimed += claims(t, h, dedup.ResultClaimed)
		held += claims(t, h, dedup.ResultHeld)
	}
	// The first event: one key claimed, two held. The id: one id and its
	// key claimed, two ids held. The other key: claimed.
	if claimed != 4 || held != 4 {
		t.Errorf("claims: %v claimed, %v held; want 4 and 4", claimed, held)
	}
}

// A replica whose delivery fails gives the key up at once, so another
// replica delivers the caller's retry within the interval.
func TestSharedClaimReleasedOnFailure(t *testing.T) {
	hs := replicas(t, 2, nil)
	hs[0].slack.Push(notifytest.Answer{Error: "channel_not_found"})
	hs[0].post(runtimeToken, eventBody("ops"), "?wait=true").want(t, http.StatusBadGateway)
	// The release is asynchronous: the retry may come before it lands.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := hs[1].post(runtimeToken, eventBody("ops"), "?wait=true")
		if r.code == http.StatusOK && r.ans.Status == statusDelivered {
			break
		}
		if r.ans.Status != statusSuppressed || time.Now().After(deadline) {
			t.Fatalf("retry at the other replica: %d %+v", r.code, r.ans)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Now held by the second replica: the first suppresses.
	r := hs[0].post(runtimeToken, eventBody("ops"), "").want(t, http.StatusAccepted)
	if r.ans.Status != statusSuppressed {
		t.Errorf("after the retry was delivered: %+v", r.ans)
	}
}

// With the API server unreachable every replica delivers (at least once
// beats never) and counts it.
func TestSharedThrottleUnavailable(t *testing.T) {
	cfg := rest.CopyConfig(controlPlane(t).Config)
	cfg.Host = fmt.Sprintf("https://127.0.0.1:%d", closedPort(t))
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := replicas(t, 2, client)
	for _, h := range hs {
		r := h.post(runtimeToken, eventBody("ops", "id", "ev-1"), "").want(t, http.StatusAccepted)
		if r.ans.Status != statusQueued {
			t.Errorf("API server down: %+v", r.ans)
		}
	}
	if n := delivered(hs); n != 2 {
		t.Errorf("%d deliveries, want one per replica", n)
	}
	for i, h := range hs {
		if got := claims(t, h, dedup.ResultUnavailable); got != 2 { // the id and the key
			t.Errorf("replica %d counted %v unavailable claims, want 2", i, got)
		}
		if !strings.Contains(h.logs.String(), "delivering anyway") {
			t.Errorf("replica %d did not log the unavailable claim:\n%s", i, h.logs.String())
		}
		// Locally the key is still throttled.
		r := h.post(runtimeToken, eventBody("ops", "id", "ev-1"), "").want(t, http.StatusAccepted)
		if r.ans.Status != statusSuppressed {
			t.Errorf("replica %d repeat: %+v", i, r.ans)
		}
	}
}

// claims reads orkestra_gateway_notify_claims_total{result} of a replica.
func claims(t *testing.T, h *harness, result string) float64 {
	t.Helper()
	return testenv.CounterValue(t, h.reg, "orkestra_gateway_notify_claims_total", "result", result)
}
