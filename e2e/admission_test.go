package e2e

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const protectionLabel = "orkestra.io/deletion-protection"

var widgets = schema.GroupVersionResource{Group: "e2e.example.com", Version: "v1", Resource: "widgets"}

func admissionGateway(t *testing.T) *gateway {
	t.Helper()
	ensureWidgetCRD(t)
	return startGateway(t, gatewayOptions{
		Katalog: readTestdata(t, "admission-katalog.yaml"),
		Files:   map[string]string{"crds/widget.yaml": readTestdata(t, "widget-crd.yaml")},
		Args:    []string{"--sync-interval", "1s"},
	})
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var crdOnce sync.Once

// ensureWidgetCRD creates the Widget CRD once per package and waits until it
// is established.
func ensureWidgetCRD(t *testing.T) {
	t.Helper()
	crdOnce.Do(func() { applyCRD(t, readTestdata(t, "widget-crd.yaml")) })
	eventually(t, 30*time.Second, "widgets served", func() error {
		_, err := env.Dynamic.Resource(widgets).Namespace("default").List(context.Background(), metav1.ListOptions{})
		return err
	})
}

func ensureNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := env.Clientset.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func configMap(name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

var protected = map[string]string{protectionLabel: "true"}

// waitProtection waits until the API server calls the deletion-protection
// webhook (registration propagates asynchronously): a dry-run delete of a
// protected ConfigMap must be denied.
func waitProtection(t *testing.T, ns string) {
	t.Helper()
	cms := env.Clientset.CoreV1().ConfigMaps(ns)
	if _, err := cms.Create(context.Background(), configMap("probe-protected", protected), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "deletion protection active", func() error {
		err := cms.Delete(context.Background(), "probe-protected", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		if isForbidden(err) {
			return nil
		}
		return errorf("dry-run delete of a protected object: %v", err)
	})
}

// warnings collects the admission warnings a client receives.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	w.msgs = append(w.msgs, text)
	w.mu.Unlock()
}

func (w *warnings) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.msgs, "\n")
}

func clientsFor(t *testing.T, cfg *rest.Config) (kubernetes.Interface, dynamic.Interface, *warnings) {
	t.Helper()
	w := &warnings{}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = w
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs, dyn, w
}

func widget(name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "e2e.example.com/v1",
		"kind":       "Widget",
		"metadata":   map[string]any{"name": name},
		"spec":       spec,
	}}
}

