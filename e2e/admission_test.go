package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
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

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

const protectionLabel = "orkestra.io/deletion-protection"

var widgets = schema.GroupVersionResource{Group: "e2e.example.com", Version: "v1", Resource: "widgets"}

// admissionGateway starts the gateway of testdata/admission-katalog.yaml
// with the given engine, and removes its registrations when the test ends.
func admissionGateway(t *testing.T, engine policy.Engine) *gateway {
	t.Helper()
	ensureWidgetCRD(t)
	t.Cleanup(func() { removeAndWait(t, "e2e", gatewayNamespace) })
	return startGateway(t, gatewayOptions{
		Katalog: withEngine(readTestdata(t, "admission-katalog.yaml"), engine),
		Files:   map[string]string{"crds/widget.yaml": readTestdata(t, "widget-crd.yaml")},
		Args:    []string{"--sync-interval", "1s"},
	})
}

// withEngine sets security.webhooks.admission.engine in a Katalog whose
// admission block reads "    admission:\n      enabled: true\n".
func withEngine(katalog string, engine policy.Engine) string {
	const block = "    admission:\n      enabled: true\n"
	if !strings.Contains(katalog, block) {
		panic("the Katalog has no admission block to set the engine in")
	}
	return strings.Replace(katalog, block, block+"      engine: "+string(engine)+"\n", 1)
}

// engines are the admission engines every admission scenario runs under.
var engines = []policy.Engine{policy.EngineWebhook, policy.EngineNative}

// verdicts records what a client saw for each scenario, with what differs
// by engine only in wrapping removed: the API server's prefix of a denial
// ("admission webhook ... denied the request:" or "ValidatingAdmissionPolicy
// ... denied request:") and of a policy's warning ("Validation failed for
// ValidatingAdmissionPolicy ...:"), and the run's unique name suffix.
type verdicts struct {
	run  string
	seen map[string]string
	keys []string
}

func newVerdicts(run string) *verdicts { return &verdicts{run: run, seen: map[string]string{}} }

var policyWarning = regexp.MustCompile(`^Validation failed for ValidatingAdmissionPolicy '[^']*' with binding '[^']*': `)

// record notes a scenario's outcome: allowed or the denial's code, reason
// and message, and the warnings.
func (v *verdicts) record(scenario string, err error, warns []string) {
	out := "allowed"
	if err != nil {
		out = "denied: " + err.Error()
		if st, ok := err.(apierrors.APIStatus); ok {
			s := st.Status()
			out = fmt.Sprintf("denied %d %s: %s", s.Code, s.Reason, denialMessage(err))
		}
	}
	out += normalizeWarnings(warns)
	out = strings.ReplaceAll(out, v.run, "RUN")
	v.keys = append(v.keys, scenario)
	v.seen[scenario] = out
}

// note records a scenario's outcome described by the test.
func (v *verdicts) note(scenario, outcome string, warns []string) {
	outcome += normalizeWarnings(warns)
	v.keys = append(v.keys, scenario)
	v.seen[scenario] = strings.ReplaceAll(outcome, v.run, "RUN")
}

// normalizeWarnings lists warnings without the policy prefix and without
// surrounding white space, which the API server trims from a policy's
// messages (and not from a webhook's).
func normalizeWarnings(warns []string) string {
	var out string
	for _, w := range warns {
		out += "\n  warning: " + strings.TrimSpace(policyWarning.ReplaceAllString(w, ""))
	}
	return out
}

// denialMessage is a denial's own message, without the API server's
// wrapping, which names the webhook or the policy that denied.
func denialMessage(err error) string {
	msg := err.Error()
	for _, sep := range []string{"denied the request: ", "denied request: "} {
		if i := strings.Index(msg, sep); i >= 0 {
			return strings.TrimSpace(msg[i+len(sep):])
		}
	}
	return msg
}

