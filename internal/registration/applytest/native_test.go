package applytest

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// nativeKatalog enables every feature, with rules using every kind of
// field path, operator, condition, message template and mutation.
const nativeKatalog = `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: NAME
gateway:
  namespace: orkestra-system
security:
  deletionProtection:
    strictMode: true
    breakGlass: {groups: [platform:break-glass], users: [alice]}
  namespaceProtection:
    restrictedNamespaces: [kube-public, "locked-*"]
  webhooks:
    admission:
      engine: native
spec:
  crds:
    website:
      apiTypes: {group: web.example.com, version: v2, kind: Website, plural: websites}
      allowedNamespaces: ["web-*"]
      deletionProtection: {protectCRD: true}
      validation:
        rules:
          - {field: spec.replicas, between: "1,10", message: "replicas {{ .spec.replicas }} must be between 1 and 10"}
          - {field: spec.image, regex: "^registry\\.example\\.com/", action: warn, message: images should come from the internal registry}
          - {field: 'metadata.labels["app.kubernetes.io/name"]', exists: true, message: name it, when: [{field: spec.tier, equals: gold}]}
          - {field: 'spec.containers[0].image', notSuffix: ":latest", message: "no latest, {{ .metadata.name | upper }}", or: [{field: spec.a, notExists: true}, {field: spec.b, in: [1, x]}]}
      mutation:
        rules:
          - {field: spec.tier, default: bronze}
          - {field: 'metadata.annotations["app.kubernetes.io/managed-by"]', override: orkestra}
    zone:
      apiTypes: {group: dns.example.com, version: v1, kind: Zone, plural: zones}
      namespaced: false
      webhooks: {operations: [CREATE, UPDATE, DELETE]}
      validation:
        rules:
          - {field: spec.ttl, typeNumber: true, message: ttl is a number}
          - {field: 'spec.records[*].ttl', between: "60,86400", message: "ttl {{ .spec.minTTL }} or more"}
          - {field: spec.ttl, gte: "{{ .spec.minTTL }}", message: ttl below minTTL, when: [{field: request.userInfo.groups, notContains: dns:admins}]}
          - {name: soa, field: spec.soa, exists: true, action: audit, message: zones should name their SOA}
`

func nativePolicy(t *testing.T, name string, engine policy.Engine) *policy.Policy {
	t.Helper()
	text := strings.NewReplacer("NAME", name, "engine: native", "engine: "+string(engine)).Replace(nativeKatalog)
	f, errs := katalog.Parse("katalog.yaml", []byte(text))
	res := check.Run(f, errs)
	if res.Policy == nil {
		for _, f := range res.Findings {
			t.Log(f.String())
		}
		t.Fatal("the Katalog has errors")
	}
	return res.Policy
}

var all = registration.Support{Validating: true, Mutating: true}

// The API server accepts every policy and binding the native engine
// writes (it compiles and type-checks each expression at creation), and
// re-applying them writes nothing.
func TestNativeServerAcceptsAndApplyIsIdempotent(t *testing.T) {
	p := nativePolicy(t, "native-accept", policy.EngineNative)
	removeAll(t, p.Name)
	pl, err := registration.NewPlan(p, endpoint(), caPEM(t), all)
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.Validating)+len(pl.Mutating) != 0 {
		t.Fatalf("engine native registers webhook configurations: %d %d", len(pl.Validating), len(pl.Mutating))
	}
	if n := len(pl.Native); n != len(registration.NativeParts) {
		t.Fatalf("%d native policies, want every part (%d)", n, len(registration.NativeParts))
	}
	ctx := context.Background()
	res, _, err := pl.Apply(ctx, env.Dynamic, nil, p.Name)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if want := (registration.Result{Created: 2 * len(pl.Native)}); res != want {
		t.Fatalf("first Apply: %+v, want %+v", res, want)
	}
	for range 2 {
		res, _, err = pl.Apply(ctx, env.Dynamic, nil, p.Name)
		if err != nil {
			t.Fatal(err)
		}
		if want := (registration.Result{Unchanged: 2 * len(pl.Native)}); res != want {
			t.Fatalf("re-Apply: %+v, want %+v (the server's defaults must not count as a difference)", res, want)
		}
	}

	// Edited or deleted: restored.
	name := registration.NativeParts[0].Name(p.Name)
	if err := env.Dynamic.Resource(vapbGVR).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	u, err := env.Dynamic.Resource(vapGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u.Object["spec"].(map[string]any)["failurePolicy"] = "Ignore"
	if _, err := env.Dynamic.Resource(vapGVR).Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, _, err = pl.Apply(ctx, env.Dynamic, nil, p.Name)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 1 || res.Updated != 1 {
		t.Fatalf("Apply after a deleted binding and an edited policy: %+v", res)
	}
}

