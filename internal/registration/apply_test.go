package registration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// These tests use client-go's fake dynamic client, which does not default
// fields like the API server: the no-write-when-equal behaviour against real
// defaulting is tested in package apitest.

func fakeClient(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		validatingGVR:    "ValidatingWebhookConfigurationList",
		mutatingGVR:      "MutatingWebhookConfigurationList",
		endpointSliceGVR: "EndpointSliceList",
	}, objs...)
}

// writes counts the create, update and delete actions the client saw.
func writes(c *dynamicfake.FakeDynamicClient) map[string]int {
	n := map[string]int{}
	for _, a := range c.Actions() {
		switch a.GetVerb() {
		case "create", "update", "delete", "patch":
			n[a.GetVerb()]++
		}
	}
	return n
}

func TestApplyCreatesThenWritesNothing(t *testing.T) {
	ctx := context.Background()
	c := fakeClient()
	p := fullPolicy()
	v, m := Desired(p, serviceEndpoint(), testCA)
	res, err := Apply(ctx, c, p.Name, v, m)
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Created: 5}) || !res.Changed() {
		t.Fatalf("first Apply: %+v", res)
	}
	c.ClearActions()
	res, err = Apply(ctx, c, p.Name, v, m)
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Unchanged: 5}) || res.Changed() {
		t.Fatalf("second Apply: %+v", res)
	}
	if w := writes(c); len(w) != 0 {
		t.Fatalf("second Apply wrote: %v", w)
	}
}

func TestApplyRestoresAndKeepsForeignLabels(t *testing.T) {
	ctx := context.Background()
	c := fakeClient()
	p := fullPolicy()
	v, m := Desired(p, serviceEndpoint(), testCA)
	if _, err := Apply(ctx, c, p.Name, v, m); err != nil {
		t.Fatal(err)
	}
	name := ConfigName(p.Name, webhook.DeletionProtection)
	ri := c.Resource(validatingGVR)
	live, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hooks, _, _ := unstructured.NestedSlice(live.Object, "webhooks")
	hooks[0].(map[string]any)["failurePolicy"] = "Ignore"
	_ = unstructured.SetNestedSlice(live.Object, hooks[:1], "webhooks") // and drop the CRD webhook
	l := live.GetLabels()
	delete(l, KatalogLabel)
	l["team"] = "platform"
	live.SetLabels(l)
	if _, err := ri.Update(ctx, live, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := Apply(ctx, c, p.Name, v, m)
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Updated: 1, Unchanged: 4}) {
		t.Fatalf("Apply after an edit: %+v", res)
	}
	got, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cfg admissionregistrationv1.ValidatingWebhookConfiguration
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(got.Object, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 3 || *cfg.Webhooks[0].FailurePolicy != admissionregistrationv1.Fail { // two and the probe
		t.Errorf("not restored: %+v", cfg.Webhooks)
	}
	if cfg.Labels[KatalogLabel] != p.Name || cfg.Labels["team"] != "platform" {
		t.Errorf("labels = %v, want the gateway's restored and foreign ones kept", cfg.Labels)
	}
}

func TestApplyDeletesDisabledFeatures(t *testing.T) {
	ctx := context.Background()
	c := fakeClient()
	p := fullPolicy()
	v, m := Desired(p, serviceEndpoint(), testCA)
	if _, err := Apply(ctx, c, p.Name, v, m); err != nil {
		t.Fatal(err)
	}
	// Another Katalog's configuration and an unlabelled object squatting a
	// name of ours are never deleted.
	other := fullPolicy()
	other.Name = "other"
	ov, om := Desired(other, serviceEndpoint(), testCA)
	if _, err := Apply(ctx, c, other.Name, ov, om); err != nil {
		t.Fatal(err)
	}

	p.Admission.Enabled = false
	p.DeletionProtection.StrictMode = false
	v, m = Desired(p, serviceEndpoint(), testCA)
	res, err := Apply(ctx, c, p.Name, v, m)
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Unchanged: 2, Deleted: 3}) {
		t.Fatalf("Apply with three features disabled: %+v", res)
	}
	for _, f := range []webhook.Feature{webhook.StrictMode, webhook.Validate, webhook.Mutate} {
		if _, err := c.Resource(gvrOf(f)).Get(ctx, ConfigName(p.Name, f), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s still exists: %v", f, err)
		}
	}
	for _, f := range webhook.Features {
		if _, err := c.Resource(gvrOf(f)).Get(ctx, ConfigName(other.Name, f), metav1.GetOptions{}); err != nil {
			t.Errorf("the other Katalog's %s: %v", f, err)
		}
	}
}

