package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/certs"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
)

// externalGateway is a Gateway serving m as external certificates.
func externalGateway(t *testing.T, m *certs.Material) *Gateway {
	t.Helper()
	h, err := certs.NewHolder(m)
	if err != nil {
		t.Fatal(err)
	}
	metrics := newCertMetrics()
	metrics.serve(h)
	return &Gateway{certs: h, externalCerts: true, log: slog.New(slog.DiscardHandler),
		tls: &tlsState{served: m, metrics: metrics}}
}

// synced is what registration.Sync reports for one validating
// configuration (two webhooks) and one conversion CRD.
func synced(hookCA, crdCA []byte) registration.Synced {
	return registration.Synced{Bundles: []registration.Bundle{
		{Source: "ValidatingWebhookConfiguration cfg, webhook a.example.com", PEM: hookCA},
		{Source: "ValidatingWebhookConfiguration cfg, webhook b.example.com", PEM: hookCA},
		{Source: "CustomResourceDefinition cogs.example.com (conversion)", PEM: crdCA},
	}}
}

func TestConfirmTrustExternal(t *testing.T) {
	m, err := certs.Generate([]string{"gw"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.Generate([]string{"gw"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	g := externalGateway(t, m)
	if err := g.confirmTrust(nil, synced(m.CABundle, m.CABundle)); err != nil {
		t.Fatalf("every caBundle trusts the files: %v", err)
	}
	if got := g.tls.metrics.trusted.Value(); got != 1 {
		t.Errorf("trusted gauge %v, want 1", got)
	}

	// The CRD's caBundle is another CA: not ready, and the message says where.
	err = g.confirmTrust(nil, synced(m.CABundle, other.CABundle))
	if err == nil || !strings.Contains(err.Error(), "the served certificate is not trusted: the caBundle of CustomResourceDefinition cogs.example.com (conversion) does not trust") {
		t.Fatalf("confirmTrust = %v", err)
	}
	if got := g.tls.metrics.trusted.Value(); got != 0 {
		t.Errorf("trusted gauge %v, want 0", got)
	}
	// Empty caBundles (not set by the user yet) mean the system roots.
	if err := g.confirmTrust(nil, synced(nil, m.CABundle)); err == nil || !strings.Contains(err.Error(), "empty caBundle (system roots) of ValidatingWebhookConfiguration cfg, webhook a.example.com") {
		t.Fatalf("empty caBundle: %v", err)
	}
	// Reloaded files count as a swap.
	g.tls.served = other
	if err := g.confirmTrust(nil, synced(m.CABundle, m.CABundle)); err != nil || g.tls.metrics.swaps.Value() != 1 {
		t.Errorf("reload: %v, swaps %v", err, g.tls.metrics.swaps.Value())
	}
}

// Patches count the writes of the tick that publishes a new bundle only.
func TestConfirmTrustPatches(t *testing.T) {
	m, err := certs.Generate([]string{"gw"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	g := externalGateway(t, m)
	g.externalCerts = false
	patches := func(kind string) float64 { return g.tls.metrics.patches.WithLabelValues(kind).Value() }
	res := synced(m.CABundle, m.CABundle)
	res.Result = registration.Result{Updated: 2}
	res.CRDs = []string{"cogs.example.com"}
	if err := g.confirmTrust(m.CABundle, res); err != nil {
		t.Fatal(err)
	}
	if patches("webhook") != 2 || patches("crd") != 1 {
		t.Fatalf("patches after a new bundle: webhook %v, crd %v", patches("webhook"), patches("crd"))
	}
	res.Result = registration.Result{Updated: 1}
	if err := g.confirmTrust(m.CABundle, res); err != nil || patches("webhook") != 2 || patches("crd") != 1 {
		t.Fatalf("a restoring write of the same bundle counted as a patch: %v, %v, %v", patches("webhook"), patches("crd"), err)
	}
}

// With external certificates the conversion key is the user's file when
// CONVERSION_KEY_FILE is set, checked like any key; a Katalog that converts
// nothing needs none. (The key Secret the gateway creates otherwise is
// tested against the API server: certs/ensuretest and the bundle e2e.)
func TestExternalConversionKey(t *testing.T) {
	converting := &Gateway{policy: &policy.Policy{Conversion: policy.Conversion{Enabled: true}, CRDs: []*policy.CRD{{Name: "cog", Conversion: &policy.ConversionSpec{}}}}}
	plain := &Gateway{policy: &policy.Policy{Conversion: policy.Conversion{Enabled: true}, CRDs: []*policy.CRD{{Name: "plain"}}}}
	ctx := context.Background()
	t.Setenv("CONVERSION_KEY_FILE", "")
	if k, err := plain.externalConversionKey(ctx); err != nil || k != nil {
		t.Errorf("nothing converts: key %v, %v; want no key and no error", k != nil, err)
	}
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONVERSION_KEY_FILE", file)
	if _, err := converting.externalConversionKey(ctx); err == nil || !strings.Contains(err.Error(), "fewer than 32") {
		t.Errorf("a short key file: %v", err)
	}
	want := []byte(strings.Repeat("k", 40))
	if err := os.WriteFile(file, want, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := converting.externalConversionKey(ctx)
	if err != nil || string(k()) != string(want) {
		t.Errorf("a good key file: %v", err)
	}
}
