package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/orkspace/orkestra-gateway/bench"
	"github.com/orkspace/orkestra-gateway/internal/registration"
)

// nativeKatalog is the Katalog name of bench.NativeKatalog.
const nativeKatalog = "bench-native"

// engines is section 2b: each admission engine against its baseline, end
// to end. The native engine's gateway registers its policies at start-up;
// creates then never reach it.
func (h *harness) engines(ctx context.Context) (*bench.Engines, error) {
	if err := h.registerFloor(ctx); err != nil {
		return nil, err
	}
	g, err := h.newGateway()
	if err != nil {
		return nil, err
	}
	if _, err := bench.WriteNativeKatalog(g.dir, g.url("")); err != nil {
		return nil, err
	}
	h.logf("starting the native engine's gateway (Katalog %s)", nativeKatalog)
	if err := h.start(g, filepath.Join(h.work, "gateway-native.log")); err != nil {
		return nil, err
	}
	defer func() {
		g.stop()
		if err := registration.Remove(context.Background(), h.dyn, nativeKatalog); err != nil {
			h.logf("removing the native policies: %v", err)
		}
	}()
	if err := g.waitReady(60*time.Second, 20*time.Millisecond); err != nil {
		return nil, err
	}
	first := bench.Violations[0]
	for _, grp := range []string{bench.GroupGateway, bench.GroupVAP, bench.GroupNative} {
		if err := eventually(ctx, 60*time.Second, "admission active for "+grp, func() error {
			return denied(h.create(ctx, bench.Broken(grp, 0, first), true), first.Message)
		}); err != nil {
			return nil, err
		}
	}
	// Equivalence: each rule broken alone is denied by the three with its
	// message; a valid object passes all.
	same := 0
	for i, v := range bench.Violations {
		for _, grp := range []string{bench.GroupGateway, bench.GroupVAP, bench.GroupNative} {
			if err := denied(h.create(ctx, bench.Broken(grp, i, v), true), v.Message); err != nil {
				return nil, fmt.Errorf("%s, rule %d: %w", grp, i+1, err)
			}
		}
		same++
	}
	for _, grp := range []string{bench.GroupNone, bench.GroupVAP, bench.GroupNative, bench.GroupFloor, bench.GroupGateway} {
		if err := h.create(ctx, bench.Website(grp, 999_999), true); err != nil { // a name section 2 does not use
			return nil, fmt.Errorf("a valid Website of %s: %w", grp, err)
		}
	}

	vs := []*variant{
		{name: "none", group: bench.GroupNone}, {name: "vap", group: bench.GroupVAP}, {name: "native", group: bench.GroupNative},
		{name: "floor", group: bench.GroupFloor}, {name: "webhook", group: bench.GroupGateway},
	}
	// Object names distinct from section 2's; the API server's policy
	// plugin time read around each batch.
	rounds, per, err := h.interleavedCreates(ctx, "engines", vs, 1_000_000, nil, func(v *variant, creates func() error) error {
		before, err := h.scrapePlugin(ctx)
		if err != nil {
			return err
		}
		if err := creates(); err != nil {
			return err
		}
		after, err := h.scrapePlugin(ctx)
		if err != nil {
			return err
		}
		v.plugin.add(before, after)
		return nil
	})
	if err != nil {
		return nil, err
	}
	e := &bench.Engines{
		Creates: per * rounds, Rounds: rounds,
		None: bench.Summarize(vs[0].lat), VAP: bench.Summarize(vs[1].lat), Native: bench.Summarize(vs[2].lat),
		Floor: bench.Summarize(vs[3].lat), Webhook: bench.Summarize(vs[4].lat),
		Equivalence: strconv.Itoa(same) + " of " + strconv.Itoa(len(bench.Violations)) + " rules deny identically under the three",
	}
	e.PolicyMicros = bench.PolicyMicros{None: vs[0].plugin.meanMicros(), VAP: vs[1].plugin.meanMicros(), Native: vs[2].plugin.meanMicros()}
	e.NativeVsVAPPolicy = bench.Ratio(e.PolicyMicros.Native-e.PolicyMicros.None, e.PolicyMicros.VAP-e.PolicyMicros.None)
	e.NativeVsVAP = bench.Compare(e.Native, e.VAP)
	e.WebhookVsFloor = bench.Compare(e.Webhook, e.Floor)
	e.NativeVsNone = bench.Compare(e.Native, e.None)
	for _, part := range registration.NativeParts {
		name := part.Name(nativeKatalog)
		if _, err := h.dyn.Resource(policyGVR(part)).Get(ctx, name, getOpts); err == nil {
			e.Policies = append(e.Policies, name)
		}
	}
	for _, v := range vs {
		l := bench.Summarize(v.lat)
		h.logf("engines %-8s p50 %.3f p95 %.3f p99 %.3f ms", v.name, l.P50, l.P95, l.P99)
	}
	h.logf("engines: the API server's ValidatingAdmissionPolicy plugin per create: none %.1f µs, hand-written %.1f µs, native %.1f µs",
		e.PolicyMicros.None, e.PolicyMicros.VAP, e.PolicyMicros.Native)
	return e, nil
}

var getOpts = metav1.GetOptions{}

func policyGVR(part registration.NativePart) schema.GroupVersionResource {
	r := registration.ValidatingPolicies
	if part.Mutating {
		r = registration.MutatingPolicies
	}
	return schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: r}
}
