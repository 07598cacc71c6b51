// Package server is the gateway process: it loads the Katalog, obtains its
// certificate, serves the webhooks and probes, keeps its registrations in
// place on a maintenance tick, and shuts down without opening a protection
// gap. It holds no state that another replica does not also hold.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"k8s.io/client-go/dynamic"

	"github.com/orkspace/orkestra-gateway/internal/buildinfo"
	"github.com/orkspace/orkestra-gateway/internal/certs"
	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/dedup"
	"github.com/orkspace/orkestra-gateway/internal/kubeclient"
	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/notify"
	"github.com/orkspace/orkestra-gateway/internal/pod"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
)

// userAgent names the gateway's API clients in the API server's logs.
const userAgent = "orkestra-gateway"

// ErrInvalidKatalog is returned when the check pass finds errors; the
// findings have been printed.
var ErrInvalidKatalog = errors.New("the Katalog has errors")

// Gateway is one running replica.
type Gateway struct {
	cfg    Config
	log    *slog.Logger
	policy *policy.Policy
	self   pod.Info
	ns     string // the gateway's namespace

	client   dynamic.Interface
	certs    *certs.Holder
	ready    *readiness
	registry *metrics.Registry
	metrics  *gatewayMetrics // every collector but notify's, registered once

	inflight  inflight       // webhook requests being served
	notifier  *notify.Server // nil when notifications are off
	notifySrv *http.Server
	cluster   *kubeclient.Cluster // every API client is made from it
	leases    *dedup.Leases       // notification claims shared by the replicas (leases.go)

	endpoint      registration.Endpoint
	externalCerts bool      // TLS_CERT_FILE/TLS_KEY_FILE: the user owns caBundle
	tls           *tlsState // tls.go

	engines engineState // engine.go: discovery (auto) and probes of an engine switch
}

// Run runs the gateway until ctx is cancelled (SIGTERM), then shuts down.
// Findings of an invalid Katalog are written to errOut.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, errOut io.Writer) error {
	start := time.Now()
	build := cfg.Build
	if build == (buildinfo.Info{}) {
		build = buildinfo.Read("", "")
	}
	g := &Gateway{cfg: cfg, log: logger, registry: metrics.NewRegistry(), metrics: newMetrics(build)}
	g.registry.MustRegister(metrics.NewGoCollector(), metrics.NewProcessCollector(), g.metrics)
	g.ready = newReadiness(g.metrics.ready)
	g.inflight.gauge = g.metrics.inFlight.WithLabelValues(listenerWebhook)

	// Probes first: liveness answers as soon as the process runs.
	probes, err := g.serveProbes()
	if err != nil {
		return err
	}
	defer probes.Close()
	stopPprof, err := g.startPprof()
	if err != nil {
		return err
	}
	defer stopPprof()
	if err := g.loadKatalog(errOut); err != nil {
		return err
	}
	if err := g.connect(); err != nil {
		return err
	}
	if err := g.loadCertificate(ctx); err != nil {
		return err
	}
	serveErr := make(chan error, 2)
	webhooks, err := g.serveWebhooks(serveErr)
	if err != nil {
		return err
	}
	if err := g.startNotify(serveErr); err != nil {
		return err
	}
	if err := g.sync(ctx); err != nil {
		// The tick retries; a replica that cannot register is not ready.
		g.log.Error("applying registrations", "err", err)
	} else {
		g.log.Info("ready", "katalog", g.policy.Name, "namespace", g.ns, "startup", time.Since(start).String())
	}
	// Start-up leaves garbage (the Katalog's YAML, the check pass, CRD
	// schemas, the first sync) that an idle process would hold until a GC
	// it has no reason to run: collect it once and return the pages.
	debug.FreeOSMemory()
	return g.maintain(ctx, webhooks, serveErr)
}