func TestRemoveOnlyOwned(t *testing.T) {
	ctx := context.Background()
	squatter := &unstructured.Unstructured{}
	squatter.SetAPIVersion("admissionregistration.k8s.io/v1")
	squatter.SetKind("ValidatingWebhookConfiguration")
	squatter.SetName(ConfigName("platform-guard", webhook.StrictMode))
	squatter.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "someone-else"})
	c := fakeClient(squatter)
	p := fullPolicy()
	p.DeletionProtection.StrictMode = false
	v, m := Desired(p, serviceEndpoint(), testCA)
	if _, err := Apply(ctx, c, p.Name, v, m); err != nil {
		t.Fatal(err)
	}
	if err := RemoveFeatures(ctx, c, p.Name, []webhook.Feature{webhook.Validate, webhook.Mutate}); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[webhook.Feature]bool{webhook.DeletionProtection: true, webhook.NamespaceProtection: true, webhook.Validate: false, webhook.Mutate: false} {
		_, err := c.Resource(gvrOf(f)).Get(ctx, ConfigName(p.Name, f), metav1.GetOptions{})
		if exists := err == nil; exists != want {
			t.Errorf("after RemoveFeatures(validate, mutate): %s exists = %v", f, exists)
		}
	}
	if err := RemoveFeatures(ctx, c, p.Name, nil); err != nil {
		t.Fatal(err)
	}
	if err := Remove(ctx, c, p.Name); err != nil {
		t.Fatal(err)
	}
	for _, f := range []webhook.Feature{webhook.DeletionProtection, webhook.NamespaceProtection} {
		if _, err := c.Resource(gvrOf(f)).Get(ctx, ConfigName(p.Name, f), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("after Remove: %s: %v", f, err)
		}
	}
	if _, err := c.Resource(validatingGVR).Get(ctx, squatter.GetName(), metav1.GetOptions{}); err != nil {
		t.Errorf("Remove deleted an object it does not own: %v", err)
	}
}

// Another replica writes between our read and our update: Apply re-reads and
// tries again.
func TestApplyRetriesConflicts(t *testing.T) {
	ctx := context.Background()
	c := fakeClient()
	p := fullPolicy()
	p.DeletionProtection.Enabled, p.NamespaceProtection.Enabled, p.Admission.Enabled = true, false, false
	p.DeletionProtection.StrictMode = false
	v, m := Desired(p, serviceEndpoint(), testCA)
	if _, err := Apply(ctx, c, p.Name, v, m); err != nil {
		t.Fatal(err)
	}
	conflicts := 2
	c.PrependReactor("update", "validatingwebhookconfigurations", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations"}, ConfigName(p.Name, webhook.DeletionProtection), nil)
		}
		return false, nil, nil
	})
	p.DeletionProtection.FailurePolicy = "Ignore"
	v, m = Desired(p, serviceEndpoint(), testCA)
	res, err := Apply(ctx, c, p.Name, v, m)
	if err != nil || res != (Result{Updated: 1}) {
		t.Fatalf("Apply = %+v, %v", res, err)
	}
	if conflicts != 0 {
		t.Fatalf("%d conflicts left", conflicts)
	}

	// A writer that always wins: Apply gives up with a precise error.
	c.PrependReactor("update", "validatingwebhookconfigurations", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "validatingwebhookconfigurations"}, "x", nil)
	})
	p.DeletionProtection.FailurePolicy = "Fail"
	v, m = Desired(p, serviceEndpoint(), testCA)
	if _, err := Apply(ctx, c, p.Name, v, m); err == nil || !strings.Contains(err.Error(), "gave up after 5 attempts") {
		t.Fatalf("err = %v", err)
	}
}

