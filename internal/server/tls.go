package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/orkspace/orkestra-gateway/internal/certs"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
)

// The certificate side of the gateway (docs/certificates.md):
// obtaining the serving certificate, the tick's certificate work (the TLS
// Secret, the caBundle of conversion CRDs, trust of what is served) and its
// metrics. run.go's sync calls syncSecret before applying the webhook
// configurations and the conversion CRDs, and confirmTrust after.

// tlsState is the replica's certificate state beside g.certs (the Holder
// the listener serves).
type tlsState struct {
	rot     *certs.Rotator // nil with external certificates
	metrics *certMetrics

	crds map[string]*policy.CRD // conversion CRDs whose spec.conversion the gateway sets

	mu        sync.Mutex
	promote   *time.Timer     // pending swap at the end of the trust grace
	served    *certs.Material // at the last tick, to count reloads of external files
	lastCA    []byte          // the caBundle published at the last complete tick
	crdWrites map[string]bool // CRDs whose spec.conversion this tick wrote
}

// crdWritten records that this tick wrote the CRD's spec.conversion.
func (st *tlsState) crdWritten(name string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.crdWrites == nil {
		st.crdWrites = map[string]bool{}
	}
	st.crdWrites[name] = true
}

// loadCertificate obtains the serving certificate: external files when
// TLS_CERT_FILE/TLS_KEY_FILE are set (the user owns them and every
// caBundle), else the shared Secret, kept by a certs.Rotator.
func (g *Gateway) loadCertificate(ctx context.Context) error {
	st := &tlsState{crds: map[string]*policy.CRD{}}
	if g.policy.Conversion.Enabled {
		for _, c := range g.policy.CRDs {
			if c.Conversion != nil && c.Conversion.UpdateCRD {
				st.crds[c.CRDName()] = c
			}
		}
	}
	certFile, keyFile := os.Getenv("TLS_CERT_FILE"), os.Getenv("TLS_KEY_FILE")
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return errors.New("TLS_CERT_FILE and TLS_KEY_FILE must be set together")
		}
		f, err := certs.FromFiles(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("external certificate: %w", err)
		}
		f.Logger = g.log
		go f.Watch(ctx, 2*time.Second)
		g.certs, g.externalCerts, g.tls = f.Holder, true, st
		st.served = f.Current()
		st.metrics = g.metrics.certs
		st.metrics.serve(g.certs)
		g.log.Info("serving an external certificate; its caBundle is the user's", "certFile", certFile, "notAfter", f.NotAfter())
		return nil
	}

	opts := g.certOptions()
	if c := g.policy.Certs; c.AutoRotate {
		// Replicas swap within about one tick plus the grace after a
		// rotation; rotating faster leaves some never swapping.
		if period := c.ValidFor - c.RotationThreshold; period < opts.Retain {
			g.log.Warn("certificates rotate faster than replicas can swap to them; raise validFor or lower rotationThreshold",
				"rotationPeriod", period.String(), "swapTime", opts.Retain.String())
		}
	}
	r, err := certs.NewRotator(ctx, g.client, opts)
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	st.rot = r
	g.certs, g.tls = r.Holder(), st
	st.metrics = g.metrics.certs
	st.metrics.serve(g.certs)
	return nil
}

func (g *Gateway) certOptions() certs.Options {
	c := g.policy.Certs
	o := certs.Options{
		Namespace:  g.ns,
		SecretName: c.SecretName,
		Hosts:      certs.Hosts(g.policy.Gateway.ServiceName, g.ns, g.policy.Gateway.URL),
		ValidFor:   c.ValidFor,
		TrustGrace: g.cfg.TrustGrace,
		// A replica reads a rotation within a tick and swaps the grace
		// period after that tick published it: twice that is ample.
		Retain: 2 * (g.cfg.SyncInterval + g.cfg.TrustGrace),
		Logger: g.log,
	}
	if c.AutoRotate {
		o.RotationThreshold = c.RotationThreshold
	}
	return o
}

// syncSecret is the tick's first step: read, repair or rotate the Secret
// (certs.Rotator.Sync). It returns the caBundle to publish, nil with
// external certificates. An error is logged and the latest bundle kept:
// registrations must still be restored when the Secret cannot be read.
func (g *Gateway) syncSecret(ctx context.Context) []byte {
	st := g.tls
	if st.rot == nil {
		return nil
	}
	res, err := st.rot.Sync(ctx)
	st.metrics.observe(res)
	if err != nil {
		g.log.Error("TLS secret", "err", err)
	}
	return st.rot.CABundle()
}

