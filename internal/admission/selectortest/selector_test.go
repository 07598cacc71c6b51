// Package selectortest holds the Go model of which requests reach each
// admission webhook (admission.Webhooks, Webhook.Matches) to what the real
// API server does with the configurations package registration registers:
// their rules, objectSelectors, namespaceSelectors and matchConditions.
// It is separate from package admission so that the unit and fuzz tests
// there run without a control plane.
package selectortest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/orkspace/orkestra-gateway/internal/admission"
	"github.com/orkspace/orkestra-gateway/internal/certs"
	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/testenv"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

const (
	protection = policy.ProtectionLabel
	observe    = "/observe"
	group      = "truth.example.com"
)

var (
	gizmos     = schema.GroupVersionResource{Group: group, Version: "v1", Resource: "gizmos"}
	doohickeys = schema.GroupVersionResource{Group: group, Version: "v1", Resource: "doohickeys"}
	crdGVR     = apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions")
	validating = admissionregistrationv1.SchemeGroupVersion.WithResource("validatingwebhookconfigurations")
)

// recorder is the webhook server: it allows everything and records, by
// path, every AdmissionRequest the API server sends.
type recorder struct {
	mu   sync.Mutex
	seen []call
}

type call struct {
	path string
	req  *admissionv1.AdmissionRequest
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.seen = append(rc.seen, call{r.URL.Path, review.Request})
	rc.mu.Unlock()
	review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}

// take returns the calls recorded since the last take.
func (rc *recorder) take() []call {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := rc.seen
	rc.seen = nil
	return out
}

// serve starts the recorder on loopback with a certificate for 127.0.0.1
// and returns its base URL and CA.
func serve(t *testing.T, rc *recorder) (*url.URL, []byte) {
	t.Helper()
	m, err := certs.Generate([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h, err := certs.NewHolder(m)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", h.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	u, _ := url.Parse("https://" + ln.Addr().(*net.TCPAddr).String())
	return u, m.CABundle
}

func loadPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	res, err := check.RunFile("testdata/katalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if res.Policy == nil {
		t.Fatalf("testdata/katalog.yaml has errors: %v", res.Findings)
	}
	return res.Policy
}

func crd(kind, plural string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": plural + "." + group},
		"spec": map[string]any{
			"group": group, "scope": "Namespaced",
			"names": map[string]any{"kind": kind, "plural": plural, "singular": strings.ToLower(kind), "listKind": kind + "List"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
}

// observer registers a webhook for every operation on every resource the
// scenarios touch, with no selector: the API server sends it each request
// exactly as it would reach a gateway webhook that matched.
func observer(base *url.URL, ca []byte) *unstructured.Unstructured {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	eq := admissionregistrationv1.Equivalent
	scope := admissionregistrationv1.AllScopes
	u := base.JoinPath(observe).String()
	cfg := admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: "selector-truth-observer"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "observer.truth.orkestra.io",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: ca},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll},
				Rule: admissionregistrationv1.Rule{
					APIGroups:   []string{"", group, "apiextensions.k8s.io"},
					APIVersions: []string{"*"},
					Resources:   []string{"configmaps", "namespaces", "gizmos", "doohickeys", "customresourcedefinitions"},
					Scope:       &scope,
				},
			}},
			FailurePolicy:           &fail,
			MatchPolicy:             &eq,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	m, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(&cfg)
	return &unstructured.Unstructured{Object: m}
}

// scenario is one request to the API server; name identifies it among the
// requests the observer sees.
type scenario struct {
	name string
	do   func(ctx context.Context) error
}

var dryRun = []string{metav1.DryRunAll}

func cm(ns, name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}}
}

func cr(kind, ns, name string, labels map[string]string, size int64) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": group + "/v1", "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"size": size},
	}}
	u.SetLabels(labels)
	return u
}

var (
	on   = map[string]string{protection: "true"}
	off  = map[string]string{protection: "false"}
	none = map[string]string{"app": "x"}
)

