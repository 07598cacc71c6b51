// Package applytest runs package registration against a real kube-apiserver
// (internal/testenv): the server must accept every configuration, its
// defaulting must not make Apply write again, and the registered scoping must
// behave as documented. No gateway runs here, so every webhook call fails:
// with failurePolicy Fail a request that reaches a webhook is denied, which
// is how the scoping tests see which requests reach it.
package applytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/testenv"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

var (
	validatingGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}
	mutatingGVR   = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingwebhookconfigurations"}
	crdGVR        = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	sliceGVR      = schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}
	nsGVR         = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	cmGVR         = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

// caPEM is a real certificate: the API server rejects a caBundle it cannot parse.
func caPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "registration test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// fullPolicy enables every feature with two CRDs, like the unit tests.
func fullPolicy(name string) *policy.Policy {
	return &policy.Policy{
		Name:    name,
		Gateway: policy.Gateway{ServiceName: "orkestra-gateway", Namespace: "orkestra-system"},
		DeletionProtection: policy.DeletionProtection{
			Endpoint:   policy.Endpoint{Enabled: true, FailurePolicy: policy.Fail, TimeoutSeconds: 5, CleanupOnShutdown: true},
			StrictMode: true,
		},
		NamespaceProtection: policy.NamespaceProtection{
			Endpoint:   policy.Endpoint{Enabled: true, FailurePolicy: policy.Fail},
			Namespaces: policy.Namespaces{Restricted: policy.Globs{"kube-public", "locked-*"}},
		},
		Admission: policy.Admission{Endpoint: policy.Endpoint{Enabled: true, FailurePolicy: policy.Ignore, TimeoutSeconds: 5}},
		CRDs: []*policy.CRD{
			{
				Name: "website", Group: "web.example.com", Version: "v2", Kind: "Website", Plural: "websites",
				Namespaced: true, Versions: []string{"v1", "v2"}, Validate: true, Mutate: true,
				Operations: []string{"CREATE", "UPDATE"}, ProtectCRD: true, ProtectCRs: true,
				Namespaces: policy.Namespaces{Allowed: policy.Globs{"web-*"}},
			},
			{
				Name: "zone", Group: "dns.example.com", Version: "v1", Kind: "Zone", Plural: "zones",
				Versions: []string{"v1"}, Validate: true, Operations: []string{"CREATE", "UPDATE", "DELETE"},
			},
		},
	}
}

func endpoint() registration.Endpoint {
	return registration.Endpoint{Namespace: "orkestra-system", Service: "orkestra-gateway"}
}