// serveProbes serves /livez, /readyz and /metrics on the probe port.
func (g *Gateway) serveProbes() (*http.Server, error) {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(g.cfg.ProbePort))
	if err != nil {
		return nil, fmt.Errorf("probe port: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/livez", livez)
	mux.Handle("/readyz", g.ready)
	mux.Handle("/metrics", readOnlyHandler(g.registry))
	probes := &inflight{gauge: g.metrics.inFlight.WithLabelValues(listenerProbe)}
	srv := &http.Server{
		Handler:           probes.wrap(mux),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10, // probes and scrapers send a few hundred bytes
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

// loadKatalog runs the check pass on the Katalog; on errors it prints the
// findings as `ork validate` does and fails.
func (g *Gateway) loadKatalog(errOut io.Writer) error {
	res, err := check.RunFile(g.cfg.KatalogPath)
	if err != nil {
		return fmt.Errorf("reading the Katalog: %w", err)
	}
	if res.Policy == nil {
		// The same lines as `ork validate`, so the fix is the same.
		for _, f := range res.Findings {
			fmt.Fprintln(errOut, f.String())
		}
		return fmt.Errorf("%s: %d errors: %w", g.cfg.KatalogPath, res.Errors(), ErrInvalidKatalog)
	}
	for _, f := range res.Findings { // warnings only: keep the log stream structured
		g.log.Warn("katalog warning", "finding", f.String(), "check", f.ID)
	}
	g.policy = res.Policy
	return nil
}

// connect reads the pod's identity and builds the API server client.
func (g *Gateway) connect() error {
	var err error
	if g.self, err = pod.Self(); err != nil {
		return err
	}
	g.ns = g.policy.Gateway.Namespace
	if g.ns == "" {
		g.ns = g.self.Namespace
	}
	if g.cluster, err = kubeclient.InCluster(); err != nil {
		return fmt.Errorf("in-cluster client: %w", err)
	}
	// A tick reads every managed object; client-go's default of 5 requests/s
	// would stretch short sync intervals.
	g.client, err = g.cluster.Dynamic(kubeclient.Options{UserAgent: userAgent, QPS: 20, Burst: 40})
	if err != nil {
		return fmt.Errorf("in-cluster client: %w", err)
	}
	if err := g.engines.init(g.cluster); err != nil {
		return fmt.Errorf("in-cluster client: %w", err)
	}
	g.endpoint = registration.Endpoint{Namespace: g.ns, Service: g.policy.Gateway.ServiceName, URL: g.policy.Gateway.URL,
		CAInjectFrom: registration.CAInjection(g.policy, g.ns)}
	return nil
}

// serveWebhooks serves every webhook path on the webhook port (webhooks.go).
func (g *Gateway) serveWebhooks(serveErr chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(g.cfg.WebhookPort))
	if err != nil {
		return nil, fmt.Errorf("webhook port: %w", err)
	}
	h, err := g.webhookHandler()
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv := &http.Server{
		Handler:           g.inflight.wrap(h),
		TLSConfig:         g.certs.TLSConfig(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	// HTTP/1.1 only: the API server calls webhooks over HTTP/1.1, and
	// without this ServeTLS would add h2 to the offered protocols.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
	return srv, nil
}

// maintain runs the maintenance tick until ctx ends (then shuts down) or a
// listener fails.
func (g *Gateway) maintain(ctx context.Context, webhooks *http.Server, serveErr <-chan error) error {
	tick := time.NewTicker(g.cfg.SyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return g.shutdown(webhooks)
		case err := <-serveErr:
			return fmt.Errorf("serving: %w", err)
		case <-tick.C:
			if err := g.sync(ctx); err != nil {
				g.log.Error("maintenance tick", "err", err)
			}
		}
	}
}

// sync is the maintenance tick: certs sync -> registration sync(CA) ->
// bundles -> certs confirm. It repairs or rotates the TLS Secret, re-applies
// every object the API server holds for the gateway (restoring any deleted
// or edited), and recomputes readiness from the caBundles they hold.
func (g *Gateway) sync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	g.sweepLeases(ctx)
	ca := g.syncSecret(ctx) // tls.go: the TLS Secret read, repaired or rotated
	res, err := registration.Sync(ctx, g.client, g.policy, g.endpoint, ca, g.support(ctx), g.prober())
	g.metrics.observeSync(res.Result, err)
	if res.Result.Changed() || res.Pending > 0 {
		g.log.Info("registrations applied", "created", res.Created, "updated", res.Updated, "deleted", res.Deleted, "unchanged", res.Unchanged,
			"switchPending", res.Pending, "engines", engineNames(res.Engines))
	}
	for _, crd := range res.CRDs {
		g.log.Info("CRD conversion settings applied", "crd", crd)
	}
	g.checkCELEnforced(res.Engines)
	if err != nil {
		g.ready.set("registrations not applied")
		return err
	}
	// tls.go: ready only while every caBundle trusts the served certificate.
	if err := g.confirmTrust(ca, res); err != nil {
		g.ready.set("certificate trust not confirmed")
		return err
	}
	g.ready.set("")
	return nil
}

// shutdown: readiness false, in-flight requests finish, then, when no
// other ready replica remains, the registrations are removed where
// cleanupOnShutdown asks for it and the CRDs the gateway converts are reset
// to strategy None (unless keepOnShutdown), all within the drain timeout.
func (g *Gateway) shutdown(srv *http.Server) error {
	g.ready.set("shutting down")
	g.log.Info("shutting down", "drainTimeout", g.cfg.DrainTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.DrainTimeout)
	defer cancel()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		if g.notifier == nil {
			return
		}
		// New events get 503; queued ones are delivered until the deadline,
		// and whatever is left is logged by id.
		if err := g.notifier.Drain(ctx); err != nil {
			g.log.Error("notify queue not drained", "err", err)
		}
		_ = g.notifySrv.Shutdown(ctx)
	}()
	if err := g.inflight.stop(ctx, srv); err != nil {
		g.log.Warn("in-flight requests did not finish before the drain timeout", "err", err)
	}
	<-drained
	features := registration.CleanupFeatures(g.policy)
	resets := registration.ResetOnShutdown(g.policy)
	if len(features) == 0 && len(resets) == 0 {
		return nil
	}
	others, err := g.otherReplicas(ctx)
	if err != nil {
		g.log.Error("cannot tell whether other replicas remain; keeping registrations", "err", err)
		return nil
	}
	if others {
		g.log.Info("other ready replicas remain; keeping registrations")
		return nil
	}
	if len(features) > 0 {
		if err := registration.RemoveFeatures(ctx, g.client, g.policy.Name, features); err != nil {
			g.log.Error("removing registrations", "err", err)
		} else {
			g.log.Info("registrations removed")
		}
	}
	// The last replica out: no CRD may keep sending conversions to a
	// gateway that is gone, or it could not be read at its other versions.
	for _, c := range resets {
		changed, err := registration.ResetCRD(ctx, g.client, c, g.endpoint)
		switch {
		case err != nil:
			g.log.Error("resetting the CRD's conversion", "crd", c.CRDName(), "err", err)
		case changed:
			g.log.Info("CRD conversion reset to strategy None", "crd", c.CRDName())
		}
	}
	return nil
}