func TestAdmission(t *testing.T) {
	ctx := context.Background()
	for _, ns := range []string{"team-a", "other", "restricted-zone"} {
		ensureNamespace(t, ns, nil)
	}
	g := admissionGateway(t)
	waitProtection(t, "default")
	waitRules(t)
	cms := env.Clientset.CoreV1().ConfigMaps("default")
	// Unique names let the test run again (-count) on the same control plane,
	// where protected objects of the previous run remain.
	run := strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
	u := func(name string) string { return name + "-" + run }
	batch := map[string]string{"app": "batch-" + run}

	t.Run("protected delete denied, object survives", func(t *testing.T) {
		mustCreateCM(t, "default", u("keep"), protected)
		err := cms.Delete(ctx, u("keep"), metav1.DeleteOptions{})
		if !isForbidden(err) {
			t.Fatalf("delete of a protected ConfigMap: want Forbidden, got %v", err)
		}
		for _, want := range []string{"default/" + u("keep"), protectionLabel} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("denial %q does not mention %q", err, want)
			}
		}
		if _, err := cms.Get(ctx, u("keep"), metav1.GetOptions{}); err != nil {
			t.Fatalf("protected object is gone: %v", err)
		}
	})

	t.Run("unprotected delete allowed", func(t *testing.T) {
		mustCreateCM(t, "default", u("scratch"), nil)
		if err := cms.Delete(ctx, u("scratch"), metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete of an unprotected ConfigMap: %v", err)
		}
	})

	t.Run("DeleteCollection leaves protected objects", func(t *testing.T) {
		for _, n := range []string{u("batch-1"), u("batch-2")} {
			mustCreateCM(t, "default", n, batch)
		}
		mustCreateCM(t, "default", u("batch-protected"), map[string]string{"app": "batch-" + run, protectionLabel: "true"})
		err := cms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "app=batch-" + run})
		if err == nil {
			t.Errorf("DeleteCollection over a protected object reported no error")
		}
		if _, err := cms.Get(ctx, u("batch-protected"), metav1.GetOptions{}); err != nil {
			t.Fatalf("protected object deleted by DeleteCollection: %v", err)
		}
		eventually(t, 10*time.Second, "unprotected batch objects deleted", func() error {
			for _, n := range []string{u("batch-1"), u("batch-2")} {
				if _, err := cms.Get(ctx, n, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					return errorf("%s still there (%v)", n, err)
				}
			}
			return nil
		})
	})

	t.Run("labelled namespace cannot be deleted", func(t *testing.T) {
		ensureNamespace(t, "keep-ns", protected)
		err := env.Clientset.CoreV1().Namespaces().Delete(ctx, "keep-ns", metav1.DeleteOptions{})
		if !isForbidden(err) {
			t.Fatalf("delete of a protected namespace: want Forbidden, got %v", err)
		}
		ns, err := env.Clientset.CoreV1().Namespaces().Get(ctx, "keep-ns", metav1.GetOptions{})
		if err != nil || ns.Status.Phase != corev1.NamespaceActive {
			t.Fatalf("protected namespace: %v, phase %v", err, ns.Status.Phase)
		}
	})

	t.Run("Katalog CRD cannot be deleted", func(t *testing.T) {
		crds := env.Dynamic.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
		err := crds.Delete(ctx, "widgets.e2e.example.com", metav1.DeleteOptions{})
		if !isForbidden(err) {
			t.Fatalf("delete of the Katalog's CRD: want Forbidden, got %v", err)
		}
		if !strings.Contains(err.Error(), "widgets.e2e.example.com") {
			t.Errorf("denial %q does not name the CRD", err)
		}
	})

	t.Run("strict mode and break-glass", func(t *testing.T) {
		mustCreateCM(t, "default", u("strict"), protected)
		cm, err := cms.Get(ctx, u("strict"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		delete(cm.Labels, protectionLabel)
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); !isForbidden(err) {
			t.Fatalf("removing the protection label as a normal admin: want Forbidden, got %v", err)
		}
		cm.Labels = map[string]string{protectionLabel: "false"}
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); !isForbidden(err) {
			t.Fatalf("changing the protection label to false: want Forbidden, got %v", err)
		}

		// A member of the break-glass group may lift it, with a warning.
		bindGroup(t, "platform:break-glass")
		cs, _, warns := clientsFor(t, env.ImpersonatedConfig("bob", "platform:break-glass", "system:authenticated"))
		cm, err = cs.CoreV1().ConfigMaps("default").Get(ctx, u("strict"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		delete(cm.Labels, protectionLabel)
		if _, err := cs.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("break-glass group removing the label: %v", err)
		}
		if !strings.Contains(warns.all(), "break-glass") {
			t.Errorf("break-glass use gave no warning; warnings: %q", warns.all())
		}
		if err := cms.Delete(ctx, u("strict"), metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete after protection was lifted: %v", err)
		}
	})

	t.Run("namespace protection", func(t *testing.T) {
		ok := widget(u("allowed"), map[string]any{"replicas": int64(2), "image": "registry.example.com/w:1"})
		if _, err := env.Dynamic.Resource(widgets).Namespace("team-a").Create(ctx, ok, metav1.CreateOptions{}); err != nil {
			t.Fatalf("widget in team-a (allowed by glob team-*): %v", err)
		}
		for _, ns := range []string{"other", "restricted-zone"} {
			_, err := env.Dynamic.Resource(widgets).Namespace(ns).Create(ctx, widget("denied", map[string]any{"replicas": int64(2)}), metav1.CreateOptions{})
			if !isForbidden(err) {
				t.Errorf("widget in %s: want Forbidden, got %v", ns, err)
			}
		}
		err := env.Clientset.CoreV1().Namespaces().Delete(ctx, "restricted-zone", metav1.DeleteOptions{})
		if !isForbidden(err) {
			t.Fatalf("delete of restricted namespace restricted-zone (glob restricted-*): want Forbidden, got %v", err)
		}
	})

	t.Run("validation denial lists every failing rule", func(t *testing.T) {
		bad := widget(u("bad"), map[string]any{"replicas": int64(20), "tier": "platinum", "image": "registry.example.com/w:1"})
		_, err := env.Dynamic.Resource(widgets).Namespace("team-a").Create(ctx, bad, metav1.CreateOptions{})
		if err == nil {
			t.Fatal("an invalid widget was created")
		}
		if !apierrors.IsInvalid(err) {
			t.Errorf("want an Invalid (422) error like the API server's own validation, got %v", err)
		}
		for _, want := range []string{"replicas must be between 1 and 10", "tier must be gold, silver or bronze", "spec.replicas", "spec.tier"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("denial %q does not contain %q", err, want)
			}
		}
		if st, ok := err.(apierrors.APIStatus); ok {
			if d := st.Status().Details; d == nil || len(d.Causes) != 2 {
				t.Errorf("want one cause per failing field (2), got %+v", d)
			}
		}
	})

	t.Run("warn rule reaches the client as a warning", func(t *testing.T) {
		_, dyn, warns := clientsFor(t, env.Config)
		w := widget(u("warned"), map[string]any{"replicas": int64(3), "image": "docker.io/library/nginx"})
		if _, err := dyn.Resource(widgets).Namespace("team-a").Create(ctx, w, metav1.CreateOptions{}); err != nil {
			t.Fatalf("a widget failing only a warn rule: %v", err)
		}
		if !strings.Contains(warns.all(), "images should come from the internal registry") {
			t.Errorf("warnings %q lack the warn rule's message", warns.all())
		}
	})

	t.Run("mutation default and override on an annotation key with /", func(t *testing.T) {
		w := widget(u("mutated"), map[string]any{"replicas": int64(1), "image": "registry.example.com/w:1"})
		w.SetAnnotations(map[string]string{"app.kubernetes.io/managed-by": "someone-else", u("keep"): "me"})
		got, err := env.Dynamic.Resource(widgets).Namespace("team-a").Create(ctx, w, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if tier, _, _ := unstructured.NestedString(got.Object, "spec", "tier"); tier != "bronze" {
			t.Errorf("spec.tier = %q, want the default bronze", tier)
		}
		ann := got.GetAnnotations()
		if ann["app.kubernetes.io/managed-by"] != "orkestra" || ann[u("keep")] != "me" {
			t.Errorf("annotations = %v, want managed-by overridden to orkestra and keep=me untouched", ann)
		}
		// A set tier is left alone (default only fills absent fields).
		w2 := widget(u("gold"), map[string]any{"replicas": int64(1), "tier": "gold", "image": "registry.example.com/w:1"})
		got, err = env.Dynamic.Resource(widgets).Namespace("team-a").Create(ctx, w2, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if tier, _, _ := unstructured.NestedString(got.Object, "spec", "tier"); tier != "gold" {
			t.Errorf("spec.tier = %q, want gold kept", tier)
		}
	})

	t.Run("metrics count requests and decisions per webhook", func(t *testing.T) {
		code, body := g.probe("/metrics")
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		for _, want := range []string{
			`orkestra_gateway_admission_decisions_total{operation="DELETE",result="denied",webhook="deletion-protection"}`,
			`orkestra_gateway_admission_decisions_total{operation="CREATE",result="denied",webhook="validate"}`,
			`orkestra_gateway_admission_decisions_total{operation="CREATE",result="patched",webhook="mutate"}`,
			`orkestra_gateway_admission_request_duration_seconds_bucket{webhook="strict-mode"`,
			`orkestra_gateway_admission_requests_total{code="200",operation="CREATE",webhook="namespace-protection"}`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// waitRules waits until the API server calls the namespace-protection,
// validation and mutation webhooks too (each configuration propagates on its
// own), using dry-run creates that leave nothing behind.
func waitRules(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	eventually(t, 20*time.Second, "namespace protection active", func() error {
		_, err := env.Dynamic.Resource(widgets).Namespace("other").Create(ctx, widget("probe", map[string]any{"replicas": int64(1)}), dry)
		if isForbidden(err) {
			return nil
		}
		return errorf("widget in a not-allowed namespace: %v", err)
	})
	eventually(t, 20*time.Second, "validation active", func() error {
		_, err := env.Dynamic.Resource(widgets).Namespace("team-a").Create(ctx, widget("probe", map[string]any{"replicas": int64(99)}), dry)
		if apierrors.IsInvalid(err) {
			return nil
		}
		return errorf("invalid widget: %v", err)
	})
	eventually(t, 20*time.Second, "mutation active", func() error {
		got, err := env.Dynamic.Resource(widgets).Namespace("team-a").Create(ctx, widget("probe", map[string]any{"replicas": int64(1)}), dry)
		if err != nil {
			return err
		}
		if got.GetAnnotations()["app.kubernetes.io/managed-by"] != "orkestra" {
			return errorf("not mutated yet: %v", got.GetAnnotations())
		}
		return nil
	})
}

func mustCreateCM(t *testing.T, ns, name string, labels map[string]string) {
	t.Helper()
	if _, err := env.Clientset.CoreV1().ConfigMaps(ns).Create(context.Background(), configMap(name, labels), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// bindGroup makes a group cluster-admin, so impersonated users pass RBAC and
// only admission decides.
func bindGroup(t *testing.T, group string) {
	t.Helper()
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-" + strings.ReplaceAll(group, ":", "-")},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: group}},
	}
	if _, err := env.Clientset.RbacV1().ClusterRoleBindings().Create(context.Background(), crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}
