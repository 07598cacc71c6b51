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
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/orkspace/orkestra-gateway/internal/admission"
	"github.com/orkspace/orkestra-gateway/internal/certs"
	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/conversion"
	"github.com/orkspace/orkestra-gateway/internal/notify"
	"github.com/orkspace/orkestra-gateway/internal/pod"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
)

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
	registry *prometheus.Registry
	metrics  *metrics

	inflight  inflight       // webhook requests being served
	notifier  *notify.Server // nil when notifications are off
	notifySrv *http.Server

	endpoint      registration.Endpoint
	externalCerts bool      // TLS_CERT_FILE/TLS_KEY_FILE: the user owns caBundle
	tls           *tlsState // tls.go

	engines engineState // engine.go: discovery (auto) and probes of an engine switch
}

// Run runs the gateway until ctx is cancelled (SIGTERM), then shuts down.
// Findings of an invalid Katalog are written to errOut.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, errOut io.Writer) error {
	g := &Gateway{cfg: cfg, log: logger, ready: newReadiness(), registry: prometheus.NewRegistry()}
	g.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g.metrics = newMetrics(g.registry)
	start := time.Now()

	// Probes first: liveness answers as soon as the process runs.
	probeLn, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.ProbePort))
	if err != nil {
		return fmt.Errorf("probe port: %w", err)
	}
	probeMux := http.NewServeMux()
	probeMux.HandleFunc("/livez", livez)
	probeMux.Handle("/readyz", g.ready)
	probeMux.Handle("/metrics", promhttp.HandlerFor(g.registry, promhttp.HandlerOpts{}))
	probeSrv := &http.Server{Handler: probeMux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
	go func() { _ = probeSrv.Serve(probeLn) }()
	defer probeSrv.Close()

	res, err := check.RunFile(cfg.KatalogPath)
	if err != nil {
		return fmt.Errorf("reading the Katalog: %w", err)
	}
	if res.Policy == nil {
		// The same lines as `ork validate`, so the fix is the same.
		for _, f := range res.Findings {
			fmt.Fprintln(errOut, f.String())
		}
		return fmt.Errorf("%s: %d errors: %w", cfg.KatalogPath, res.Errors(), ErrInvalidKatalog)
	}
	for _, f := range res.Findings { // warnings only: keep the log stream structured
		g.log.Warn("katalog warning", "finding", f.String(), "check", f.ID)
	}
	g.policy = res.Policy

	if g.self, err = pod.Self(); err != nil {
		return err
	}
	g.ns = g.policy.Gateway.Namespace
	if g.ns == "" {
		g.ns = g.self.Namespace
	}
	rc, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("in-cluster client: %w", err)
	}
	rc.UserAgent = "orkestra-gateway"
	// A tick reads every managed object; client-go's default of 5 requests/s
	// would stretch short sync intervals.
	rc.QPS, rc.Burst = 20, 40
	if g.client, err = dynamic.NewForConfig(rc); err != nil {
		return fmt.Errorf("in-cluster client: %w", err)
	}
	if err := g.engines.init(rc); err != nil {
		return fmt.Errorf("in-cluster client: %w", err)
	}
	g.endpoint = registration.Endpoint{Namespace: g.ns, Service: g.policy.Gateway.ServiceName, URL: g.policy.Gateway.URL}

	if err := g.loadCertificate(ctx); err != nil {
		return err
	}

	webhookLn, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.WebhookPort))
	if err != nil {
		return fmt.Errorf("webhook port: %w", err)
	}
	mux, err := g.webhookMux()
	if err != nil {
		return err
	}
	webhookSrv := &http.Server{
		Handler:           g.inflight.wrap(mux),
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
	webhookSrv.Protocols = new(http.Protocols)
	webhookSrv.Protocols.SetHTTP1(true)
	serveErr := make(chan error, 2)
	go func() { serveErr <- webhookSrv.ServeTLS(webhookLn, "", "") }()
	if err := g.startNotify(serveErr); err != nil {
		return err
	}

	if err := g.sync(ctx); err != nil {
		// The tick retries; a replica that cannot register is not ready.
		g.log.Error("applying registrations", "err", err)
	} else {
		g.log.Info("ready", "katalog", g.policy.Name, "namespace", g.ns, "startup", time.Since(start).String())
	}

	tick := time.NewTicker(cfg.SyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return g.shutdown(webhookSrv)
		case err := <-serveErr:
			return fmt.Errorf("serving: %w", err)
		case <-tick.C:
			if err := g.sync(ctx); err != nil {
				g.log.Error("maintenance tick", "err", err)
			}
		}
	}
}