// confirmTrust is the tick's last step, after the webhook configurations
// and the conversion CRDs were given caBundle ca. It takes the caBundles of
// every configuration the gateway manages, as last read, lets the Rotator
// swap in a rotated certificate they have trusted long enough, and returns
// why the served certificate is not trusted (nil: it is).
//
// With the gateway's own certificates the caBundles as last read are ca:
// registration.Apply and ensureConversionCRDs have just read each of them
// and written ca where it differed, without error. With external
// certificates they are the user's, read back here.
func (g *Gateway) confirmTrust(ctx context.Context, ca []byte, res registration.Result, v []admissionregistrationv1.ValidatingWebhookConfiguration, m []admissionregistrationv1.MutatingWebhookConfiguration) error {
	st := g.tls
	st.mu.Lock()
	crdWrites := len(st.crdWrites)
	st.crdWrites = nil
	fresh := !bytes.Equal(st.lastCA, ca) // a bundle this replica had not published yet
	st.lastCA = ca
	st.mu.Unlock()

	var bundles []certs.Bundle
	if ca != nil {
		bundles = g.publishedBundles(ca, v, m)
		if fresh {
			st.metrics.patches.WithLabelValues("webhook").Add(float64(res.Created + res.Updated))
			st.metrics.patches.WithLabelValues("crd").Add(float64(crdWrites))
		}
	} else {
		var err error
		if bundles, err = g.readBundles(ctx, v, m); err != nil {
			st.metrics.trusted.Set(0)
			return fmt.Errorf("reading the caBundles: %w", err)
		}
	}

	now := time.Now()
	var untrusted error
	if st.rot != nil {
		c := st.rot.Confirm(now, bundles)
		if c.Swapped {
			st.metrics.swaps.Inc()
		}
		if !c.SwapAt.IsZero() {
			g.schedulePromote(c.SwapAt)
		}
		untrusted = c.Untrusted
	} else {
		cur := g.certs.Current()
		st.mu.Lock()
		if cur != st.served {
			st.served = cur
			st.metrics.swaps.Inc() // the files were reloaded
		}
		st.mu.Unlock()
		untrusted = certs.Trusted(cur, bundles, now)
	}
	if untrusted != nil {
		st.metrics.trusted.Set(0)
		return fmt.Errorf("the served certificate is not trusted: %w", untrusted)
	}
	st.metrics.trusted.Set(1)
	return nil
}

// schedulePromote swaps in the pending certificate at the end of its trust
// grace, without waiting for the next tick.
func (g *Gateway) schedulePromote(at time.Time) {
	st := g.tls
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.promote != nil {
		st.promote.Stop()
	}
	st.promote = time.AfterFunc(time.Until(at), func() {
		if st.rot.Promote(time.Now()) {
			st.metrics.swaps.Inc()
		}
	})
}

var (
	validatingGVR = admissionregistrationv1.SchemeGroupVersion.WithResource("validatingwebhookconfigurations")
	mutatingGVR   = admissionregistrationv1.SchemeGroupVersion.WithResource("mutatingwebhookconfigurations")
	crdGVR        = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// publishedBundles lists every place that holds ca after this tick: each
// webhook of the configurations applied and each conversion CRD.
func (g *Gateway) publishedBundles(ca []byte, v []admissionregistrationv1.ValidatingWebhookConfiguration, m []admissionregistrationv1.MutatingWebhookConfiguration) []certs.Bundle {
	var out []certs.Bundle
	for _, c := range v {
		for _, w := range c.Webhooks {
			out = append(out, certs.Bundle{Source: "ValidatingWebhookConfiguration " + c.Name + ", webhook " + w.Name, PEM: ca})
		}
	}
	for _, c := range m {
		for _, w := range c.Webhooks {
			out = append(out, certs.Bundle{Source: "MutatingWebhookConfiguration " + c.Name + ", webhook " + w.Name, PEM: ca})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(g.tls.crds)) {
		out = append(out, certs.Bundle{Source: "CustomResourceDefinition " + name + " (conversion)", PEM: ca})
	}
	return out
}

// readBundles reads the caBundle of every webhook of the configurations
// applied and of every conversion CRD converting through a webhook, by
// name: the gateway needs no list permission.
func (g *Gateway) readBundles(ctx context.Context, v []admissionregistrationv1.ValidatingWebhookConfiguration, m []admissionregistrationv1.MutatingWebhookConfiguration) ([]certs.Bundle, error) {
	type ref struct {
		gvr  schema.GroupVersionResource
		kind string
		name string
	}
	var refs []ref
	for _, c := range v {
		refs = append(refs, ref{validatingGVR, "ValidatingWebhookConfiguration", c.Name})
	}
	for _, c := range m {
		refs = append(refs, ref{mutatingGVR, "MutatingWebhookConfiguration", c.Name})
	}
	var bundles []certs.Bundle
	for _, r := range refs {
		u, err := g.client.Resource(r.gvr).Get(ctx, r.name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.kind, r.name, err)
		}
		list, _, err := unstructured.NestedSlice(u.Object, "webhooks")
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.kind, r.name, err)
		}
		for _, h := range list {
			hm, _ := h.(map[string]any)
			name, _, _ := unstructured.NestedString(hm, "name")
			b, err := caBundleOf(hm, "clientConfig", "caBundle")
			if err != nil {
				return nil, fmt.Errorf("%s %s, webhook %s: %w", r.kind, r.name, name, err)
			}
			bundles = append(bundles, certs.Bundle{Source: r.kind + " " + r.name + ", webhook " + name, PEM: b})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(g.tls.crds)) {
		u, err := g.client.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("CRD %s: %w", name, err)
		}
		if s, _, _ := unstructured.NestedString(u.Object, "spec", "conversion", "strategy"); s != "Webhook" {
			continue
		}
		b, err := caBundleOf(u.Object, "spec", "conversion", "webhook", "clientConfig", "caBundle")
		if err != nil {
			return nil, fmt.Errorf("CRD %s: %w", name, err)
		}
		bundles = append(bundles, certs.Bundle{Source: "CustomResourceDefinition " + name + " (conversion)", PEM: b})
	}
	return bundles, nil
}