func apply(t *testing.T, p *policy.Policy, ep registration.Endpoint, ca []byte) registration.Result {
	t.Helper()
	v, m := registration.Desired(p, ep, ca)
	res, err := registration.Apply(context.Background(), env.Dynamic, p.Name, v, m)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

func removeAll(t *testing.T, name string) {
	t.Helper()
	t.Cleanup(func() {
		if err := registration.Remove(context.Background(), env.Dynamic, name); err != nil {
			t.Errorf("Remove: %v", err)
		}
	})
}

// versions returns the resourceVersion of every configuration of a Katalog
// ("" for an absent one).
func versions(t *testing.T, katalog string) map[webhook.Feature]string {
	t.Helper()
	rv := map[webhook.Feature]string{}
	for _, f := range webhook.Features {
		gvr := validatingGVR
		if f.Mutating() {
			gvr = mutatingGVR
		}
		u, err := env.Dynamic.Resource(gvr).Get(context.Background(), registration.ConfigName(katalog, f), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			rv[f] = ""
		case err != nil:
			t.Fatal(err)
		default:
			rv[f] = u.GetResourceVersion()
		}
	}
	return rv
}

func TestServerAcceptsEveryConfigurationAndApplyIsIdempotent(t *testing.T) {
	ca := caPEM(t)
	for _, tc := range []struct {
		katalog string
		ep      func() registration.Endpoint
	}{
		{"accept-svc", endpoint},
		{"accept-url", func() registration.Endpoint {
			u, _ := url.Parse("https://gateway.example.com:9443/orkestra/")
			return registration.Endpoint{Namespace: "orkestra-system", URL: u}
		}},
	} {
		t.Run(tc.katalog, func(t *testing.T) {
			p := fullPolicy(tc.katalog)
			removeAll(t, p.Name)
			if res := apply(t, p, tc.ep(), ca); res != (registration.Result{Created: 5}) {
				t.Fatalf("first Apply: %+v", res)
			}
			before := versions(t, p.Name)
			for f, rv := range before {
				if rv == "" {
					t.Fatalf("%s was not created", f)
				}
			}
			// The server has defaulted namespaceSelector, objectSelector,
			// scope, port...: none of that may count as a difference.
			for range 2 {
				start := time.Now()
				if res := apply(t, p, tc.ep(), ca); res != (registration.Result{Unchanged: 5}) {
					t.Fatalf("re-Apply: %+v", res)
				}
				t.Logf("an unchanged Apply took %s", time.Since(start))
			}
			if after := versions(t, p.Name); !equalMaps(before, after) {
				t.Fatalf("re-Apply moved resourceVersions: %v -> %v", before, after)
			}
		})
	}
}

func equalMaps(a, b map[webhook.Feature]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func getValidating(t *testing.T, name string) (*unstructured.Unstructured, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	t.Helper()
	u, err := env.Dynamic.Resource(validatingGVR).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var c admissionregistrationv1.ValidatingWebhookConfiguration
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &c); err != nil {
		t.Fatal(err)
	}
	return u, &c
}

func updateValidating(t *testing.T, c *admissionregistrationv1.ValidatingWebhookConfiguration) {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Dynamic.Resource(validatingGVR).Update(context.Background(), &unstructured.Unstructured{Object: m}, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestApplyRestoresEdits(t *testing.T) {
	ctx := context.Background()
	ca := caPEM(t)
	p := fullPolicy("restore")
	removeAll(t, p.Name)
	apply(t, p, endpoint(), ca)

	// failurePolicy flipped on deletion protection.
	_, dp := getValidating(t, registration.ConfigName(p.Name, webhook.DeletionProtection))
	ignore := admissionregistrationv1.Ignore
	dp.Webhooks[0].FailurePolicy = &ignore
	updateValidating(t, dp)
	// A webhook removed from validate.
	_, val := getValidating(t, registration.ConfigName(p.Name, webhook.Validate))
	val.Webhooks = val.Webhooks[:1]
	updateValidating(t, val)
	// caBundle wiped on mutate.
	mu, err := env.Dynamic.Resource(mutatingGVR).Get(ctx, registration.ConfigName(p.Name, webhook.Mutate), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hooks, _, _ := unstructured.NestedSlice(mu.Object, "webhooks")
	unstructured.RemoveNestedField(hooks[0].(map[string]any), "clientConfig", "caBundle")
	_ = unstructured.SetNestedSlice(mu.Object, hooks, "webhooks")
	if _, err := env.Dynamic.Resource(mutatingGVR).Update(ctx, mu, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The managed-by label removed from strict mode, a foreign label added.
	sm, _ := getValidating(t, registration.ConfigName(p.Name, webhook.StrictMode))
	l := sm.GetLabels()
	delete(l, policy.ManagedByLabel)
	l["team"] = "platform"
	sm.SetLabels(l)
	if _, err := env.Dynamic.Resource(validatingGVR).Update(ctx, sm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// namespace protection deleted outright.
	if err := env.Dynamic.Resource(validatingGVR).Delete(ctx, registration.ConfigName(p.Name, webhook.NamespaceProtection), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	if res := apply(t, p, endpoint(), ca); res != (registration.Result{Created: 1, Updated: 4}) {
		t.Fatalf("Apply after edits: %+v", res)
	}
	if res := apply(t, p, endpoint(), ca); res != (registration.Result{Unchanged: 5}) {
		t.Fatalf("Apply after restoring: %+v", res)
	}
	_, dp = getValidating(t, registration.ConfigName(p.Name, webhook.DeletionProtection))
	if *dp.Webhooks[0].FailurePolicy != admissionregistrationv1.Fail {
		t.Errorf("failurePolicy not restored")
	}
	if _, val = getValidating(t, registration.ConfigName(p.Name, webhook.Validate)); len(val.Webhooks) != 3 { // two entries and the probe
		t.Errorf("validate has %d webhooks after restore", len(val.Webhooks))
	}
	mu, _ = env.Dynamic.Resource(mutatingGVR).Get(ctx, registration.ConfigName(p.Name, webhook.Mutate), metav1.GetOptions{})
	var mc admissionregistrationv1.MutatingWebhookConfiguration
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(mu.Object, &mc); err != nil {
		t.Fatal(err)
	}
	if string(mc.Webhooks[0].ClientConfig.CABundle) != string(ca) {
		t.Errorf("caBundle not restored")
	}
	sm, _ = getValidating(t, registration.ConfigName(p.Name, webhook.StrictMode))
	if l := sm.GetLabels(); l[policy.ManagedByLabel] != policy.ManagedByValue || l["team"] != "platform" {
		t.Errorf("labels after restore: %v", l)
	}

	// A rotated CA is an update of every configuration, then nothing.
	ca2 := append(caPEM(t), ca...)
	if res := apply(t, p, endpoint(), ca2); res != (registration.Result{Updated: 5}) {
		t.Fatalf("Apply with a new caBundle: %+v", res)
	}
	if res := apply(t, p, endpoint(), ca2); res != (registration.Result{Unchanged: 5}) {
		t.Fatalf("re-Apply with the new caBundle: %+v", res)
	}
}

func TestDisablingDeletesAndRemove(t *testing.T) {
	ca := caPEM(t)
	p := fullPolicy("disable")
	removeAll(t, p.Name)
	apply(t, p, endpoint(), ca)

	p.DeletionProtection.StrictMode = false
	p.Admission.Enabled = false
	if res := apply(t, p, endpoint(), ca); res != (registration.Result{Unchanged: 2, Deleted: 3}) {
		t.Fatalf("Apply with strict mode and admission off: %+v", res)
	}
	rv := versions(t, p.Name)
	for f, want := range map[webhook.Feature]bool{
		webhook.DeletionProtection: true, webhook.StrictMode: false, webhook.NamespaceProtection: true,
		webhook.Validate: false, webhook.Mutate: false,
	} {
		if exists := rv[f] != ""; exists != want {
			t.Errorf("%s exists = %v, want %v", f, exists, want)
		}
	}

	if err := registration.RemoveFeatures(context.Background(), env.Dynamic, p.Name, []webhook.Feature{webhook.NamespaceProtection}); err != nil {
		t.Fatal(err)
	}
	if rv := versions(t, p.Name); rv[webhook.NamespaceProtection] != "" || rv[webhook.DeletionProtection] == "" {
		t.Fatalf("after RemoveFeatures(namespace-protection): %v", rv)
	}
	if err := registration.Remove(context.Background(), env.Dynamic, p.Name); err != nil {
		t.Fatal(err)
	}
	for f, rv := range versions(t, p.Name) {
		if rv != "" {
			t.Errorf("%s survived Remove", f)
		}
	}
}

// Every replica applies at start-up at the same time.
func TestConcurrentApply(t *testing.T) {
	ca := caPEM(t)
	p := fullPolicy("concurrent")
	removeAll(t, p.Name)
	var wg sync.WaitGroup
	results := make([]registration.Result, 4)
	errs := make([]error, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, m := registration.Desired(p, endpoint(), ca)
			results[i], errs[i] = registration.Apply(context.Background(), env.Dynamic, p.Name, v, m)
		}()
	}
	wg.Wait()
	created := 0
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		created += results[i].Created
		if results[i].Updated != 0 || results[i].Deleted != 0 {
			t.Errorf("replica %d: %+v", i, results[i])
		}
	}
	if created != 5 {
		t.Errorf("created %d configurations in all, want 5", created)
	}
	if res := apply(t, p, endpoint(), ca); res != (registration.Result{Unchanged: 5}) {
		t.Fatalf("Apply after the race: %+v", res)
	}
}

// --- scoping, observed through a gateway that does not exist ---

func createNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := env.Clientset.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func createConfigMap(t *testing.T, ns, name string, protected bool) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if protected {
		cm.Labels = map[string]string{policy.ProtectionLabel: "true"}
	}
	if _, err := env.Clientset.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createCRD(t *testing.T, group, plural, kind string) {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: plural, Kind: kind, ListKind: kind + "List", Singular: strings.ToLower(kind)},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true),
				}},
			}},
		},
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Dynamic.Resource(crdGVR).Create(context.Background(), &unstructured.Unstructured{Object: m}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// Wait until it is served.
	gvr := schema.GroupVersionResource{Group: group, Version: "v1", Resource: plural}
	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := env.Dynamic.Resource(gvr).Namespace("default").List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("CRD %s.%s never served: %v", plural, group, err)
	}
}