// compareVerdicts: every engine saw the same outcome in every scenario.
func compareVerdicts(t *testing.T, runs map[policy.Engine]*verdicts) {
	t.Helper()
	base := runs[engines[0]]
	if base == nil {
		return
	}
	for _, e := range engines[1:] {
		other := runs[e]
		if other == nil {
			continue
		}
		for _, k := range base.keys {
			if base.seen[k] != other.seen[k] {
				t.Errorf("%s: the engines disagree\n  %s: %s\n  %s: %s", k, engines[0], base.seen[k], e, other.seen[k])
			}
		}
		if len(base.keys) != len(other.keys) {
			t.Errorf("the engines ran different scenarios: %v / %v", base.keys, other.keys)
		}
	}
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

// take returns the warnings received so far and forgets them.
func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
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

// TestAdmission runs every admission scenario under each engine, checks
// each engine's answers, and holds the engines' answers (allowed or the
// denial's code, reason and message, and the warnings) equal.
func TestAdmission(t *testing.T) {
	removeOtherRegistrations(t, "")
	for _, ns := range []string{"team-a", "other", "restricted-zone"} {
		ensureNamespace(t, ns, nil)
	}
	runs := map[policy.Engine]*verdicts{}
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) { runs[engine] = admissionScenarios(t, engine) })
	}
	compareVerdicts(t, runs)
}