// caBundleOf decodes a caBundle field (base64 in JSON); absent is empty.
func caBundleOf(obj map[string]any, fields ...string) ([]byte, error) {
	s, _, err := unstructured.NestedString(obj, fields...)
	if err != nil || s == "" {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("caBundle is not base64: %w", err)
	}
	return b, nil
}

// certMetrics are the certificate metrics (docs/certificates.md), built
// once with the process's other metrics; the expiry gauge reads the Holder
// being served once loadCertificate has one.
type certMetrics struct {
	rotations prometheus.Counter
	writes    *prometheus.CounterVec
	conflicts prometheus.Counter
	swaps     prometheus.Counter
	patches   *prometheus.CounterVec
	trusted   prometheus.Gauge
	expiry    prometheus.GaugeFunc

	served atomic.Pointer[certs.Holder]
}

func newCertMetrics() *certMetrics {
	m := &certMetrics{
		rotations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orkestra_gateway_certificate_rotations_total",
			Help: "Rotations of the TLS Secret written by this replica (summed over replicas: all rotations).",
		}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_certificate_secret_writes_total",
			Help: "Writes of the TLS Secret by this replica on the maintenance tick, by action (rotated, restored, replaced, added-ca, relabelled).",
		}, []string{"action"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orkestra_gateway_certificate_secret_conflicts_total",
			Help: "Writes of the TLS Secret lost to another writer (resourceVersion conflict or already exists), each followed by a re-read.",
		}),
		swaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orkestra_gateway_certificate_swaps_total",
			Help: "Times the served certificate was replaced in memory (a rotated certificate, reloaded external files).",
		}),
		patches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orkestra_gateway_cabundle_patches_total",
			Help: "Writes by this replica publishing a new caBundle (after a rotation or a repair of the TLS Secret), by kind (webhook: a webhook configuration, crd: a CRD's conversion webhook).",
		}, []string{"kind"}),
		trusted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "orkestra_gateway_certificate_trusted",
			Help: "1 when every caBundle the gateway manages, as last read, trusts the served certificate (a condition of readiness), else 0.",
		}),
	}
	m.expiry = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "orkestra_gateway_certificate_expiry_timestamp_seconds",
		Help: "When the served certificate expires (Unix time).",
	}, func() float64 {
		if h := m.served.Load(); h != nil {
			return float64(h.NotAfter().Unix())
		}
		return 0
	})
	for _, a := range []certs.Action{certs.Rotated, certs.Restored, certs.Replaced, certs.AddedCA, certs.Relabelled} {
		m.writes.WithLabelValues(string(a))
	}
	m.patches.WithLabelValues("webhook")
	m.patches.WithLabelValues("crd")
	return m
}

// serve makes the expiry gauge report h's certificate.
func (m *certMetrics) serve(h *certs.Holder) { m.served.Store(h) }

// Describe implements prometheus.Collector.
func (m *certMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *certMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

func (m *certMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.rotations, m.writes, m.conflicts, m.swaps, m.patches, m.trusted, m.expiry}
}

func (m *certMetrics) observe(res certs.SyncResult) {
	m.conflicts.Add(float64(res.Conflicts))
	if res.Action == "" {
		return
	}
	m.writes.WithLabelValues(string(res.Action)).Inc()
	if res.Action == certs.Rotated {
		m.rotations.Inc()
	}
}