var dryRun = []string{metav1.DryRunAll}

// reaches reports whether a dry-run request reached a webhook of the Katalog
// (which, with no gateway behind it, fails the request).
func reaches(t *testing.T, katalog string, do func(ctx context.Context) error) bool {
	t.Helper()
	err := do(context.Background())
	if err == nil {
		return false
	}
	if strings.Contains(err.Error(), "."+katalog+".orkestra.io") {
		return true
	}
	t.Fatalf("unexpected error: %v", err)
	return false
}

// eventually waits for a webhook to take effect: the API server learns about
// new configurations asynchronously.
func eventually(t *testing.T, what string, katalog string, do func(ctx context.Context) error) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		return reaches(t, katalog, do), nil
	})
	if err != nil {
		t.Fatalf("%s never reached the webhook", what)
	}
}

func deleteCM(ns, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		return env.Dynamic.Resource(cmGVR).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{DryRun: dryRun})
	}
}

func relabelCM(ns, name string, labels map[string]string) func(context.Context) error {
	return relabel(cmGVR, ns, name, labels)
}

func relabel(gvr schema.GroupVersionResource, ns, name string, labels map[string]string) func(context.Context) error {
	return func(ctx context.Context) error {
		u, err := env.Dynamic.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		u.SetLabels(labels)
		u.SetAnnotations(map[string]string{"touched": time.Now().String()})
		_, err = env.Dynamic.Resource(gvr).Namespace(ns).Update(ctx, u, metav1.UpdateOptions{DryRun: dryRun})
		return err
	}
}

var secretGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// createSecret creates a Secret labelled for protection.
func createSecret(t *testing.T, ns, name string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{policy.ProtectionLabel: "true"}}, Data: map[string][]byte{"k": []byte("v")}}
	if _, err := env.Clientset.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func deleteNamed(gvr schema.GroupVersionResource, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		return env.Dynamic.Resource(gvr).Delete(ctx, name, metav1.DeleteOptions{DryRun: dryRun})
	}
}

func deleteCR(resource, ns, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		return env.Dynamic.Resource(schema.GroupVersionResource{Group: "scope.example.com", Version: "v1", Resource: resource}).
			Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{DryRun: dryRun})
	}
}

func createWidget(ns string) func(context.Context) error {
	return func(ctx context.Context) error {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("scope.example.com/v1")
		u.SetKind("Widget")
		u.SetGenerateName("w-")
		_, err := env.Dynamic.Resource(schema.GroupVersionResource{Group: "scope.example.com", Version: "v1", Resource: "widgets"}).
			Namespace(ns).Create(ctx, u, metav1.CreateOptions{DryRun: dryRun})
		return err
	}
}

func TestScoping(t *testing.T) {
	const gwNS = "scope-gateway"
	for _, ns := range []string{gwNS, "scope-apps", "locked-a", "vault", "free"} {
		createNamespace(t, ns)
	}
	createConfigMap(t, "scope-apps", "protected", true)
	createConfigMap(t, "scope-apps", "plain", false)
	createConfigMap(t, gwNS, "protected", true)
	createConfigMap(t, "kube-system", "scope-protected", true)
	createSecret(t, gwNS, "scope-tls")
	createSecret(t, gwNS, "other-secret")
	createCRD(t, "scope.example.com", "widgets", "Widget")
	createCRD(t, "scope.example.com", "gadgets", "Gadget")

	// Labelled CRs, created before the webhooks exist.
	for _, r := range []string{"widgets", "gadgets"} {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("scope.example.com/v1")
		u.SetKind(map[string]string{"widgets": "Widget", "gadgets": "Gadget"}[r])
		u.SetName("labelled")
		u.SetLabels(map[string]string{policy.ProtectionLabel: "true"})
		if _, err := env.Dynamic.Resource(schema.GroupVersionResource{Group: "scope.example.com", Version: "v1", Resource: r}).
			Namespace("scope-apps").Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	p := &policy.Policy{
		Name:  "scope",
		Certs: policy.Certs{SecretName: "scope-tls"},
		DeletionProtection: policy.DeletionProtection{
			Endpoint: policy.Endpoint{Enabled: true, FailurePolicy: policy.Fail}, StrictMode: true,
		},
		NamespaceProtection: policy.NamespaceProtection{
			Endpoint:   policy.Endpoint{Enabled: true, FailurePolicy: policy.Fail},
			Namespaces: policy.Namespaces{Restricted: policy.Globs{"locked-*", "vault"}},
		},
		CRDs: []*policy.CRD{
			{Name: "widget", Group: "scope.example.com", Version: "v1", Versions: []string{"v1"}, Kind: "Widget", Plural: "widgets", Namespaced: true, ProtectCRD: true, ProtectCRs: true},
			{Name: "gadget", Group: "scope.example.com", Version: "v1", Versions: []string{"v1"}, Kind: "Gadget", Plural: "gadgets", Namespaced: true},
		},
	}
	removeAll(t, p.Name)
	ep := registration.Endpoint{Namespace: gwNS, Service: "orkestra-gateway"}
	apply(t, p, ep, caPEM(t))

	// Each webhook in effect: the requests it exists for reach it.
	eventually(t, "DELETE of a labelled ConfigMap", p.Name, deleteCM("scope-apps", "protected"))
	eventually(t, "UPDATE dropping the protection label", p.Name, relabelCM("scope-apps", "protected", nil))
	eventually(t, "DELETE of a restricted namespace (glob)", p.Name, deleteNamed(nsGVR, "locked-a"))
	eventually(t, "DELETE of a protected CRD", p.Name, deleteNamed(crdGVR, "widgets.scope.example.com"))
	eventually(t, "CREATE of a Katalog CR", p.Name, createWidget("scope-apps"))

	for _, tc := range []struct {
		what string
		do   func(context.Context) error
		want bool
	}{
		{"DELETE of an unlabelled ConfigMap", deleteCM("scope-apps", "plain"), false},
		{"DELETE of a labelled ConfigMap in the gateway namespace", deleteCM(gwNS, "protected"), true},
		{"DELETE of a labelled ConfigMap in kube-system", deleteCM("kube-system", "scope-protected"), true},
		{"DeleteCollection of labelled ConfigMaps", func(ctx context.Context) error {
			return env.Dynamic.Resource(cmGVR).Namespace("scope-apps").DeleteCollection(ctx, metav1.DeleteOptions{DryRun: dryRun}, metav1.ListOptions{LabelSelector: policy.ProtectionLabel + "=true"})
		}, true},
		{"DeleteCollection of unlabelled ConfigMaps", func(ctx context.Context) error {
			return env.Dynamic.Resource(cmGVR).Namespace("scope-apps").DeleteCollection(ctx, metav1.DeleteOptions{DryRun: dryRun}, metav1.ListOptions{LabelSelector: "!" + policy.ProtectionLabel})
		}, false},
		{"UPDATE keeping the protection label", relabelCM("scope-apps", "protected", map[string]string{policy.ProtectionLabel: "true", "x": "y"}), false},
		{"UPDATE changing the label to false", relabelCM("scope-apps", "protected", map[string]string{policy.ProtectionLabel: "false"}), true},
		{"UPDATE adding the label", relabelCM("scope-apps", "plain", map[string]string{policy.ProtectionLabel: "true"}), false},
		{"UPDATE dropping the label in the gateway namespace", relabelCM(gwNS, "protected", nil), false},
		{"UPDATE dropping the label in kube-system", relabelCM("kube-system", "scope-protected", nil), false},
		{"UPDATE dropping the label of the gateway's TLS Secret", relabel(secretGVR, gwNS, "scope-tls", nil), true},
		{"UPDATE changing the label of the gateway's TLS Secret", relabel(secretGVR, gwNS, "scope-tls", map[string]string{policy.ProtectionLabel: "no"}), true},
		{"UPDATE keeping the label of the gateway's TLS Secret", relabel(secretGVR, gwNS, "scope-tls", map[string]string{policy.ProtectionLabel: "true", "x": "y"}), false},
		{"UPDATE dropping the label of another Secret of the gateway namespace", relabel(secretGVR, gwNS, "other-secret", nil), false},
		{"DELETE of a restricted namespace (exact)", deleteNamed(nsGVR, "vault"), true},
		{"DELETE of a free namespace", deleteNamed(nsGVR, "free"), false},
		{"DELETE of an unprotected CRD", deleteNamed(crdGVR, "gadgets.scope.example.com"), false},
		{"DELETE of a labelled CR with protectCRs", deleteCR("widgets", "scope-apps", "labelled"), true},
		{"DELETE of a labelled CR without protectCRs", deleteCR("gadgets", "scope-apps", "labelled"), false},
		{"CREATE of a Katalog CR in the gateway namespace", createWidget(gwNS), false},
		{"CREATE of a Katalog CR in a restricted namespace", createWidget("locked-a"), true},
	} {
		if got := reaches(t, p.Name, tc.do); got != tc.want {
			t.Errorf("%s: reaches the gateway = %v, want %v", tc.what, got, tc.want)
		}
	}

	// Remove lifts everything (asynchronously, as the API server learns).
	if err := registration.Remove(context.Background(), env.Dynamic, p.Name); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		return deleteCM("scope-apps", "protected")(ctx) == nil, nil
	})
	if err != nil {
		t.Fatal("deletion protection still in effect after Remove")
	}
}

