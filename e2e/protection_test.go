package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

const shieldCRDName = "shields.protect.example.com"

var shields = schema.GroupVersionResource{Group: "protect.example.com", Version: "v1", Resource: "shields"}

// crdProtectionKatalog protects labelled objects; its Shield entry says
// nothing about deletion protection.
const crdProtectionKatalog = `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: crd-protection
gateway:
  standalone: true
  namespace: orkestra-system
  url: "{{URL}}"
security:
  deletionProtection:
    enabled: true
spec:
  crds:
    shield:
      crdFile: ./crds/shield.yaml
`

// TestCRDDeletionKeepsProtectedCRs: deleting a CRD deletes every object of
// it, and the API server's CRD finalizer does so without admission, so the
// protection label of those objects is bypassed. A Katalog entry that
// protects its labelled objects (the default) therefore protects its CRD
// by default too: the deletion is denied and the labelled object stays.
func TestCRDDeletionKeepsProtectedCRs(t *testing.T) {
	ctx := context.Background()
	ns := "crd-protection"
	crds := env.Dynamic.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	cleanKatalog(t, "crd-protection")
	t.Cleanup(func() { // after the configurations are gone
		_ = crds.Delete(context.Background(), shieldCRDName, metav1.DeleteOptions{})
	})
	ensureNamespace(t, ns, nil)
	applyCRD(t, readTestdata(t, "shield-crd.yaml"))
	g := startGateway(t, gatewayOptions{
		Katalog: crdProtectionKatalog,
		Files:   map[string]string{"crds/shield.yaml": readTestdata(t, "shield-crd.yaml")},
		Args:    []string{"--sync-interval", "1s"},
	})
	o := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "protect.example.com/v1", "kind": "Shield",
		"metadata": map[string]any{"name": "keep", "labels": map[string]any{protectionLabel: "true"}},
		"spec":     map[string]any{"size": int64(1)},
	}}
	if _, err := env.Dynamic.Resource(shields).Namespace(ns).Create(ctx, o, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the labelled Shield protected", func() error {
		err := env.Dynamic.Resource(shields).Namespace(ns).Delete(ctx, "keep", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		if isForbidden(err) {
			return nil
		}
		return fmt.Errorf("dry-run delete of the labelled Shield: %v", err)
	})

	err := crds.Delete(ctx, shieldCRDName, metav1.DeleteOptions{})
	if !isForbidden(err) {
		t.Errorf("deleting the CRD of protected objects: %v, want Forbidden", err)
	} else if !strings.Contains(err.Error(), "protectCRD") {
		t.Errorf("the denial does not say how to lift it: %v", err)
	}
	// The labelled object survives (give a CRD deletion time to cascade).
	time.Sleep(2 * time.Second)
	if _, err := env.Dynamic.Resource(shields).Namespace(ns).Get(ctx, "keep", metav1.GetOptions{}); err != nil {
		t.Errorf("the labelled Shield after the CRD deletion: %v\n%s", err, g.proc.Logs())
	}
	if u, err := crds.Get(ctx, shieldCRDName, metav1.GetOptions{}); err != nil {
		t.Errorf("the CRD after its deletion was attempted: %v", err)
	} else if ts := u.GetDeletionTimestamp(); ts != nil {
		t.Errorf("the CRD is being deleted (since %s)", ts)
	}
}

// TestStrictModeGuardsGatewaySecret: strict mode (both engines) leaves the
// gateway's namespace and kube-system alone (nothing there may depend on
// the gateway), but the gateway's own TLS Secret is the point: removing or
// changing its protection label is denied like any protected object's,
// while other labelled objects of that namespace stay outside strict mode.
func TestStrictModeGuardsGatewaySecret(t *testing.T) {
	for _, engine := range []policy.Engine{policy.EngineWebhook, policy.EngineNative} {
		t.Run(string(engine), func(t *testing.T) { testStrictModeGuardsGatewaySecret(t, engine) })
	}
}

func testStrictModeGuardsGatewaySecret(t *testing.T, engine policy.Engine) {
	ctx := context.Background()
	cleanKatalog(t, "e2e")
	g := admissionGateway(t, engine)
	cms := env.Clientset.CoreV1().ConfigMaps("default")
	ensureCM(t, "default", "strict-probe", protected)
	eventually(t, 20*time.Second, "strict mode active", func() error {
		cm, err := cms.Get(ctx, "strict-probe", metav1.GetOptions{})
		if err != nil {
			return err
		}
		delete(cm.Labels, protectionLabel)
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		if isForbidden(err) {
			return nil
		}
		return fmt.Errorf("dry-run removal of the protection label: %v", err)
	})

	secrets := env.Clientset.CoreV1().Secrets(gatewayNamespace)
	for _, value := range []string{"", "false"} {
		s, err := secrets.Get(ctx, secretName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if value == "" {
			delete(s.Labels, protectionLabel)
		} else {
			s.Labels[protectionLabel] = value
		}
		_, err = secrets.Update(ctx, s, metav1.UpdateOptions{})
		if !isForbidden(err) {
			t.Errorf("setting the protection label of the gateway's Secret to %q: %v, want Forbidden\n%s", value, err, g.proc.Logs())
		} else if !strings.Contains(err.Error(), "breakGlass") && !strings.Contains(err.Error(), "break-glass") {
			t.Errorf("the denial does not say who may lift protection: %v", err)
		}
	}
	if s, err := secrets.Get(ctx, secretName, metav1.GetOptions{}); err != nil || s.Labels[protectionLabel] != "true" {
		t.Errorf("the gateway's Secret lost its protection label: %v %v", s.Labels, err)
	}

	// Another labelled object of the gateway's namespace: not in strict
	// mode's scope (its namespace is excluded).
	ensureCM(t, gatewayNamespace, "strict-other", protected)
	other, err := env.Clientset.CoreV1().ConfigMaps(gatewayNamespace).Get(ctx, "strict-other", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	delete(other.Labels, protectionLabel)
	if _, err := env.Clientset.CoreV1().ConfigMaps(gatewayNamespace).Update(ctx, other, metav1.UpdateOptions{}); err != nil {
		t.Errorf("removing the label of another object in the gateway's namespace: %v", err)
	}
	_ = env.Clientset.CoreV1().ConfigMaps(gatewayNamespace).Delete(ctx, "strict-other", metav1.DeleteOptions{})
}

// ensureCM creates a ConfigMap unless it exists (a protected one outlives
// the test).
func ensureCM(t *testing.T, ns, name string, labels map[string]string) {
	t.Helper()
	if _, err := env.Clientset.CoreV1().ConfigMaps(ns).Create(context.Background(), configMap(name, labels), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}
