package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/certs"
	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
)

// The certificate side of the gateway (docs/certificates.md): obtaining the
// serving certificate, the tick's certificate work (the TLS Secret, trust
// of what is served) and its metrics. run.go's sync calls syncSecret before
// registration.Sync, and confirmTrust with the caBundles it reports.

// tlsState is the replica's certificate state beside g.certs (the Holder
// the listener serves).
type tlsState struct {
	rot     *certs.Rotator // nil with external certificates
	metrics *certMetrics
	// conversionKey seals the conversion webhook's preserved-fields
	// annotation: conversion.key of the Secret, or CONVERSION_KEY_FILE with
	// external certificates (nil without one: nothing converts).
	conversionKey func() []byte

	mu      sync.Mutex
	promote *time.Timer     // pending swap at the end of the trust grace
	served  *certs.Material // at the last tick, to count reloads of external files
	lastCA  []byte          // the caBundle published at the last complete tick
}

// loadCertificate obtains the serving certificate: external files when
// TLS_CERT_FILE/TLS_KEY_FILE are set or the Katalog's certificate source is
// cert-manager or files (the user, or cert-manager, owns them and every
// caBundle), else the shared Secret, kept by a certs.Rotator.
func (g *Gateway) loadCertificate(ctx context.Context) error {
	st := &tlsState{}
	certFile, keyFile := os.Getenv("TLS_CERT_FILE"), os.Getenv("TLS_KEY_FILE")
	if certFile != "" || keyFile != "" || g.policy.Certs.External() {
		if (certFile == "") != (keyFile == "") {
			return errors.New("TLS_CERT_FILE and TLS_KEY_FILE must be set together")
		}
		if certFile == "" {
			// security.certManager.source cert-manager or files: the
			// Secret the bundle mounts.
			certFile, keyFile = policy.TLSCertFile, policy.TLSKeyFile
		}
		f, err := certs.FromFiles(certFile, keyFile)
		if err != nil {
			if src := g.policy.Certs.Source; src != policy.CertsSelf {
				return fmt.Errorf("external certificate (security.certManager.source %s; mount Secret %s at %s): %w", src, g.policy.Certs.SecretName, policy.TLSMountDir, err)
			}
			return fmt.Errorf("external certificate: %w", err)
		}
		if st.conversionKey, err = g.externalConversionKey(ctx); err != nil {
			return err
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

	if os.Getenv("CONVERSION_KEY_FILE") != "" {
		return errors.New("CONVERSION_KEY_FILE is set without TLS_CERT_FILE/TLS_KEY_FILE: with the gateway's own certificates the conversion key is conversion.key of its TLS Secret; unset CONVERSION_KEY_FILE")
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
	st.conversionKey = r.ConversionKey
	g.certs, g.tls = r.Holder(), st
	st.metrics = g.metrics.certs
	st.metrics.serve(g.certs)
	return nil
}

// externalConversionKey is the conversion key when the serving certificate
// is not the gateway's own: CONVERSION_KEY_FILE when set (the user owns the
// key as they own the certificate, and mounts the same file in every
// replica), else the key of a Secret of its own beside the TLS Secret,
// created by the first replica (certs.EnsureConversionKey). nil when the
// Katalog converts nothing.
func (g *Gateway) externalConversionKey(ctx context.Context) (func() []byte, error) {
	if file := os.Getenv("CONVERSION_KEY_FILE"); file != "" {
		k, err := certs.ReadConversionKeyFile(file)
		if err != nil {
			return nil, err
		}
		return func() []byte { return k }, nil
	}
	if !g.policy.Converts() {
		return nil, nil
	}
	name := certs.KeySecretName(g.policy.Certs.SecretName)
	k, err := certs.EnsureConversionKey(ctx, g.client, g.ns, name)
	if err != nil {
		return nil, fmt.Errorf("conversion key (or set CONVERSION_KEY_FILE to a file of at least %d random bytes mounted in every replica): %w", certs.MinConversionKeyBytes, err)
	}
	return func() []byte { return k }, nil
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

// confirmTrust is the tick's last step, after registration.Sync gave every
// object the gateway manages caBundle ca (nil: external certificates, the
// caBundles are the user's). It takes the caBundles those objects hold, as
// Sync read or wrote them, lets the Rotator swap in a rotated certificate
// they have trusted long enough, and returns why the served certificate is
// not trusted (nil: it is).
func (g *Gateway) confirmTrust(ca []byte, res registration.Synced) error {
	st := g.tls
	st.mu.Lock()
	fresh := !bytes.Equal(st.lastCA, ca) // a bundle this replica had not published yet
	st.lastCA = ca
	st.mu.Unlock()
	if ca != nil && fresh {
		st.metrics.patchesWebhook.Add(float64(res.Created + res.Updated))
		st.metrics.patchesCRD.Add(float64(len(res.CRDs)))
	}
	bundles := make([]certs.Bundle, len(res.Bundles))
	for i, b := range res.Bundles {
		bundles[i] = certs.Bundle{Source: b.Source, PEM: b.PEM}
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

// certMetrics are the certificate metrics (docs/certificates.md), built
// once with the process's other metrics; the expiry gauge reads the Holder
// being served once loadCertificate has one.
type certMetrics struct {
	metrics.Collectors
	rotations *metrics.Counter
	writes    *metrics.CounterVec
	conflicts *metrics.Counter
	swaps     *metrics.Counter
	patches   *metrics.CounterVec
	// patches by object: webhook configurations, CRDs
	patchesWebhook, patchesCRD *metrics.Counter
	trusted                    *metrics.Gauge
	expiry                     *metrics.GaugeFunc

	served atomic.Pointer[certs.Holder]
}

func newCertMetrics() *certMetrics {
	m := &certMetrics{
		rotations: metrics.NewCounter(metrics.Opts{
			Name: "orkestra_gateway_certificate_rotations_total",
			Help: "Rotations of the TLS Secret written by this replica (summed over replicas: all rotations).",
		}),
		writes: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_certificate_secret_writes_total",
			Help: "Writes of the TLS Secret by this replica on the maintenance tick, by action (rotated, restored, replaced, added-ca, relabelled, added-key).",
		}, []string{"action"}),
		conflicts: metrics.NewCounter(metrics.Opts{
			Name: "orkestra_gateway_certificate_secret_conflicts_total",
			Help: "Writes of the TLS Secret lost to another writer (resourceVersion conflict or already exists), each followed by a re-read.",
		}),
		swaps: metrics.NewCounter(metrics.Opts{
			Name: "orkestra_gateway_certificate_swaps_total",
			Help: "Times the served certificate was replaced in memory (a rotated certificate, reloaded external files).",
		}),
		patches: metrics.NewCounterVec(metrics.Opts{
			Name: "orkestra_gateway_cabundle_patches_total",
			Help: "Writes by this replica publishing a new caBundle (after a rotation or a repair of the TLS Secret), by object (webhook: a webhook configuration, crd: a CRD's conversion webhook).",
		}, []string{"object"}),
		trusted: metrics.NewGauge(metrics.Opts{
			Name: "orkestra_gateway_certificate_trusted",
			Help: "1 when every caBundle the gateway manages, as last read, trusts the served certificate (a condition of readiness), else 0.",
		}),
	}
	m.expiry = metrics.NewGaugeFunc(metrics.Opts{
		Name: "orkestra_gateway_certificate_expiry_timestamp_seconds",
		Help: "When the served certificate expires (Unix time).",
	}, func() float64 {
		if h := m.served.Load(); h != nil {
			return float64(h.NotAfter().Unix())
		}
		return 0
	})
	for _, a := range []certs.Action{certs.Rotated, certs.Restored, certs.Replaced, certs.AddedCA, certs.Relabelled, certs.AddedKey} {
		m.writes.WithLabelValues(string(a))
	}
	m.patchesWebhook = m.patches.WithLabelValues("webhook")
	m.patchesCRD = m.patches.WithLabelValues("crd")
	m.Collectors = metrics.Collectors{m.rotations, m.writes, m.conflicts, m.swaps, m.patches, m.trusted, m.expiry}
	return m
}

// serve makes the expiry gauge report h's certificate.
func (m *certMetrics) serve(h *certs.Holder) { m.served.Store(h) }

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
