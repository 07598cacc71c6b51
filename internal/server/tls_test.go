package server

import (
	"context"
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/orkspace/orkestra-gateway/internal/certs"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
)

func TestCABundleOf(t *testing.T) {
	obj := map[string]any{"clientConfig": map[string]any{"caBundle": base64.StdEncoding.EncodeToString([]byte("pem"))}}
	if b, err := caBundleOf(obj, "clientConfig", "caBundle"); err != nil || string(b) != "pem" {
		t.Errorf("caBundleOf = %q, %v", b, err)
	}
	if b, err := caBundleOf(map[string]any{}, "clientConfig", "caBundle"); err != nil || b != nil {
		t.Errorf("absent caBundle = %q, %v; want empty", b, err)
	}
	obj["clientConfig"].(map[string]any)["caBundle"] = "not base64!"
	if _, err := caBundleOf(obj, "clientConfig", "caBundle"); err == nil || !strings.Contains(err.Error(), "caBundle is not base64") {
		t.Errorf("bad base64: %v", err)
	}
}

// externalGateway is a Gateway serving m as external certificates, with
// one validating configuration (two webhooks) and one conversion CRD.
func externalGateway(t *testing.T, m *certs.Material, hookCA, crdCA []byte, strategy string) (*Gateway, []admissionregistrationv1.ValidatingWebhookConfiguration) {
	t.Helper()
	enc := func(b []byte) any {
		if b == nil {
			return nil
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	hook := func(name string, ca []byte) any {
		cc := map[string]any{"url": "https://gw"}
		if ca != nil {
			cc["caBundle"] = enc(ca)
		}
		return map[string]any{"name": name, "clientConfig": cc}
	}
	config := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
		"metadata": map[string]any{"name": "cfg"},
		"webhooks": []any{hook("a.example.com", hookCA), hook("b.example.com", hookCA)},
	}}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "cogs.example.com"},
		"spec": map[string]any{"conversion": map[string]any{"strategy": strategy,
			"webhook": map[string]any{"clientConfig": map[string]any{"caBundle": enc(crdCA)}}}},
	}}
	client := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), config, crd)
	h, err := certs.NewHolder(m)
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{client: client, certs: h, externalCerts: true, log: slog.New(slog.DiscardHandler),
		tls: &tlsState{crds: map[string]*policy.CRD{"cogs.example.com": {}}, served: m, metrics: newCertMetrics()}}
	v := []admissionregistrationv1.ValidatingWebhookConfiguration{{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}}}
	return g, v
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
	ctx := context.Background()

	g, v := externalGateway(t, m, m.CABundle, m.CABundle, "Webhook")
	bundles, err := g.readBundles(ctx, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, b := range bundles {
		sources = append(sources, b.Source)
	}
	if got, want := strings.Join(sources, "; "), "ValidatingWebhookConfiguration cfg, webhook a.example.com; ValidatingWebhookConfiguration cfg, webhook b.example.com; CustomResourceDefinition cogs.example.com (conversion)"; got != want {
		t.Errorf("sources %q, want %q", got, want)
	}
	if err := g.confirmTrust(ctx, nil, registration.Result{}, v, nil); err != nil {
		t.Fatalf("every caBundle trusts the files: %v", err)
	}
	if got := testutil.ToFloat64(g.tls.metrics.trusted); got != 1 {
		t.Errorf("trusted gauge %v, want 1", got)
	}

	// The CRD's caBundle is another CA: not ready, and the message says where.
	g, v = externalGateway(t, m, m.CABundle, other.CABundle, "Webhook")
	err = g.confirmTrust(ctx, nil, registration.Result{}, v, nil)
	if err == nil || !strings.Contains(err.Error(), "the served certificate is not trusted: the caBundle of CustomResourceDefinition cogs.example.com (conversion) does not trust") {
		t.Fatalf("confirmTrust = %v", err)
	}
	if got := testutil.ToFloat64(g.tls.metrics.trusted); got != 0 {
		t.Errorf("trusted gauge %v, want 0", got)
	}
	// A CRD not converting through a webhook is not a caller.
	g, v = externalGateway(t, m, m.CABundle, other.CABundle, "None")
	if err := g.confirmTrust(ctx, nil, registration.Result{}, v, nil); err != nil {
		t.Fatalf("strategy None: %v", err)
	}
	// Empty caBundles (not set by the user yet) mean the system roots.
	g, v = externalGateway(t, m, nil, m.CABundle, "Webhook")
	if err := g.confirmTrust(ctx, nil, registration.Result{}, v, nil); err == nil || !strings.Contains(err.Error(), "empty caBundle (system roots) of ValidatingWebhookConfiguration cfg, webhook a.example.com") {
		t.Fatalf("empty caBundle: %v", err)
	}
	// A configuration that cannot be read makes the replica unready.
	v = append(v, admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "gone"}})
	if err := g.confirmTrust(ctx, nil, registration.Result{}, v, nil); err == nil || !strings.Contains(err.Error(), "reading the caBundles: ValidatingWebhookConfiguration gone") {
		t.Fatalf("missing configuration: %v", err)
	}
}

func TestPublishedBundlesAndPatches(t *testing.T) {
	m, err := certs.Generate([]string{"gw"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := externalGateway(t, m, nil, nil, "Webhook")
	g.externalCerts = false
	v := []admissionregistrationv1.ValidatingWebhookConfiguration{{ObjectMeta: metav1.ObjectMeta{Name: "v"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "a"}}}}
	mu := []admissionregistrationv1.MutatingWebhookConfiguration{{ObjectMeta: metav1.ObjectMeta{Name: "m"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "b"}}}}
	got := g.publishedBundles(m.CABundle, v, mu)
	if len(got) != 3 || got[1].Source != "MutatingWebhookConfiguration m, webhook b" || string(got[2].PEM) != string(m.CABundle) {
		t.Fatalf("publishedBundles = %+v", got)
	}

	// Patches count writes on the tick that publishes a new bundle only.
	patches := func() float64 { return testutil.ToFloat64(g.tls.metrics.patches.WithLabelValues("webhook")) }
	g.tls.crdWritten("cogs.example.com")
	if err := g.confirmTrust(context.Background(), m.CABundle, registration.Result{Updated: 2}, v, mu); err != nil {
		t.Fatal(err)
	}
	if patches() != 2 || testutil.ToFloat64(g.tls.metrics.patches.WithLabelValues("crd")) != 1 {
		t.Fatalf("patches after a new bundle: webhook %v", patches())
	}
	if err := g.confirmTrust(context.Background(), m.CABundle, registration.Result{Updated: 1}, v, mu); err != nil || patches() != 2 {
		t.Fatalf("a restoring write of the same bundle counted as a patch: %v, %v", patches(), err)
	}
}