func TestOtherReadyReplicas(t *testing.T) {
	ctx := context.Background()
	const ns = "replicas"
	createNamespace(t, ns)
	mk := func(name, service string, eps ...discoveryv1.Endpoint) {
		t.Helper()
		s := &discoveryv1.EndpointSlice{
			TypeMeta:    metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
			ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   eps,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](8443)}},
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Dynamic.Resource(sliceGVR).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: m}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ep := func(ip string, ready, terminating bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready, Terminating: &terminating}}
	}
	mk("solo-1", "solo", ep("10.1.0.1", false, true))
	mk("pair-1", "pair", ep("10.2.0.1", false, true), ep("10.2.0.2", true, false))
	mk("draining-1", "draining", ep("10.3.0.1", false, true), ep("10.3.0.2", false, true))
	mk("split-1", "split", ep("10.4.0.1", false, true))
	mk("split-2", "split", ep("10.4.0.2", true, false))

	for _, tc := range []struct {
		service, self string
		want          bool
	}{
		{"solo", "10.1.0.1", false},
		{"pair", "10.2.0.1", true},
		{"draining", "10.3.0.1", false},
		{"split", "10.4.0.1", true},
		{"none", "10.9.0.1", false},
	} {
		got, err := registration.OtherReadyReplicas(ctx, env.Dynamic, ns, tc.service, tc.self)
		if err != nil || got != tc.want {
			t.Errorf("%s: OtherReadyReplicas = %v, %v; want %v", tc.service, got, err, tc.want)
		}
	}
}