func admissionScenarios(t *testing.T, engine policy.Engine) *verdicts {
	ctx := context.Background()
	g := admissionGateway(t, engine)
	waitProtection(t, "default")
	waitRules(t)
	// One client records the warnings of every scenario.
	cs, dyn, warns := clientsFor(t, env.Config)
	cms := cs.CoreV1().ConfigMaps("default")
	// Unique names let the test run again (-count) on the same control plane,
	// where protected objects of the previous run remain.
	run := strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
	u := func(name string) string { return name + "-" + run }
	batch := map[string]string{"app": "batch-" + run}
	seen := newVerdicts(run)
	record := func(scenario string, err error) { seen.record(scenario, err, warns.take()) }
	warns.take()

	t.Run("protected delete denied, object survives", func(t *testing.T) {
		mustCreateCM(t, "default", u("keep"), protected)
		err := cms.Delete(ctx, u("keep"), metav1.DeleteOptions{})
		record("protected delete", err)
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
		err := cms.Delete(ctx, u("scratch"), metav1.DeleteOptions{})
		record("unprotected delete", err)
		if err != nil {
			t.Fatalf("delete of an unprotected ConfigMap: %v", err)
		}
	})

	t.Run("DeleteCollection leaves protected objects", func(t *testing.T) {
		for _, n := range []string{u("batch-1"), u("batch-2")} {
			mustCreateCM(t, "default", n, batch)
		}
		mustCreateCM(t, "default", u("batch-protected"), map[string]string{"app": "batch-" + run, protectionLabel: "true"})
		err := cms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "app=batch-" + run})
		record("DeleteCollection", err)
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
		err := cs.CoreV1().Namespaces().Delete(ctx, "keep-ns", metav1.DeleteOptions{})
		record("labelled namespace delete", err)
		if !isForbidden(err) {
			t.Fatalf("delete of a protected namespace: want Forbidden, got %v", err)
		}
		ns, err := env.Clientset.CoreV1().Namespaces().Get(ctx, "keep-ns", metav1.GetOptions{})
		if err != nil || ns.Status.Phase != corev1.NamespaceActive {
			t.Fatalf("protected namespace: %v, phase %v", err, ns.Status.Phase)
		}
	})

	t.Run("Katalog CRD cannot be deleted", func(t *testing.T) {
		crds := dyn.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
		err := crds.Delete(ctx, "widgets.e2e.example.com", metav1.DeleteOptions{})
		record("Katalog CRD delete", err)
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
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		record("strict mode: label removed", err)
		if !isForbidden(err) {
			t.Fatalf("removing the protection label as a normal admin: want Forbidden, got %v", err)
		}
		cm.Labels = map[string]string{protectionLabel: "false"}
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		record("strict mode: label changed", err)
		if !isForbidden(err) {
			t.Fatalf("changing the protection label to false: want Forbidden, got %v", err)
		}

		// A member of the break-glass group may lift it, with a warning.
		bindGroup(t, "platform:break-glass")
		bcs, _, bwarns := clientsFor(t, env.ImpersonatedConfig("bob", "platform:break-glass", "system:authenticated"))
		// The authorizer learns of the new binding asynchronously.
		eventually(t, 10*time.Second, "bob may read ConfigMaps", func() error {
			cm, err = bcs.CoreV1().ConfigMaps("default").Get(ctx, u("strict"), metav1.GetOptions{})
			return err
		})
		delete(cm.Labels, protectionLabel)
		_, err = bcs.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{})
		seen.record("strict mode: break-glass", err, bwarns.take())
		if err != nil {
			t.Fatalf("break-glass group removing the label: %v", err)
		}
		if w := seen.seen["strict mode: break-glass"]; !strings.Contains(w, "warning: break-glass: removing label "+protectionLabel+"=true by bob") {
			t.Errorf("break-glass use gave no warning: %s", w)
		}
		if err := cms.Delete(ctx, u("strict"), metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete after protection was lifted: %v", err)
		}
		warns.take()
	})

	t.Run("namespace protection", func(t *testing.T) {
		ok := widget(u("allowed"), map[string]any{"replicas": int64(2), "image": "registry.example.com/w:1"})
		_, err := dyn.Resource(widgets).Namespace("team-a").Create(ctx, ok, metav1.CreateOptions{})
		record("widget in an allowed namespace", err)
		if err != nil {
			t.Fatalf("widget in team-a (allowed by glob team-*): %v", err)
		}
		for _, ns := range []string{"other", "restricted-zone"} {
			_, err := dyn.Resource(widgets).Namespace(ns).Create(ctx, widget("denied", map[string]any{"replicas": int64(2)}), metav1.CreateOptions{})
			record("widget in "+ns, err)
			if !isForbidden(err) {
				t.Errorf("widget in %s: want Forbidden, got %v", ns, err)
			}
		}
		err = cs.CoreV1().Namespaces().Delete(ctx, "restricted-zone", metav1.DeleteOptions{})
		record("restricted namespace delete", err)
		if !isForbidden(err) {
			t.Fatalf("delete of restricted namespace restricted-zone (glob restricted-*): want Forbidden, got %v", err)
		}
	})

	t.Run("validation denial lists every failing rule", func(t *testing.T) {
		bad := widget(u("bad"), map[string]any{"replicas": int64(20), "tier": "platinum", "image": "registry.example.com/w:1"})
		_, err := dyn.Resource(widgets).Namespace("team-a").Create(ctx, bad, metav1.CreateOptions{})
		record("validation denial", err)
		if err == nil {
			t.Fatal("an invalid widget was created")
		}
		if !apierrors.IsInvalid(err) {
			t.Errorf("want an Invalid (422) error like the API server's own validation, got %v", err)
		}
		for _, want := range []string{"replicas must be between 1 and 10", "tier must be gold, silver or bronze", "spec.replicas", "spec.tier",
			"Invalid value: 20", `Invalid value: "platinum"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("denial %q does not contain %q", err, want)
			}
		}
		// The webhook engine answers with one cause per failing field; a
		// policy's denial carries the API server's single cause with the
		// whole message (which lists every field, as checked above).
		wantCauses := 2
		if engine == policy.EngineNative {
			wantCauses = 1
		}
		if st, ok := err.(apierrors.APIStatus); ok {
			if d := st.Status().Details; d == nil || len(d.Causes) != wantCauses {
				t.Errorf("want %d causes, got %+v", wantCauses, d)
			}
		}
	})

	t.Run("warn rule reaches the client as a warning", func(t *testing.T) {
		w := widget(u("warned"), map[string]any{"replicas": int64(3), "image": "docker.io/library/nginx"})
		_, err := dyn.Resource(widgets).Namespace("team-a").Create(ctx, w, metav1.CreateOptions{})
		record("warn rule", err)
		if err != nil {
			t.Fatalf("a widget failing only a warn rule: %v", err)
		}
		if !strings.Contains(seen.seen["warn rule"], "warning: spec.image: images should come from the internal registry") {
			t.Errorf("warnings %q lack the warn rule's message", seen.seen["warn rule"])
		}
	})

	wantCauses := func(t *testing.T, err error, webhookCauses int) {
		t.Helper()
		// The webhook engine answers with one cause per failing field; a
		// policy's denial carries the API server's single cause.
		want := webhookCauses
		if engine == policy.EngineNative {
			want = 1
		}
		if st, ok := err.(apierrors.APIStatus); !ok || st.Status().Details == nil || len(st.Status().Details.Causes) != want {
			t.Errorf("want %d causes: %v", want, err)
		}
	}

	t.Run("[*]: one cause and one warning per failing element", func(t *testing.T) {
		w := widget(u("ports"), map[string]any{"replicas": int64(2), "image": "registry.example.com/w:1",
			"ports": []any{map[string]any{"port": int64(80)}, map[string]any{"port": int64(0)}, map[string]any{"port": int64(22)},
				map[string]any{"port": int64(70000)}, map[string]any{"port": int64(23)}}})
		_, err := dyn.Resource(widgets).Namespace("team-a").Create(ctx, w, metav1.CreateOptions{})
		record("[*] ports", err)
		if !apierrors.IsInvalid(err) {
			t.Fatalf("widget with ports 0 and 70000: want Invalid, got %v", err)
		}
		for _, want := range []string{
			`[spec.ports[1].port: Invalid value: 0: ports are between 1 and 65535, spec.ports[3].port: Invalid value: 70000: ports are between 1 and 65535]`,
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("denial %q does not contain %q", err, want)
			}
		}
		for _, want := range []string{"warning: spec.ports[2].port: ssh and telnet ports are discouraged", "warning: spec.ports[4].port: ssh and telnet ports are discouraged"} {
			if !strings.Contains(seen.seen["[*] ports"], want) {
				t.Errorf("outcome %q lacks %q", seen.seen["[*] ports"], want)
			}
		}
		wantCauses(t, err, 2)
		ok := widget(u("ports-ok"), map[string]any{"replicas": int64(2), "image": "registry.example.com/w:1", "ports": []any{map[string]any{"port": int64(443)}}})
		_, err = dyn.Resource(widgets).Namespace("team-a").Create(ctx, ok, metav1.CreateOptions{})
		record("[*] ports ok", err)
		if err != nil {
			t.Errorf("widget with port 443: %v", err)
		}
	})

	t.Run("template value: another field of the object", func(t *testing.T) {
		w := widget(u("max"), map[string]any{"replicas": int64(5), "maxReplicas": int64(3), "image": "registry.example.com/w:1"})
		_, err := dyn.Resource(widgets).Namespace("team-a").Create(ctx, w, metav1.CreateOptions{})
		record("template operand", err)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.replicas: Invalid value: 5: replicas above maxReplicas 3") {
			t.Errorf("replicas 5 with maxReplicas 3: %v", err)
		}
		w = widget(u("max-ok"), map[string]any{"replicas": int64(3), "maxReplicas": int64(3), "image": "registry.example.com/w:1"})
		_, err = dyn.Resource(widgets).Namespace("team-a").Create(ctx, w, metav1.CreateOptions{})
		record("template operand ok", err)
		if err != nil {
			t.Errorf("replicas 3 with maxReplicas 3: %v", err)
		}
	})

	t.Run("condition on the user's groups", func(t *testing.T) {
		w := func(name string) *unstructured.Unstructured {
			return widget(name, map[string]any{"replicas": int64(1), "image": "registry.example.com/w:1", "privileged": true})
		}
		_, err := dyn.Resource(widgets).Namespace("team-a").Create(ctx, w(u("priv")), metav1.CreateOptions{})
		record("userInfo: not a platform admin", err)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.privileged: Invalid value: true: only platform admins create privileged widgets") {
			t.Errorf("privileged widget by a cluster admin outside platform:admins: %v", err)
		}
		bindGroup(t, "platform:admins")
		_, adyn, awarns := clientsFor(t, env.ImpersonatedConfig("pat", "platform:admins", "system:authenticated"))
		eventually(t, 10*time.Second, "pat may read widgets", func() error {
			_, err := adyn.Resource(widgets).Namespace("team-a").List(ctx, metav1.ListOptions{})
			return err
		})
		_, err = adyn.Resource(widgets).Namespace("team-a").Create(ctx, w(u("priv-admin")), metav1.CreateOptions{})
		seen.record("userInfo: a platform admin", err, awarns.take())
		if err != nil {
			t.Errorf("privileged widget by a platform admin: %v", err)
		}
	})

	t.Run("a rule in audit mode neither denies nor warns", func(t *testing.T) {
		w := widget(u("latest"), map[string]any{"replicas": int64(1), "image": "registry.example.com/w:latest"})
		_, err := dyn.Resource(widgets).Namespace("team-a").Create(ctx, w, metav1.CreateOptions{})
		record("audit rule", err)
		if err != nil || strings.Contains(seen.seen["audit rule"], "warning") {
			t.Errorf("a widget failing only an audited rule: %s", seen.seen["audit rule"])
		}
		if engine == policy.EngineWebhook {
			if n := metric(t, g, `orkestra_gateway_admission_audit_total{rule="widget/pinned-image"}`); n < 1 {
				t.Errorf("the audited failure was not counted: %v", n)
			}
			return
		}
		// Native: a policy of its own, bound with validationActions [Audit].
		b, err := env.Dynamic.Resource(schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"}).
			Get(ctx, "orkestra-gateway-e2e-validate-audit", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if actions, _, _ := unstructured.NestedStringSlice(b.Object, "spec", "validationActions"); fmt.Sprint(actions) != "[Audit]" {
			t.Errorf("the audit binding's actions: %v", actions)
		}
	})

	t.Run("mutation default and override on an annotation key with /", func(t *testing.T) {
		w := widget(u("mutated"), map[string]any{"replicas": int64(1), "image": "registry.example.com/w:1"})
		w.SetAnnotations(map[string]string{"app.kubernetes.io/managed-by": "someone-else", u("keep"): "me"})
		got, err := dyn.Resource(widgets).Namespace("team-a").Create(ctx, w, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tier, _, _ := unstructured.NestedString(got.Object, "spec", "tier")
		if tier != "bronze" {
			t.Errorf("spec.tier = %q, want the default bronze", tier)
		}
		ann := got.GetAnnotations()
		if ann["app.kubernetes.io/managed-by"] != "orkestra" || ann[u("keep")] != "me" {
			t.Errorf("annotations = %v, want managed-by overridden to orkestra and keep=me untouched", ann)
		}
		seen.note("mutation: absent tier", fmt.Sprintf("tier=%s managed-by=%s keep=%s", tier, ann["app.kubernetes.io/managed-by"], ann[u("keep")]), warns.take())
		// A set tier is left alone (default only fills absent fields).
		w2 := widget(u("gold"), map[string]any{"replicas": int64(1), "tier": "gold", "image": "registry.example.com/w:1"})
		got, err = dyn.Resource(widgets).Namespace("team-a").Create(ctx, w2, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if tier, _, _ = unstructured.NestedString(got.Object, "spec", "tier"); tier != "gold" {
			t.Errorf("spec.tier = %q, want gold kept", tier)
		}
		seen.note("mutation: set tier", "tier="+tier, warns.take())
	})

	if engine == policy.EngineNative {
		t.Run("no admission request reaches the gateway", func(t *testing.T) {
			// The series exist at zero from start-up; none may have counted.
			_, body := g.probe("/metrics")
			for _, line := range strings.Split(grepLines(body, "orkestra_gateway_admission_decisions_total{"), "\n") {
				if line != "" && !strings.HasSuffix(line, " 0") {
					t.Errorf("with engine native the gateway answered admission requests: %s", line)
				}
			}
		})
		return seen
	}
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
	return seen
}

// waitRules waits until the API server enforces namespace protection,
// validation, mutation and the warn rules too (each configuration or policy
// propagates on its own), using dry-run creates that leave nothing behind.
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
	// The API server loads each policy on its own: the warn policy may
	// come into force after the deny one.
	_, wdyn, warns := clientsFor(t, env.Config)
	eventually(t, 20*time.Second, "warn rules active", func() error {
		w := widget("probe", map[string]any{"replicas": int64(1), "image": "docker.io/library/nginx"})
		if _, err := wdyn.Resource(widgets).Namespace("team-a").Create(ctx, w, dry); err != nil {
			return err
		}
		if got := warns.take(); !strings.Contains(strings.Join(got, "\n"), "images should come from the internal registry") {
			return errorf("no warning yet: %q", got)
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
	// The authorizer sees a new binding a moment later: wait until a
	// member may create anything, as the tests then do.
	member := impersonated(t, "rbac-check", group, "system:authenticated")
	eventually(t, 10*time.Second, group+" bound to cluster-admin", func() error {
		r, err := member.AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(), &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods"}},
		}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		if !r.Status.Allowed {
			return errorf("%s may not create pods yet", group)
		}
		return nil
	})
}