var (
	vapGVR  = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"}
	vapbGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"}
)

// ensureProbeSecret creates the TLS Secret probes update (labelled
// protected, as the gateway's is).
func ensureProbeSecret(t *testing.T, p *policy.Policy) {
	t.Helper()
	createNamespace(t, "orkestra-system")
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: p.Certs.SecretName, Namespace: "orkestra-system",
		Labels: map[string]string{policy.ProtectionLabel: "true"}}}
	if _, err := env.Clientset.CoreV1().Secrets("orkestra-system").Create(context.Background(), s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// Every object of both engines answers its probe once the API server has
// loaded it, and nothing answers a probe of an object that does not exist.
func TestProbes(t *testing.T) {
	p := nativePolicy(t, "probes", policy.EngineNative)
	ensureProbeSecret(t, p)
	removeAll(t, p.Name)
	ctx := context.Background()
	prober, err := registration.NewSecretProber(env.Config, env.HTTPClient(), "orkestra-system", p.Certs.SecretName)
	if err != nil {
		t.Fatal(err)
	}
	native, err := registration.NewPlan(p, endpoint(), caPEM(t), all)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := native.Apply(ctx, env.Dynamic, nil, p.Name); err != nil {
		t.Fatal(err)
	}
	wait := func(pl registration.Plan, f webhook.Feature) {
		t.Helper()
		for _, pr := range pl.Probes(p.Name, f) {
			start := time.Now()
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			ok := prober.Wait(wctx, pr)
			cancel()
			if !ok {
				t.Errorf("%s (%s): no answer to the probe", pr.Target, f)
				continue
			}
			t.Logf("%s in force after %s", pr.Target, time.Since(start).Round(time.Millisecond))
		}
	}
	for _, f := range webhook.Features {
		if len(native.Probes(p.Name, f)) == 0 {
			t.Errorf("feature %s has nothing to probe", f)
		}
		wait(native, f)
	}
	// The webhook engine's configurations (no gateway runs here: the API
	// server failing to call the probe webhook also proves it loaded).
	webhooks, err := registration.NewPlan(nativePolicy(t, "probes", policy.EngineWebhook), endpoint(), caPEM(t), all)
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := webhooks.Apply(ctx, env.Dynamic, prober, p.Name)
	if err != nil {
		t.Fatal(err)
	}
	// The switch completed: every policy and binding is gone.
	if want := len(webhook.Features); res.Created != want || res.Deleted != 2*len(native.Native) || res.Pending != 0 {
		t.Errorf("switch to webhooks: %+v, want %d created and %d deleted", res, want, 2*len(native.Native))
	}
	for _, f := range webhook.Features {
		wait(webhooks, f)
	}
	// Nothing answers for an object that is not registered.
	if ok, err := prober.Once(ctx, registration.Probe{Target: policy.ProbeTarget(policy.EngineNative, "orkestra-gateway-absent-validate")}); ok || err != nil {
		t.Errorf("probe of an absent policy: answered %v, %v", ok, err)
	}
	if ok, err := prober.Once(ctx, registration.Probe{Target: policy.ProbeTarget(policy.EngineNative, "orkestra-gateway-absent-mutate"), Answer: registration.ProbeMutate}); ok || err != nil {
		t.Errorf("mutating probe of an absent policy: answered %v, %v", ok, err)
	}
}

// The API server this suite runs (v1.37) serves both policy kinds.
func TestDiscover(t *testing.T) {
	c, err := rest.UnversionedRESTClientFor(dynamic.ConfigFor(env.Config))
	if err != nil {
		t.Fatal(err)
	}
	s, err := registration.Discover(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Validating || !s.Mutating {
		t.Errorf("discovery: %+v, want both kinds", s)
	}
}
