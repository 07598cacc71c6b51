package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/orkspace/orkestra-gateway/bench"
	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// variant is one copy of the Website CRD and how its creates are admitted.
type variant struct {
	name   string
	group  string
	lat    []time.Duration
	plugin pluginTime // the engines section: the API server's policy plugin
}

func unstructuredOf(o map[string]any) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	return u, u.UnmarshalJSON(b) // integral numbers become int64, as client-go wants
}

func (h *harness) create(ctx context.Context, o map[string]any, dryRun bool) error {
	u, err := unstructuredOf(o)
	if err != nil {
		return err
	}
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	group := strings.TrimSuffix(u.GetAPIVersion(), "/v1")
	_, err = h.dyn.Resource(websites(group)).Namespace(bench.Namespace).Create(ctx, u, opts)
	return err
}

// denied checks that err is the denial of a rule with message msg.
func denied(err error, msg string) error {
	if err == nil {
		return fmt.Errorf("allowed; want a denial saying %q", msg)
	}
	if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
		return fmt.Errorf("want a denial (422 or 403) saying %q, got %v", msg, err)
	}
	if !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("denial %q does not say %q", err, msg)
	}
	return nil
}

// endToEnd is section 2: creates through kube-apiserver with no admission,
// with the gateway's /validate, with the ValidatingAdmissionPolicy, and
// with the floor server registered as the gateway is.
func (h *harness) endToEnd(ctx context.Context) (*bench.EndToEnd, error) {
	if err := h.registerFloor(ctx); err != nil {
		return nil, err
	}
	// Registrations and policies reach the API server's admission chain
	// asynchronously: wait until each variant acts.
	first := bench.Violations[0]
	for _, g := range []string{bench.GroupGateway, bench.GroupVAP} {
		if err := eventually(ctx, 60*time.Second, "admission active for "+g, func() error {
			return denied(h.create(ctx, bench.Broken(g, 0, first), true), first.Message)
		}); err != nil {
			return nil, err
		}
	}
	if err := eventually(ctx, 60*time.Second, "floor webhook called", func() error {
		before, err := h.floorCount(ctx)
		if err != nil {
			return err
		}
		if err := h.create(ctx, bench.Website(bench.GroupFloor, 0), true); err != nil {
			return err
		}
		if after, err := h.floorCount(ctx); err != nil || after == before {
			return fmt.Errorf("the floor was not called (%v)", err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// Equivalence: each rule broken alone is denied by both with its
	// message, and allowed without admission; a valid object passes all.
	same := 0
	for i, v := range bench.Violations {
		if err := h.create(ctx, bench.Broken(bench.GroupNone, i, v), true); err != nil {
			return nil, fmt.Errorf("no admission, rule %d: %w", i+1, err)
		}
		errG := denied(h.create(ctx, bench.Broken(bench.GroupGateway, i, v), true), v.Message)
		errV := denied(h.create(ctx, bench.Broken(bench.GroupVAP, i, v), true), v.Message)
		switch {
		case errG != nil:
			return nil, fmt.Errorf("gateway, rule %d: %w", i+1, errG)
		case errV != nil:
			return nil, fmt.Errorf("ValidatingAdmissionPolicy, rule %d: %w", i+1, errV)
		}
		same++
	}
	for _, g := range websiteGroups {
		if err := h.create(ctx, bench.Website(g, 0), true); err != nil {
			return nil, fmt.Errorf("a valid Website of %s: %w", g, err)
		}
	}

	vs := []*variant{
		{name: "none", group: bench.GroupNone}, {name: "gateway", group: bench.GroupGateway},
		{name: "vap", group: bench.GroupVAP}, {name: "floor", group: bench.GroupFloor},
	}
	var sum0, count0 float64
	afterWarmUp := func() (err error) {
		sum0, count0, err = h.handlerTotals(ctx)
		return err
	}
	rounds, per, err := h.interleavedCreates(ctx, "end to end", vs, 0, afterWarmUp, nil)
	if err != nil {
		return nil, err
	}
	sum1, count1, err := h.handlerTotals(ctx)
	if err != nil {
		return nil, err
	}
	e := &bench.EndToEnd{
		Creates: per * rounds, Rounds: rounds,
		None: bench.Summarize(vs[0].lat), Gateway: bench.Summarize(vs[1].lat), VAP: bench.Summarize(vs[2].lat), Floor: bench.Summarize(vs[3].lat),
		Equivalence: fmt.Sprintf("%d of %d rules deny identically", same, len(bench.Violations)),
	}
	if count1 > count0 {
		e.HandlerMeanMs = bench.Round((sum1-sum0)/(count1-count0)*1000, 4)
	}
	e.GatewayVsVAP = bench.Compare(e.Gateway, e.VAP)
	e.GatewayVsNone = bench.Compare(e.Gateway, e.None)
	e.GatewayVsFloor = bench.Compare(e.Gateway, e.Floor)
	e.FloorVsVAP = bench.Compare(e.Floor, e.VAP)
	for _, v := range []struct {
		name string
		l    bench.Latency
	}{{"none", e.None}, {"gateway", e.Gateway}, {"vap", e.VAP}, {"floor", e.Floor}} {
		h.logf("end to end %-8s p50 %.3f p95 %.3f p99 %.3f ms", v.name, v.l.P50, v.l.P95, v.l.P99)
	}
	h.logf("end to end: the gateway's handler took %.3f ms per request (mean)", e.HandlerMeanMs)
	return e, nil
}

// registerFloor registers the floor server for the floor copy of the CRD
// with the gateway's own webhook settings (a copy of its /validate
// webhook, with the floor's URL and group).
func (h *harness) registerFloor(ctx context.Context) error {
	vwcs := h.dyn.Resource(schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"})
	gw, err := vwcs.Get(ctx, registration.ConfigName("bench", webhook.Validate), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("the gateway's validate configuration: %w", err)
	}
	all, _, _ := unstructured.NestedSlice(gw.Object, "webhooks")
	var hooks []any // without the probe webhook, which only the gateway's probes reach
	for _, h := range all {
		if name, _ := h.(map[string]any)["name"].(string); !strings.HasPrefix(name, "probe.") {
			hooks = append(hooks, h)
		}
	}
	if len(hooks) != 1 {
		return fmt.Errorf("the gateway's validate configuration has %d rule webhooks, want 1", len(hooks))
	}
	hook := hooks[0].(map[string]any)
	hook["name"] = "floor.bench.example.com"
	if err := unstructured.SetNestedField(hook, fmt.Sprintf("https://127.0.0.1:%d/validate", h.floor.port), "clientConfig", "url"); err != nil {
		return err
	}
	rules, _, _ := unstructured.NestedSlice(hook, "rules")
	for _, r := range rules {
		r.(map[string]any)["apiGroups"] = []any{bench.GroupFloor}
	}
	hook["rules"] = rules
	floor := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1",
		"kind":       "ValidatingWebhookConfiguration",
		"metadata":   map[string]any{"name": "bench-floor"},
		"webhooks":   []any{hook},
	}}
	if _, err := vwcs.Create(ctx, floor, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("registering the floor webhook: %w", err)
	}
	return nil
}

func (h *harness) floorCount(ctx context.Context) (int64, error) {
	client, err := bench.NewClient(h.caPEM, 1)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/count", h.floor.port), nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// handlerTotals reads the gateway's /validate latency histogram totals
// from its /metrics.
func (h *harness) handlerTotals(ctx context.Context) (sum, count float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", h.main.probePort), nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	return bench.HistogramTotals(b, "orkestra_gateway_admission_request_duration_seconds", `webhook="validate"`)
}

// interleavedCreates creates Websites of each variant one at a time,
// object names from first on: 30 each to warm up, then h.o.creates each in
// 6 rounds, the variant that goes first rotating, recording each create's
// latency. afterWarmUp runs between the two; batch, when set, wraps each
// variant's batch of a round (measurements around it).
func (h *harness) interleavedCreates(ctx context.Context, section string, vs []*variant, first int,
	afterWarmUp func() error, batch func(v *variant, creates func() error) error) (rounds, per int, err error) {
	n := first
	createOne := func(v *variant, record bool) error {
		o := bench.Website(v.group, n)
		n++
		start := time.Now()
		err := h.create(ctx, o, false)
		d := time.Since(start)
		if err != nil {
			return fmt.Errorf("create in %s: %w", v.group, err)
		}
		if record {
			v.lat = append(v.lat, d)
		}
		return nil
	}
	h.logf("%s: warm-up", section)
	for _, v := range vs {
		for range 30 {
			if err := createOne(v, false); err != nil {
				return 0, 0, err
			}
		}
	}
	if afterWarmUp != nil {
		if err := afterWarmUp(); err != nil {
			return 0, 0, err
		}
	}
	if batch == nil {
		batch = func(_ *variant, creates func() error) error { return creates() }
	}
	rounds = 6
	per = h.o.creates / rounds
	for r := range rounds {
		for k := range vs {
			v := vs[(r+k)%len(vs)] // rotate which variant goes first
			err := batch(v, func() error {
				for range per {
					if err := createOne(v, true); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return 0, 0, err
			}
		}
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
	}
	return rounds, per, nil
}