// TestSelectorsMatchTheModel: for requests of every kind the registration
// scopes (labelled or not, in system namespaces or not, every operation,
// CRDs of entries with and without protection, namespaces restricted by
// name and by glob), the API server calls a gateway webhook exactly when
// admission.Webhooks says it matches the request.
func TestSelectorsMatchTheModel(t *testing.T) {
	ctx := context.Background()
	p := loadPolicy(t)
	rc := &recorder{}
	base, ca := serve(t, rc)

	cs, dyn := env.Clientset, env.Dynamic
	for ns, l := range map[string]map[string]string{
		"truth-a": nil, "truth-b": nil, "truth-restricted": nil, "truth-locked-1": nil, "truth-free": nil,
		"truth-gateway": on, "truth-ns-protected": on,
	} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: l}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	for _, c := range []*unstructured.Unstructured{crd("Gizmo", "gizmos"), crd("Doohickey", "doohickeys"), crd("Widget", "widgets")} {
		if _, err := dyn.Resource(crdGVR).Create(ctx, c, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	waitFor(t, "CRDs served", func() error {
		for _, r := range []schema.GroupVersionResource{gizmos, doohickeys} {
			if _, err := dyn.Resource(r).Namespace("truth-a").List(ctx, metav1.ListOptions{}); err != nil {
				return err
			}
		}
		return nil
	})

	// Objects the updates and deletes act on, created before any webhook.
	for _, ns := range []string{"truth-a", "kube-system", "truth-gateway"} {
		for name, l := range map[string]map[string]string{"labelled": on, "plain": none, "off": off} {
			if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm(ns, "truth-"+name, l), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
	}
	for _, o := range []*unstructured.Unstructured{
		cr("Gizmo", "truth-a", "g-labelled", on, 1), cr("Gizmo", "truth-a", "g-plain", nil, 1), cr("Gizmo", "kube-system", "g-system", on, 1),
		cr("Doohickey", "truth-a", "d-labelled", on, 1), cr("Doohickey", "truth-b", "d-plain", nil, 1),
	} {
		r := gizmos
		if o.GetKind() == "Doohickey" {
			r = doohickeys
		}
		if _, err := dyn.Resource(r).Namespace(o.GetNamespace()).Create(ctx, o, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}

	// Register what the gateway registers, pointed at the recorder, and
	// the observer.
	ep := registration.Endpoint{Namespace: p.Gateway.Namespace, URL: base}
	v, m := registration.Desired(p, ep, ca)
	if _, err := registration.Apply(ctx, dyn, p.Name, v, m); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = registration.RemoveFeatures(context.Background(), dyn, p.Name, webhook.Features)
		_ = dyn.Resource(validating).Delete(context.Background(), "selector-truth-observer", metav1.DeleteOptions{})
	})
	if _, err := dyn.Resource(validating).Create(ctx, observer(base, ca), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// Registration propagates asynchronously: wait until both the observer
	// and a gateway webhook are called.
	waitFor(t, "webhooks active", func() error {
		rc.take()
		err := cs.CoreV1().ConfigMaps("truth-a").Delete(ctx, "truth-labelled", metav1.DeleteOptions{DryRun: dryRun})
		if err != nil {
			return err
		}
		paths := map[string]bool{}
		for _, c := range rc.take() {
			paths[c.path] = true
		}
		if !paths[observe] || !paths["/deletion-protection"] {
			return fmt.Errorf("calls so far: %v", paths)
		}
		return nil
	})

	cms := func(ns string) interface {
		Create(context.Context, *corev1.ConfigMap, metav1.CreateOptions) (*corev1.ConfigMap, error)
		Update(context.Context, *corev1.ConfigMap, metav1.UpdateOptions) (*corev1.ConfigMap, error)
		Delete(context.Context, string, metav1.DeleteOptions) error
	} {
		return cs.CoreV1().ConfigMaps(ns)
	}
	relabel := func(ns, name string, labels map[string]string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := cms(ns).Update(ctx, cm(ns, name, labels), metav1.UpdateOptions{DryRun: dryRun})
			return err
		}
	}
	del := func(ns, name string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			return cms(ns).Delete(ctx, name, metav1.DeleteOptions{DryRun: dryRun})
		}
	}
	create := func(ns, name string, labels map[string]string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := cms(ns).Create(ctx, cm(ns, name, labels), metav1.CreateOptions{DryRun: dryRun})
			return err
		}
	}
	crCreate := func(r schema.GroupVersionResource, o *unstructured.Unstructured) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := dyn.Resource(r).Namespace(o.GetNamespace()).Create(ctx, o, metav1.CreateOptions{DryRun: dryRun})
			return err
		}
	}
	crUpdate := func(r schema.GroupVersionResource, ns, name string, labels map[string]string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			cur, err := dyn.Resource(r).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.SetLabels(labels)
			_, err = dyn.Resource(r).Namespace(ns).Update(ctx, cur, metav1.UpdateOptions{DryRun: dryRun})
			return err
		}
	}
	crDelete := func(r schema.GroupVersionResource, ns, name string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			return dyn.Resource(r).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{DryRun: dryRun})
		}
	}
	nsDelete := func(name string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			return cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{DryRun: dryRun})
		}
	}
	nsRelabel := func(name string, labels map[string]string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			ns.Labels = labels
			if ns.Labels == nil {
				ns.Labels = map[string]string{}
			}
			ns.Labels[registration.NamespaceNameLabel] = name
			_, err = cs.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{DryRun: dryRun})
			return err
		}
	}
	crdDelete := func(name string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			return dyn.Resource(crdGVR).Delete(ctx, name, metav1.DeleteOptions{DryRun: dryRun})
		}
	}

	var scenarios []scenario
	for _, ns := range []string{"truth-a", "kube-system", "truth-gateway"} {
		scenarios = append(scenarios,
			scenario{"create plain configmap in " + ns, create(ns, "truth-new", none)},
			scenario{"create labelled configmap in " + ns, create(ns, "truth-new", on)},
			scenario{"delete labelled configmap in " + ns, del(ns, "truth-labelled")},
			scenario{"delete plain configmap in " + ns, del(ns, "truth-plain")},
			scenario{"delete configmap labelled false in " + ns, del(ns, "truth-off")},
			scenario{"keep the label in " + ns, relabel(ns, "truth-labelled", map[string]string{protection: "true", "x": "y"})},
			scenario{"remove the label in " + ns, relabel(ns, "truth-labelled", none)},
			scenario{"set the label to false in " + ns, relabel(ns, "truth-labelled", off)},
			scenario{"add the label in " + ns, relabel(ns, "truth-plain", on)},
			scenario{"turn false into true in " + ns, relabel(ns, "truth-off", on)},
		)
	}
	scenarios = append(scenarios,
		scenario{"create gizmo in an allowed namespace", crCreate(gizmos, cr("Gizmo", "truth-a", "g-new", nil, 3))},
		scenario{"create gizmo in another namespace", crCreate(gizmos, cr("Gizmo", "truth-b", "g-new", nil, 3))},
		scenario{"create gizmo in kube-system", crCreate(gizmos, cr("Gizmo", "kube-system", "g-new", nil, 3))},
		scenario{"create gizmo in the gateway namespace", crCreate(gizmos, cr("Gizmo", "truth-gateway", "g-new", nil, 3))},
		scenario{"create labelled gizmo", crCreate(gizmos, cr("Gizmo", "truth-a", "g-new2", on, 3))},
		scenario{"update gizmo", crUpdate(gizmos, "truth-a", "g-plain", map[string]string{"a": "b"})},
		scenario{"remove the label of a gizmo", crUpdate(gizmos, "truth-a", "g-labelled", nil)},
		scenario{"remove the label of a gizmo in kube-system", crUpdate(gizmos, "kube-system", "g-system", nil)},
		scenario{"delete labelled gizmo", crDelete(gizmos, "truth-a", "g-labelled")},
		scenario{"delete plain gizmo", crDelete(gizmos, "truth-a", "g-plain")},
		scenario{"delete labelled gizmo in kube-system", crDelete(gizmos, "kube-system", "g-system")},
		scenario{"create doohickey", crCreate(doohickeys, cr("Doohickey", "truth-b", "d-new", nil, 3))},
		scenario{"update doohickey (validation on CREATE only)", crUpdate(doohickeys, "truth-b", "d-plain", map[string]string{"a": "b"})},
		scenario{"delete labelled doohickey (protectCRs false)", crDelete(doohickeys, "truth-a", "d-labelled")},
		scenario{"remove the label of a doohickey", crUpdate(doohickeys, "truth-a", "d-labelled", nil)},
		scenario{"delete the restricted namespace", nsDelete("truth-restricted")},
		scenario{"delete a namespace matching the glob", nsDelete("truth-locked-1")},
		scenario{"delete a free namespace", nsDelete("truth-free")},
		scenario{"delete the labelled namespace", nsDelete("truth-ns-protected")},
		scenario{"remove the label of a namespace", nsRelabel("truth-ns-protected", nil)},
		scenario{"remove the label of the gateway's namespace", nsRelabel("truth-gateway", nil)},
		scenario{"delete the gateway's labelled namespace", nsDelete("truth-gateway")},
		scenario{"delete the protected CRD", crdDelete("gizmos." + group)},
		scenario{"delete an unprotected CRD", crdDelete("doohickeys." + group)},
		scenario{"delete a CRD of no entry", crdDelete("widgets." + group)},
	)

	hooks := admission.Webhooks(p)
	counts := map[string]int{}
	for _, sc := range scenarios {
		rc.take()
		if err := sc.do(ctx); err != nil {
			t.Errorf("%s: the request failed: %v", sc.name, err)
			continue
		}
		calls := rc.take()
		var observed []*admissionv1.AdmissionRequest
		got := map[string]bool{}
		for _, c := range calls {
			if c.path == observe {
				observed = append(observed, c.req)
			} else {
				got[strings.TrimPrefix(c.path, "/")] = true
			}
		}
		if len(observed) != 1 {
			t.Errorf("%s: the observer saw %d requests, want 1", sc.name, len(observed))
			continue
		}
		want := map[string]bool{}
		for _, w := range hooks {
			if w.Matches(observed[0]) {
				want[w.Name] = true
			}
		}
		for n := range got {
			counts[n]++
		}
		if !mapsEqual(got, want) {
			t.Errorf("%s (%s %s %s/%s): the API server called %v; admission.Webhooks matches %v",
				sc.name, observed[0].Operation, observed[0].Kind.Kind, observed[0].Namespace, observed[0].Name, keys(got), keys(want))
		}
	}
	// The scenarios reach every webhook, so the comparison is not vacuous.
	for _, w := range hooks {
		if counts[w.Name] == 0 {
			t.Errorf("no scenario reached %s", w.Name)
		}
	}
	t.Logf("%d scenarios; calls per webhook: %v", len(scenarios), counts)
}

func mapsEqual(a, b map[string]bool) bool {
	return slices.Equal(keys(a), keys(b))
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func waitFor(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
