package install

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/engine"

	"github.com/orkspace/orkestra-gateway/internal/bundle"
)

const testImage = "registry.example.com/orkestra-gateway:v0.0.0-install@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// render renders the chart in dir as `helm install --namespace ns -f
// values` would: Helm's loader, its values (with the chart's JSON schema)
// and its template engine. It returns the manifests by template name.
func render(t *testing.T, dir, ns string, values map[string]any) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatalf("helm cannot load the chart: %v", err)
	}
	vals, err := util.ToRenderValuesWithSchemaValidation(ch, values, common.ReleaseOptions{Name: "gw", Namespace: ns, IsInstall: true}, nil, false)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, vals)
}

// stream joins rendered templates in name order, as helm template prints them.
func stream(out map[string]string) string {
	keys := make([]string, 0, len(out))
	for k := range out {
		if strings.HasSuffix(k, ".yaml") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString("---\n" + out[k] + "\n")
	}
	return b.String()
}

// TestHelmChart renders the chart of `ork generate bundle --format helm`
// with Helm's engine, with values a platform team sets, applies the result
// to the API server, and runs the gateway under it: the Katalog reaches the
// pod through values.yaml, the RBAC computed at generation time suffices,
// and protection works.
func TestHelmChart(t *testing.T) {
	in := newInstall(t, "helm-guard")
	c, err := bundle.GenerateChart(in.src, bundle.Options{Image: testImage}, bundle.ChartOptions{Version: "0.0.0-install", AppVersion: "v0.0.0-install"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), bundle.ChartName)
	if _, err := c.WriteDir(dir); err != nil {
		t.Fatal(err)
	}

	// The defaults render the bundle's objects but the Namespace.
	out, err := render(t, dir, in.namespace, nil)
	if err != nil {
		t.Fatalf("helm template with the default values: %v", err)
	}
	b, err := bundle.Generate(in.src, bundle.Options{Image: testImage})
	if err != nil {
		t.Fatal(err)
	}
	objs := manifests(t, stream(out))
	if got, want := len(objs), len(b.Objects)-1; got != want {
		t.Errorf("rendered %d objects (%s), want the bundle's %d without the Namespace", got, names(objs), want)
	}
	// The Katalog comes through values.yaml byte for byte.
	cm := find(t, objs, "ConfigMap")
	if k, _, _ := unstructured.NestedString(cm.Object, "data", bundle.KatalogKey); k != string(in.src.Katalog) {
		t.Errorf("the ConfigMap's Katalog differs from the Katalog:\n%s", k)
	}

	// A wrong namespace and a value of the wrong type are refused.
	if _, err := render(t, dir, "default", nil); err == nil || !strings.Contains(err.Error(), "install it with --namespace "+in.namespace) {
		t.Errorf("rendering into namespace default: %v", err)
	}
	if _, err := render(t, dir, in.namespace, map[string]any{"replicas": "two"}); err == nil || !strings.Contains(err.Error(), "replicas") {
		t.Errorf("replicas: two was accepted: %v", err)
	}
	if _, err := render(t, dir, in.namespace, map[string]any{"replica": 3}); err == nil {
		t.Error("an unknown value was accepted")
	}

	// Values an installation sets.
	values := map[string]any{
		"replicas":          3,
		"image":             "registry.example.com/mirror/orkestra-gateway:v0.0.0-install",
		"resources":         map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "96Mi"}, "limits": map[string]any{"memory": "192Mi"}},
		"nodeSelector":      map[string]any{"kubernetes.io/os": "linux", "node-role.example.com/infra": "true"},
		"tolerations":       []any{map[string]any{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}},
		"affinity":          map[string]any{"nodeAffinity": map[string]any{"preferredDuringSchedulingIgnoredDuringExecution": []any{map[string]any{"weight": 1, "preference": map[string]any{"matchExpressions": []any{map[string]any{"key": "zone", "operator": "In", "values": []any{"a"}}}}}}}},
		"priorityClassName": "system-cluster-critical",
		"podLabels":         map[string]any{"team": "platform"},
		"podAnnotations":    map[string]any{"example.com/owner": "platform"},
	}
	out, err = render(t, dir, in.namespace, values)
	if err != nil {
		t.Fatalf("helm template with values: %v", err)
	}
	objs = manifests(t, stream(out))
	d := deploymentOf(t, objs)
	pod := d.Spec.Template.Spec
	ctr := pod.Containers[0]
	switch {
	case *d.Spec.Replicas != 3:
		t.Errorf("replicas %d", *d.Spec.Replicas)
	case ctr.Image != values["image"]:
		t.Errorf("image %s", ctr.Image)
	case ctr.Resources.Limits.Memory().String() != "192Mi" || ctr.Resources.Requests.Cpu().String() != "100m":
		t.Errorf("resources %v", ctr.Resources)
	case pod.NodeSelector["node-role.example.com/infra"] != "true" || len(pod.Tolerations) != 1 || pod.Tolerations[0].Key != "infra":
		t.Errorf("scheduling %v %v", pod.NodeSelector, pod.Tolerations)
	case pod.Affinity == nil || pod.Affinity.NodeAffinity == nil || pod.PriorityClassName != "system-cluster-critical":
		t.Errorf("affinity %v, priority class %q", pod.Affinity, pod.PriorityClassName)
	case d.Spec.Template.Labels["team"] != "platform" || d.Spec.Template.Labels["app.kubernetes.io/name"] != "orkestra-gateway":
		t.Errorf("pod labels %v", d.Spec.Template.Labels)
	case d.Spec.Template.Annotations["example.com/owner"] != "platform":
		t.Errorf("pod annotations %v", d.Spec.Template.Annotations)
	}
	// The pods roll when the rendered ConfigMap changes.
	sum := sha256.Sum256([]byte(out[bundle.ChartName+"/templates/07-configmap.yaml"]))
	if got := d.Spec.Template.Annotations[bundle.ChecksumAnnotation]; got != hex.EncodeToString(sum[:]) {
		t.Errorf("checksum annotation %q, want the SHA-256 of the rendered ConfigMap", got)
	}
	// Nothing of the chart's own text was taken as a template action:
	// the rendered objects are the bundle's, apart from the values.
	if !slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == "ClusterRole" }) {
		t.Fatal("no ClusterRole rendered")
	}

	// helm install --create-namespace, then the manifests.
	ensureNamespace(t, in.namespace)
	in.apply(t, objs)
	stored, err := env.Clientset.AppsV1().Deployments(in.namespace).Get(t.Context(), d.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Spec.Template.Spec.Tolerations) != 1 || stored.Spec.Template.Spec.PriorityClassName != "system-cluster-critical" {
		t.Errorf("the API server did not store the scheduling settings: %+v", stored.Spec.Template.Spec)
	}
	if stored.Spec.Template.Spec.SecurityContext == nil || stored.Spec.Template.Spec.SecurityContext.RunAsNonRoot == nil {
		t.Error("the stored pod lost its security context")
	}
	g := in.run(t)
	g.protects(t)
}
