package registration

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

func gadgetEntry(*testing.T) *policy.CRD {
	return &policy.CRD{Name: "gadget", Group: "conv.example.com", Version: "v2", Versions: []string{"v1", "v2"},
		Kind: "Gadget", Plural: "gadgets", Namespaced: true,
		Conversion: &policy.ConversionSpec{StorageVersion: "v2", Versions: []string{"v1", "v2"}, UpdateCRD: true}}
}

// gadgetCRD is the Gadget CRD as a user would apply it (strategy None).
func gadgetCRD() *apiextv1.CustomResourceDefinition {
	schema := &apiextv1.CustomResourceValidation{OpenAPIV3Schema: &apiextv1.JSONSchemaProps{Type: "object"}}
	return &apiextv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "gadgets.conv.example.com"},
		Spec: apiextv1.CustomResourceDefinitionSpec{
			Group: "conv.example.com",
			Names: apiextv1.CustomResourceDefinitionNames{Kind: "Gadget", ListKind: "GadgetList", Plural: "gadgets", Singular: "gadget"},
			Scope: apiextv1.NamespaceScoped,
			Versions: []apiextv1.CustomResourceDefinitionVersion{
				{Name: "v1", Served: true, Schema: schema},
				{Name: "v2", Served: true, Storage: true, Schema: schema},
			},
		},
	}
}

// fakeCRDs is a dynamic client holding the Gadget CRD; it records patches.
func fakeCRDs(t *testing.T, conversion map[string]any) (*dynamicfake.FakeDynamicClient, *[][]byte) {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(gadgetCRD())
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{Object: u}
	obj.SetAPIVersion("apiextensions.k8s.io/v1")
	obj.SetKind("CustomResourceDefinition")
	obj.SetResourceVersion("7")
	if conversion != nil {
		if err := unstructured.SetNestedField(obj.Object, conversion, "spec", "conversion"); err != nil {
			t.Fatal(err)
		}
	}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{crdResource: "CustomResourceDefinitionList"}, obj)
	var patches [][]byte
	client.PrependReactor("patch", "customresourcedefinitions", func(a k8stesting.Action) (bool, runtime.Object, error) {
		patches = append(patches, a.(k8stesting.PatchAction).GetPatch())
		return false, nil, nil
	})
	return client, &patches
}