// A create that loses the race to another replica compares with the winner's
// object instead of failing.
func TestApplyAlreadyExists(t *testing.T) {
	ctx := context.Background()
	c := fakeClient()
	p := fullPolicy()
	v, m := Desired(p, serviceEndpoint(), testCA)
	raced := false
	c.PrependReactor("create", "validatingwebhookconfigurations", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if raced {
			return false, nil, nil
		}
		raced = true
		// The other replica's object lands, then our create fails.
		obj := a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured)
		if err := c.Tracker().Create(validatingGVR, obj.DeepCopy(), ""); err != nil {
			t.Fatal(err)
		}
		return true, nil, apierrors.NewAlreadyExists(schema.GroupResource{Resource: "validatingwebhookconfigurations"}, obj.GetName())
	})
	res, err := Apply(ctx, c, p.Name, v, m)
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Created: 4, Unchanged: 1}) {
		t.Fatalf("Apply = %+v", res)
	}
}

func TestApplyKeepsUserOwnedCABundle(t *testing.T) {
	ctx := context.Background()
	c := fakeClient()
	p := fullPolicy()
	v, m := Desired(p, serviceEndpoint(), testCA)
	if _, err := Apply(ctx, c, p.Name, v, m); err != nil {
		t.Fatal(err)
	}
	// External certificates: Desired has no caBundle; the live one stays.
	v, m = Desired(p, serviceEndpoint(), nil)
	c.ClearActions()
	res, err := Apply(ctx, c, p.Name, v, m)
	if err != nil || res != (Result{Unchanged: 5}) || len(writes(c)) != 0 {
		t.Fatalf("Apply without caBundle = %+v, %v, writes %v", res, err, writes(c))
	}
	// An edit elsewhere is restored, and the caBundle kept.
	ri := c.Resource(mutatingGVR)
	live, _ := ri.Get(ctx, ConfigName(p.Name, webhook.Mutate), metav1.GetOptions{})
	hooks, _, _ := unstructured.NestedSlice(live.Object, "webhooks")
	hooks[0].(map[string]any)["timeoutSeconds"] = int64(29)
	_ = unstructured.SetNestedSlice(live.Object, hooks, "webhooks")
	if _, err := ri.Update(ctx, live, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, err := Apply(ctx, c, p.Name, v, m); err != nil || res.Updated != 1 {
		t.Fatalf("Apply = %+v, %v", res, err)
	}
	live, _ = ri.Get(ctx, ConfigName(p.Name, webhook.Mutate), metav1.GetOptions{})
	var cfg admissionregistrationv1.MutatingWebhookConfiguration
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &cfg); err != nil {
		t.Fatal(err)
	}
	if w := cfg.Webhooks[0]; string(w.ClientConfig.CABundle) != string(testCA) || *w.TimeoutSeconds != 5 {
		t.Errorf("caBundle %q timeout %d", w.ClientConfig.CABundle, *w.TimeoutSeconds)
	}
}