// annotations returns the CA injection annotation of every configuration
// of a Katalog that exists ("" when it has none).
func injections(t *testing.T, katalog string) map[webhook.Feature]string {
	t.Helper()
	out := map[webhook.Feature]string{}
	for _, f := range webhook.Features {
		gvr := validatingGVR
		if f.Mutating() {
			gvr = mutatingGVR
		}
		u, err := env.Dynamic.Resource(gvr).Get(context.Background(), registration.ConfigName(katalog, f), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[f] = u.GetAnnotations()[policy.CAInjectionAnnotation]
	}
	return out
}

// With certificates from cert-manager every configuration asks its CA
// injector for the caBundle (and Apply keeps the caBundle it wrote); a
// gateway that writes the caBundle itself removes the annotation, so the
// two never fight; with external files a user's annotation stays.
func TestCAInjectionAnnotation(t *testing.T) {
	p := fullPolicy("inject")
	p.Certs.Source = policy.CertsCertManager
	p.Certs.SecretName = "gw-tls"
	removeAll(t, p.Name)
	ep := endpoint()
	ep.CAInjectFrom = registration.CAInjection(p, ep.Namespace)
	if ep.CAInjectFrom != "orkestra-system/gw-tls" {
		t.Fatalf("CAInjection = %q", ep.CAInjectFrom)
	}
	if res := apply(t, p, ep, nil); res.Created == 0 {
		t.Fatalf("nothing created: %+v", res)
	}
	got := injections(t, p.Name)
	for f, a := range got {
		if a != ep.CAInjectFrom {
			t.Errorf("%s: annotation %q, want %q", f, a, ep.CAInjectFrom)
		}
	}
	// The injector writes the caBundle: Apply leaves it, and the annotation.
	_, c := getValidating(t, registration.ConfigName(p.Name, webhook.DeletionProtection))
	ca := caPEM(t)
	for i := range c.Webhooks {
		c.Webhooks[i].ClientConfig.CABundle = ca
	}
	updateValidating(t, c)
	before := versions(t, p.Name)
	if res := apply(t, p, ep, nil); res.Updated != 0 || !equalMaps(before, versions(t, p.Name)) {
		t.Errorf("Apply wrote again over the injected caBundle: %+v", res)
	}
	// The annotation removed by someone: restored.
	u, _ := getValidating(t, registration.ConfigName(p.Name, webhook.DeletionProtection))
	u.SetAnnotations(nil)
	if _, err := env.Dynamic.Resource(validatingGVR).Update(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if res := apply(t, p, ep, nil); res.Updated != 1 || injections(t, p.Name)[webhook.DeletionProtection] != ep.CAInjectFrom {
		t.Errorf("the annotation was not restored: %+v", res)
	}
	// External files (no caBundle, no injection asked): kept.
	ext := endpoint()
	if res := apply(t, p, ext, nil); res.Updated != 0 {
		t.Errorf("Apply with external files touched the configurations: %+v", res)
	}
	// The gateway's own certificates: the annotation goes.
	if res := apply(t, p, ext, caPEM(t)); res.Updated == 0 {
		t.Errorf("nothing updated: %+v", res)
	}
	for f, a := range injections(t, p.Name) {
		if a != "" {
			t.Errorf("%s still asks the CA injector (%q) although the gateway writes the caBundle", f, a)
		}
	}
}

// syncPolicy is fullPolicy plus a conversion entry whose CRD exists.
func syncPolicy(t *testing.T, name string) *policy.Policy {
	t.Helper()
	createCRD(t, "sync.example.com", "syncs", "Sync")
	p := fullPolicy(name)
	p.Conversion.Enabled = true
	p.CRDs = append(p.CRDs, &policy.CRD{
		Name: "sync", Group: "sync.example.com", Version: "v1", Versions: []string{"v1"}, Kind: "Sync", Plural: "syncs", Namespaced: true,
		Conversion: &policy.ConversionSpec{StorageVersion: "v1", Versions: []string{"v1"}, UpdateCRD: true},
	})
	return p
}

// Sync is the tick's registration step: configurations and conversion CRDs
// in one call, nothing written when nothing differs, and the caBundle of
// every webhook and conversion CRD reported as the API server holds it.
func TestSync(t *testing.T) {
	ctx := context.Background()
	p := syncPolicy(t, "sync-test")
	removeAll(t, p.Name)
	ca := caPEM(t)
	res, err := registration.Sync(ctx, env.Dynamic, p, endpoint(), ca, registration.Support{Validating: true, Mutating: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Result != (registration.Result{Created: 5}) || len(res.CRDs) != 1 || res.CRDs[0] != "syncs.sync.example.com" || !res.Changed() {
		t.Fatalf("first Sync: %+v, CRDs %v", res.Result, res.CRDs)
	}
	webhooks := 0
	v, m := registration.Desired(p, endpoint(), ca)
	for _, c := range v {
		webhooks += len(c.Webhooks)
	}
	for _, c := range m {
		webhooks += len(c.Webhooks)
	}
	checkBundles := func(what string, res registration.Synced, want []byte) {
		t.Helper()
		if len(res.Bundles) != webhooks+1 {
			t.Fatalf("%s: %d caBundles for %d webhooks and 1 CRD", what, len(res.Bundles), webhooks)
		}
		for _, b := range res.Bundles {
			if string(b.PEM) != string(want) {
				t.Errorf("%s: %s holds %d bytes, not the caBundle", what, b.Source, len(b.PEM))
			}
		}
		if last := res.Bundles[len(res.Bundles)-1].Source; last != "CustomResourceDefinition syncs.sync.example.com (conversion)" {
			t.Errorf("%s: last source %q", what, last)
		}
	}
	checkBundles("created", res, ca)

	res, err = registration.Sync(ctx, env.Dynamic, p, endpoint(), ca, registration.Support{Validating: true, Mutating: true}, nil)
	if err != nil || res.Changed() {
		t.Fatalf("second Sync wrote: %+v, CRDs %v, %v", res.Result, res.CRDs, err)
	}
	checkBundles("unchanged", res, ca)

	// External certificates: no caBundle given, the live ones are kept and
	// reported.
	res, err = registration.Sync(ctx, env.Dynamic, p, endpoint(), nil, registration.Support{Validating: true, Mutating: true}, nil)
	if err != nil || res.Changed() {
		t.Fatalf("Sync without a caBundle wrote: %+v, CRDs %v, %v", res.Result, res.CRDs, err)
	}
	checkBundles("external", res, ca)

	// A CRD that does not exist: the step is named, the configurations stand.
	p.CRDs[len(p.CRDs)-1].Plural = "missings"
	if _, err := registration.Sync(ctx, env.Dynamic, p, endpoint(), ca, registration.Support{Validating: true, Mutating: true}, nil); err == nil || !strings.Contains(err.Error(), "conversion settings: CRD missings.sync.example.com does not exist") {
		t.Errorf("missing CRD: %v", err)
	}
}