// sync is the maintenance tick: it re-applies the registrations (restoring
// any deleted or edited configuration) and recomputes readiness.
func (g *Gateway) sync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ca := g.syncSecret(ctx) // tls.go: the TLS Secret read, repaired or rotated
	plan, err := registration.NewPlan(g.policy, g.endpoint, ca, g.support(ctx))
	if err != nil {
		g.ready.set("registrations not computed: " + err.Error())
		return err
	}
	v, m := plan.Validating, plan.Mutating
	res, err := plan.Apply(ctx, g.client, g.prober(), g.policy.Name)
	g.metrics.observeSync(res, err)
	if err != nil {
		g.ready.set("registrations not applied: " + err.Error())
		return err
	}
	if res.Changed() || res.Pending > 0 {
		g.log.Info("registrations applied", "created", res.Created, "updated", res.Updated, "deleted", res.Deleted, "unchanged", res.Unchanged,
			"switchPending", res.Pending, "engines", engineNames(plan.Engines))
	}
	if err := g.ensureConversionCRDs(ctx, ca); err != nil {
		g.ready.set("conversion settings not applied: " + err.Error())
		return err
	}
	// tls.go: ready only while every caBundle trusts the served certificate.
	if err := g.confirmTrust(ctx, ca, res, v, m); err != nil {
		g.ready.set(err.Error())
		return err
	}
	g.ready.set("")
	return nil
}

// ensureConversionCRDs keeps spec.conversion of every CRD entry with
// updateCRD pointing at this gateway (no write when it already does).
func (g *Gateway) ensureConversionCRDs(ctx context.Context, ca []byte) error {
	if !g.policy.Conversion.Enabled {
		return nil
	}
	var errs []error
	for _, c := range g.policy.CRDs {
		if c.Conversion == nil || !c.Conversion.UpdateCRD {
			continue
		}
		changed, err := conversion.EnsureCRD(ctx, g.client, c, g.endpoint, ca)
		if err != nil {
			errs = append(errs, fmt.Errorf("CRD %s: %w", c.CRDName(), err))
			continue
		}
		if changed {
			g.log.Info("CRD conversion settings applied", "crd", c.CRDName())
			g.tls.crdWritten(c.CRDName())
		}
	}
	return errors.Join(errs...)
}

func (g *Gateway) webhookMux() (http.Handler, error) {
	opts := admission.ServeOptions{Logger: g.log, Registerer: g.registry}
	mux := http.NewServeMux()
	p := g.policy
	// Each handler also answers the probes of its configuration (see
	// registration.Prober).
	probes := func(h admission.Handler) admission.Handler {
		return admission.AnswerProbes(h, g.ns, p.Certs.SecretName)
	}
	mux.Handle("/deletion-protection", admission.Serve("deletion-protection", probes(admission.NewDeletionProtection(p)), opts))
	mux.Handle("/strict-mode", admission.Serve("strict-mode", probes(admission.NewStrictMode(p)), opts))
	mux.Handle("/namespace-protection", admission.Serve("namespace-protection", probes(admission.NewNamespaceProtection(p)), opts))
	mux.Handle("/validate", admission.Serve("validate", probes(admission.NewValidation(p)), opts))
	mux.Handle("/mutate", admission.Serve("mutate", probes(admission.NewMutation(p)), opts))
	conv, err := conversion.New(p, conversion.Options{Logger: g.log, Registerer: g.registry})
	if err != nil {
		return nil, fmt.Errorf("conversion: %w", err)
	}
	mux.Handle("/convert", conv)
	return mux, nil
}

// shutdown: readiness false, in-flight requests finish, then the
// registrations are removed when cleanupOnShutdown asks for it and no other
// ready replica remains, all within the drain timeout.
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
	if len(features) == 0 {
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
	if err := registration.RemoveFeatures(ctx, g.client, g.policy.Name, features); err != nil {
		g.log.Error("removing registrations", "err", err)
		return nil
	}
	g.log.Info("registrations removed")
	return nil
}

// startNotify serves /notify on its own listener and http.Server, with its
// own limits, so a flood of notifications never slows admission.
func (g *Gateway) startNotify(serveErr chan<- error) error {
	if g.policy.Notification == nil {
		return nil
	}
	n, err := notify.NewServer(notify.Options{
		Policy:     g.policy.Notification,
		Reviewer:   notify.NewTokenReviewer(g.client),
		Logger:     g.log,
		Registerer: g.registry,
	})
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(g.cfg.NotifyPort))
	if err != nil {
		return fmt.Errorf("notify port: %w", err)
	}
	g.notifier = n
	n.Start()
	g.notifySrv = n.HTTPServer(g.certs.TLSConfig())
	go func() { serveErr <- g.notifySrv.ServeTLS(ln, "", "") }()
	return nil
}

func (g *Gateway) otherReplicas(ctx context.Context) (bool, error) {
	// In URL mode without a Service the replica is the last one.
	if g.policy.Gateway.URL != nil {
		return false, nil
	}
	return registration.OtherReadyReplicas(ctx, g.client, g.ns, g.policy.Gateway.ServiceName, g.self.IP)
}
