package server

import (
	"context"
	"sort"
	"strings"
	"sync"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/orkspace/orkestra-gateway/internal/kubeclient"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// engineState is what the tick needs to choose and switch engines: a
// client for discovery (engine auto) and the last answer, and the rest
// configuration the prober of an engine switch is built from.
type engineState struct {
	cluster   *kubeclient.Cluster
	discovery rest.Interface

	mu      sync.Mutex
	known   bool
	support registration.Support
	probe   *registration.SecretProber
}

func (e *engineState) init(c *kubeclient.Cluster) error {
	e.cluster = c
	o := engineClient
	d, err := rest.UnversionedRESTClientForConfigAndClient(dynamic.ConfigFor(c.Config(o)), c.HTTPClient(o))
	if err != nil {
		return err
	}
	e.discovery = d
	return nil
}

// engineClient is the budget of discovery (engine auto, once a tick) and of
// the probes of an engine switch (a few a second while one is pending).
var engineClient = kubeclient.Options{UserAgent: userAgent, QPS: 10, Burst: 20}

// support is what the API server serves of the native kinds, read on each
// tick when the engine is auto. A failed discovery keeps the last answer
// (a transient error must not switch engines back and forth); before any
// answer the webhook engine is taken.
func (g *Gateway) support(ctx context.Context) registration.Support {
	if g.policy.Admission.Engine != policy.EngineAuto {
		return registration.Support{Validating: true, Mutating: true}
	}
	e := &g.engines
	s, err := registration.Discover(ctx, e.discovery)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		g.log.Warn("discovery of the admission policy kinds failed; keeping the last answer", "err", err, "known", e.known)
		return e.support
	}
	if !e.known || s != e.support {
		g.log.Info("admission policy kinds served", "validatingAdmissionPolicy", s.Validating, "mutatingAdmissionPolicy", s.Mutating)
	}
	e.known, e.support = true, s
	return s
}

// prober probes with the gateway's TLS Secret; nil with external
// certificates (no Secret), where the plan falls back to waiting a tick.
func (g *Gateway) prober() registration.Prober {
	if g.externalCerts || g.engines.cluster == nil {
		return nil
	}
	e := &g.engines
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.probe == nil {
		p, err := registration.NewSecretProber(e.cluster.Config(engineClient), e.cluster.HTTPClient(engineClient), g.ns, g.policy.Certs.SecretName)
		if err != nil {
			g.log.Error("probe client", "err", err)
			return nil
		}
		e.probe = p
	}
	return e.probe
}

// checkCELEnforced makes CEL rules that nothing enforces loud: the webhook
// engine never evaluates them, so with validation on it (engine auto on a
// cluster without ValidatingAdmissionPolicy) they are promised by the
// Katalog and kept by nobody. An error on every tick, and a gauge for
// alerting; the replica stays ready, because making it unready would take
// down every other feature it serves (protection fails closed).
func (g *Gateway) checkCELEnforced(engines map[webhook.Feature]policy.Engine) {
	if engines == nil {
		return
	}
	n, entries := registration.UnenforcedCEL(g.policy, engines)
	g.metrics.unenforced.Set(float64(n))
	if n > 0 {
		g.log.Error("CEL rules are not enforced: validation runs on the webhook engine, which never evaluates CEL, because the API server serves no ValidatingAdmissionPolicy",
			"rules", n, "entries", strings.Join(entries, ","), "engine", string(g.policy.Admission.Engine))
	}
}

// engineNames renders the engine per feature for logs: "deletion-protection=native ...".
func engineNames(m map[webhook.Feature]policy.Engine) string {
	var out []string
	for f, e := range m {
		out = append(out, string(f)+"="+string(e))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