func liveConversionOf(t *testing.T, client *dynamicfake.FakeDynamicClient) *apiextv1.CustomResourceConversion {
	t.Helper()
	u, err := client.Resource(crdResource).Get(context.Background(), "gadgets.conv.example.com", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := liveConversion(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnsureCRDService(t *testing.T) {
	client, patches := fakeCRDs(t, nil)
	ep := Endpoint{Namespace: "orkestra-system", Service: "orkestra-gateway"}
	entry := gadgetEntry(t)
	changed, held, err := EnsureCRD(context.Background(), client, entry, ep, testCA)
	if err != nil || !changed || string(held) != string(testCA) {
		t.Fatalf("first ensure: changed %v, held %q, err %v", changed, held, err)
	}
	c := liveConversionOf(t, client)
	if c.Strategy != apiextv1.WebhookConverter || c.Webhook == nil || c.Webhook.ClientConfig == nil {
		t.Fatalf("conversion %+v", c)
	}
	s := c.Webhook.ClientConfig.Service
	if s == nil || s.Namespace != "orkestra-system" || s.Name != "orkestra-gateway" || *s.Path != "/convert" || *s.Port != 443 {
		t.Errorf("service %+v", s)
	}
	if string(c.Webhook.ClientConfig.CABundle) != string(testCA) || strings.Join(c.Webhook.ConversionReviewVersions, ",") != "v1" {
		t.Errorf("clientConfig %+v", c.Webhook)
	}
	if !strings.Contains(string((*patches)[0]), `"resourceVersion":"7"`) {
		t.Errorf("the patch is not guarded by the resourceVersion read: %s", (*patches)[0])
	}

	// Again: nothing to do, no write.
	changed, held, err = EnsureCRD(context.Background(), client, entry, ep, testCA)
	if err != nil || changed || len(*patches) != 1 || string(held) != string(testCA) {
		t.Errorf("second ensure: changed %v, err %v, %d patches", changed, err, len(*patches))
	}

	// A rotated CA is written.
	changed, _, err = EnsureCRD(context.Background(), client, entry, ep, append([]byte("new\n"), testCA...))
	if err != nil || !changed {
		t.Errorf("new CA: changed %v, err %v", changed, err)
	}
}

// The API server defaults the service port; a live config without it is
// still equal.
func TestEnsureCRDAPIServerDefaults(t *testing.T) {
	client, patches := fakeCRDs(t, map[string]any{
		"strategy": "Webhook",
		"webhook": map[string]any{
			"clientConfig":             map[string]any{"service": map[string]any{"namespace": "ns", "name": "gw", "path": "/convert"}, "caBundle": "Y2E="},
			"conversionReviewVersions": []any{"v1"},
		},
	})
	changed, _, err := EnsureCRD(context.Background(), client, gadgetEntry(t), Endpoint{Namespace: "ns", Service: "gw"}, []byte("ca"))
	if err != nil || changed || len(*patches) != 0 {
		t.Errorf("changed %v, err %v, patches %q", changed, err, *patches)
	}
}

// From a Service to a URL: the service is removed (explicit null in the
// merge patch), and an empty caBundle keeps the live one.
func TestEnsureCRDURLKeepsUserCABundle(t *testing.T) {
	client, patches := fakeCRDs(t, map[string]any{
		"strategy": "Webhook",
		"webhook": map[string]any{
			"clientConfig":             map[string]any{"service": map[string]any{"namespace": "ns", "name": "gw", "path": "/convert", "port": int64(443)}, "caBundle": "dXNlcg=="},
			"conversionReviewVersions": []any{"v1", "v1beta1"},
		},
	})
	u, _ := url.Parse("https://gw.example.com:8443/hooks/")
	ep := Endpoint{Namespace: "ns", URL: u}
	changed, held, err := EnsureCRD(context.Background(), client, gadgetEntry(t), ep, nil)
	if err != nil || !changed || string(held) != "user" {
		t.Fatalf("changed %v, held %q, err %v", changed, held, err)
	}
	var p map[string]any
	if err := json.Unmarshal((*patches)[0], &p); err != nil {
		t.Fatal(err)
	}
	if _, sets := p["spec"].(map[string]any)["conversion"].(map[string]any)["webhook"].(map[string]any)["clientConfig"].(map[string]any)["caBundle"]; sets {
		t.Errorf("the patch sets a caBundle the user owns: %s", (*patches)[0])
	}
	c := liveConversionOf(t, client)
	cc := c.Webhook.ClientConfig
	if cc.URL == nil || *cc.URL != "https://gw.example.com:8443/hooks/convert" || cc.Service != nil || string(cc.CABundle) != "user" {
		t.Errorf("clientConfig %+v (url %v)", cc, cc.URL)
	}
	if strings.Join(c.Webhook.ConversionReviewVersions, ",") != "v1" {
		t.Errorf("versions %v", c.Webhook.ConversionReviewVersions)
	}
	if changed, held, err := EnsureCRD(context.Background(), client, gadgetEntry(t), ep, nil); err != nil || changed || string(held) != "user" {
		t.Errorf("second ensure: changed %v, err %v", changed, err)
	}
}

// A Conflict (another writer between read and patch) is retried with a
// fresh read; a persistent one ends in an error.
func TestEnsureCRDConflict(t *testing.T) {
	client, _ := fakeCRDs(t, nil)
	conflicts, attempts := 1, 0
	client.PrependReactor("patch", "customresourcedefinitions", func(a k8stesting.Action) (bool, runtime.Object, error) {
		attempts++
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(crdResource.GroupResource(), "gadgets.conv.example.com", nil)
		}
		return false, nil, nil
	})
	ep := Endpoint{Namespace: "ns", Service: "gw"}
	changed, _, err := EnsureCRD(context.Background(), client, gadgetEntry(t), ep, testCA)
	if err != nil || !changed || attempts != 2 {
		t.Errorf("changed %v, err %v, %d patch attempts (want 2)", changed, err, attempts)
	}
	if c := liveConversionOf(t, client); c == nil || c.Strategy != apiextv1.WebhookConverter {
		t.Errorf("conversion after the retry: %+v", c)
	}

	client, _ = fakeCRDs(t, nil)
	client.PrependReactor("patch", "customresourcedefinitions", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(crdResource.GroupResource(), "gadgets.conv.example.com", nil)
	})
	if _, _, err := EnsureCRD(context.Background(), client, gadgetEntry(t), ep, testCA); err == nil || !strings.Contains(err.Error(), "still conflicting") {
		t.Errorf("err = %v", err)
	}
}

func TestEnsureCRDErrors(t *testing.T) {
	client, patches := fakeCRDs(t, nil)
	ep := Endpoint{Namespace: "ns", Service: "gw"}
	entry := gadgetEntry(t)

	missing := *entry
	missing.Plural = "nothings"
	if _, _, err := EnsureCRD(context.Background(), client, &missing, ep, testCA); err == nil || !strings.Contains(err.Error(), "nothings.conv.example.com does not exist") {
		t.Errorf("missing CRD: %v", err)
	}
	if _, _, err := EnsureCRD(context.Background(), client, entry, Endpoint{Namespace: "Bad_NS", Service: "gw"}, testCA); err == nil || !strings.Contains(err.Error(), "Bad_NS") {
		t.Errorf("bad endpoint: %v", err)
	}
	off := *entry
	off.Conversion = &policy.ConversionSpec{UpdateCRD: false}
	if changed, _, err := EnsureCRD(context.Background(), client, &off, ep, testCA); changed || err != nil {
		t.Errorf("updateCRD false: changed %v, err %v", changed, err)
	}
	if len(*patches) != 0 {
		t.Errorf("%d patches", len(*patches))
	}
}

// The last replica resets spec.conversion to None, only where it still
// points at this gateway; keepOnShutdown entries are not reset.
func TestResetCRD(t *testing.T) {
	ctx := context.Background()
	ep := Endpoint{Namespace: "ns", Service: "gw"}
	client, patches := fakeCRDs(t, nil)
	if _, _, err := EnsureCRD(ctx, client, gadgetEntry(t), ep, testCA); err != nil {
		t.Fatal(err)
	}
	changed, err := ResetCRD(ctx, client, gadgetEntry(t), ep)
	if err != nil || !changed {
		t.Fatalf("reset: changed %v, err %v", changed, err)
	}
	if c := liveConversionOf(t, client); c == nil || c.Strategy != apiextv1.NoneConverter || c.Webhook != nil {
		t.Errorf("after the reset: %+v", c)
	}
	if p := string((*patches)[len(*patches)-1]); !strings.Contains(p, `"webhook":null`) || !strings.Contains(p, `"resourceVersion"`) {
		t.Errorf("the reset patch %s does not remove the webhook guarded by the resourceVersion", p)
	}
	// Nothing to do twice.
	if changed, err := ResetCRD(ctx, client, gadgetEntry(t), ep); err != nil || changed {
		t.Errorf("second reset: changed %v, err %v", changed, err)
	}

	// Pointed at another gateway (another Service, another URL): left alone.
	for _, other := range []Endpoint{{Namespace: "ns", Service: "other"}, {Namespace: "other", Service: "gw"}} {
		client, _ := fakeCRDs(t, nil)
		if _, _, err := EnsureCRD(ctx, client, gadgetEntry(t), other, testCA); err != nil {
			t.Fatal(err)
		}
		if changed, err := ResetCRD(ctx, client, gadgetEntry(t), ep); err != nil || changed {
			t.Errorf("%+v: reset someone else's conversion: changed %v, err %v", other, changed, err)
		}
		if c := liveConversionOf(t, client); c.Strategy != apiextv1.WebhookConverter {
			t.Errorf("%+v: strategy %s", other, c.Strategy)
		}
	}
	u, _ := url.Parse("https://gw.example.com:8443")
	urlEP := Endpoint{Namespace: "ns", URL: u}
	client, _ = fakeCRDs(t, nil)
	if _, _, err := EnsureCRD(ctx, client, gadgetEntry(t), urlEP, testCA); err != nil {
		t.Fatal(err)
	}
	if changed, err := ResetCRD(ctx, client, gadgetEntry(t), ep); err != nil || changed {
		t.Errorf("URL conversion reset by a Service-mode gateway: %v %v", changed, err)
	}
	if changed, err := ResetCRD(ctx, client, gadgetEntry(t), urlEP); err != nil || !changed {
		t.Errorf("URL mode reset: %v %v", changed, err)
	}

	// A CRD already gone is fine.
	missing := gadgetEntry(t)
	missing.Plural = "nothings"
	if changed, err := ResetCRD(ctx, client, missing, ep); err != nil || changed {
		t.Errorf("missing CRD: %v %v", changed, err)
	}

	keep := gadgetEntry(t)
	keep.Conversion.KeepOnShutdown = true
	p := &policy.Policy{Conversion: policy.Conversion{Enabled: true}, CRDs: []*policy.CRD{gadgetEntry(t), keep}}
	if got := ResetOnShutdown(p); len(got) != 1 || got[0].Conversion.KeepOnShutdown {
		t.Errorf("ResetOnShutdown = %v", got)
	}
	p.Conversion.Enabled = false
	if got := ResetOnShutdown(p); len(got) != 0 {
		t.Errorf("conversion off: ResetOnShutdown = %v", got)
	}
}