// startNotify serves /notify on its own listener and http.Server, with its
// own limits, so a flood of notifications never slows admission.
func (g *Gateway) startNotify(serveErr chan<- error) error {
	if g.policy.Notification == nil {
		return nil
	}
	reviews, err := notify.ReviewClient(g.cluster, userAgent)
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	leases, err := g.newLeases()
	if err != nil {
		return err
	}
	n, err := notify.NewServer(notify.Options{
		Policy:    g.policy.Notification,
		Namespace: g.ns,
		Reviewer:  notify.NewTokenReviewer(reviews),
		Logger:    g.log,
		Metrics:   g.metrics.notify,
		Shared:    leases,
	})
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(g.cfg.NotifyPort))
	if err != nil {
		return fmt.Errorf("notify port: %w", err)
	}
	g.notifier, g.leases = n, leases
	n.Start()
	g.notifySrv = n.HTTPServer(g.certs.TLSConfig())
	g.notifySrv.Handler = (&inflight{gauge: g.metrics.inFlight.WithLabelValues(listenerNotify)}).wrap(g.notifySrv.Handler)
	go func() { serveErr <- g.notifySrv.ServeTLS(n.Listener(ln), "", "") }()
	return nil
}

func (g *Gateway) otherReplicas(ctx context.Context) (bool, error) {
	// In URL mode without a Service the replica is the last one.
	if g.policy.Gateway.URL != nil {
		return false, nil
	}
	return registration.OtherReadyReplicas(ctx, g.client, g.ns, g.policy.Gateway.ServiceName, g.self.IP)
}