func TestApplyRejectsForeignConfigurations(t *testing.T) {
	ctx := context.Background()
	p := fullPolicy()
	v, m := Desired(p, serviceEndpoint(), testCA)
	for _, tc := range []struct {
		name string
		edit func(v []admissionregistrationv1.ValidatingWebhookConfiguration, m []admissionregistrationv1.MutatingWebhookConfiguration) (string, []admissionregistrationv1.ValidatingWebhookConfiguration, []admissionregistrationv1.MutatingWebhookConfiguration)
		want string
	}{
		{"bad katalog name", func(v []admissionregistrationv1.ValidatingWebhookConfiguration, m []admissionregistrationv1.MutatingWebhookConfiguration) (string, []admissionregistrationv1.ValidatingWebhookConfiguration, []admissionregistrationv1.MutatingWebhookConfiguration) {
			return "Bad_Name", v, m
		}, `katalog name "Bad_Name"`},
		{"other katalog", func(v []admissionregistrationv1.ValidatingWebhookConfiguration, m []admissionregistrationv1.MutatingWebhookConfiguration) (string, []admissionregistrationv1.ValidatingWebhookConfiguration, []admissionregistrationv1.MutatingWebhookConfiguration) {
			return "other", v, m
		}, "not a configuration name of Katalog \"other\""},
		{"duplicate", func(v []admissionregistrationv1.ValidatingWebhookConfiguration, m []admissionregistrationv1.MutatingWebhookConfiguration) (string, []admissionregistrationv1.ValidatingWebhookConfiguration, []admissionregistrationv1.MutatingWebhookConfiguration) {
			return p.Name, append(v, v[0]), m
		}, "desired twice"},
		{"missing label", func(v []admissionregistrationv1.ValidatingWebhookConfiguration, m []admissionregistrationv1.MutatingWebhookConfiguration) (string, []admissionregistrationv1.ValidatingWebhookConfiguration, []admissionregistrationv1.MutatingWebhookConfiguration) {
			c := v[0].DeepCopy()
			delete(c.Labels, KatalogLabel)
			return p.Name, []admissionregistrationv1.ValidatingWebhookConfiguration{*c}, m
		}, "label orkestra.orkspace.io/katalog"},
		{"wrong kind", func(v []admissionregistrationv1.ValidatingWebhookConfiguration, m []admissionregistrationv1.MutatingWebhookConfiguration) (string, []admissionregistrationv1.ValidatingWebhookConfiguration, []admissionregistrationv1.MutatingWebhookConfiguration) {
			c := admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: m[0].ObjectMeta}
			return p.Name, []admissionregistrationv1.ValidatingWebhookConfiguration{c}, nil
		}, "registers a MutatingWebhookConfiguration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClient()
			k, vv, mm := tc.edit(v, m)
			_, err := Apply(ctx, c, k, vv, mm)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if w := writes(c); len(w) != 0 {
				t.Fatalf("a rejected Apply wrote %v", w)
			}
		})
	}
	if err := Remove(ctx, fakeClient(), "../x"); err == nil {
		t.Error("Remove accepts an invalid Katalog name")
	}
	if _, err := Apply(ctx, nil, p.Name, v, m); err == nil || !strings.Contains(err.Error(), "no API client") {
		t.Errorf("Apply without a client: err = %v", err)
	}
	if _, err := OtherReadyReplicas(ctx, nil, "ns", "svc", "10.0.0.1"); err == nil {
		t.Error("OtherReadyReplicas without a client: no error")
	}
}

// FuzzLiveConfiguration feeds arbitrary JSON as the live object to the
// comparison: it must never panic, and the desired object itself (as JSON)
// must compare equal.
func FuzzLiveConfiguration(f *testing.F) {
	p := fullPolicy()
	v, m := Desired(p, serviceEndpoint(), testCA)
	objs, err := objects(p.Name, v, m)
	if err != nil {
		f.Fatal(err)
	}
	for _, o := range objs {
		b, err := json.Marshal(o.want.Object)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(0), b)
	}
	f.Add(uint8(1), []byte(`{"webhooks":[{"name":"x","clientConfig":{"caBundle":"!!"}}]}`))
	f.Add(uint8(2), []byte(`{"webhooks":"nope"}`))
	f.Add(uint8(3), []byte(`{"webhooks":[null,{"rules":[{"scope":null}]}]}`))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		o := objs[int(which)%len(objs)]
		var live map[string]any
		if err := json.Unmarshal(data, &live); err != nil || live == nil {
			return
		}
		value, same, held, err := o.sync(&unstructured.Unstructured{Object: live})
		if err != nil {
			return
		}
		hooks, _ := value.([]any)
		if same && len(hooks) != len(o.want.Object["webhooks"].([]any)) {
			t.Fatalf("equal with a different number of webhooks")
		}
		if len(held) != len(hooks) {
			t.Fatalf("%d caBundles for %d webhooks", len(held), len(hooks))
		}
		if b, _ := json.Marshal(o.want.Object); string(b) == string(data) && !same {
			t.Fatalf("the desired object does not equal itself")
		}
	})
}
