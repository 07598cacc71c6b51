package registration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// ConversionPath is where the gateway serves ConversionReviews.
const ConversionPath = "/convert"

// crdResource is the CustomResourceDefinition resource.
var crdResource = apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions")

// maxConflicts bounds the retries of EnsureCRD when other writers (another
// replica, a kubectl apply) update the CRD between its read and its patch.
const maxConflicts = 5

// ConversionCRDs are the CRD entries whose spec.conversion the gateway
// keeps: those with a conversion block and updateCRD, when conversion is
// enabled.
func ConversionCRDs(p *policy.Policy) []*policy.CRD {
	if p == nil || !p.Conversion.Enabled {
		return nil
	}
	var out []*policy.CRD
	for _, c := range p.CRDs {
		if c != nil && c.Conversion != nil && c.Conversion.UpdateCRD {
			out = append(out, c)
		}
	}
	return out
}

// EnsureCRD makes the CRD's spec.conversion send conversions to the
// gateway: strategy Webhook, the endpoint's Service (path /convert, port 443
// unless the endpoint says otherwise) or URL + /convert, caBundle, and
// conversionReviewVersions [v1]. It writes nothing when the CRD already says
// exactly that (compared field by field, with the API server's defaults
// applied), and changed reports whether it wrote; held is the caBundle the
// conversion webhook holds afterwards.
//
// The write is a merge patch of spec.conversion guarded by the
// resourceVersion read (it needs only get and patch on the CRD); on a
// Conflict the CRD is read again. An empty caBundle means the user owns it
// (external certificates): the CRD's caBundle is kept. The CRD must exist:
// the gateway never creates CRDs. A CRD entry without a conversion block
// or with updateCRD: false is left alone.
func EnsureCRD(ctx context.Context, client dynamic.Interface, crd *policy.CRD, endpoint Endpoint, caBundle []byte) (changed bool, held []byte, err error) {
	if crd == nil || crd.Conversion == nil || !crd.Conversion.UpdateCRD {
		return false, nil, nil
	}
	if err := endpoint.Validate(); err != nil {
		return false, nil, fmt.Errorf("CRD %s: %w", crd.CRDName(), err)
	}
	name := crd.CRDName()
	res := client.Resource(crdResource)
	for range maxConflicts {
		live, err := res.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil, fmt.Errorf("CRD %s does not exist; create it before the gateway sets its conversion webhook", name)
		}
		if err != nil {
			return false, nil, fmt.Errorf("reading CRD %s: %w", name, err)
		}
		current, err := liveConversion(live.Object)
		if err != nil {
			return false, nil, fmt.Errorf("CRD %s: %w", name, err)
		}
		want := desiredConversion(endpoint, caBundle, current)
		inject, injectOK := injection(live.GetAnnotations(), endpoint.CAInjectFrom, len(caBundle) > 0)
		if sameConversion(current, want) && injectOK {
			return false, current.Webhook.ClientConfig.CABundle, nil
		}
		patch, err := conversionPatch(live.GetResourceVersion(), want, len(caBundle) > 0, inject)
		if err != nil {
			return false, nil, fmt.Errorf("CRD %s: %w", name, err)
		}
		_, err = res.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: policy.ManagedByValue})
		switch {
		case err == nil:
			return true, want.Webhook.ClientConfig.CABundle, nil
		case apierrors.IsConflict(err):
			continue // changed since read: read again
		default:
			return false, nil, fmt.Errorf("setting the conversion webhook of CRD %s: %w", name, err)
		}
	}
	return false, nil, fmt.Errorf("setting the conversion webhook of CRD %s: still conflicting after %d attempts", name, maxConflicts)
}

// liveConversion decodes spec.conversion; nil when absent.
func liveConversion(obj map[string]any) (*apiextv1.CustomResourceConversion, error) {
	spec, _ := obj["spec"].(map[string]any)
	raw, ok := spec["conversion"].(map[string]any)
	if !ok {
		return nil, nil
	}
	var c apiextv1.CustomResourceConversion
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &c); err != nil {
		return nil, fmt.Errorf("spec.conversion does not decode: %v", err)
	}
	return &c, nil
}

// desiredConversion is the spec.conversion pointing at endpoint.
func desiredConversion(ep Endpoint, caBundle []byte, current *apiextv1.CustomResourceConversion) *apiextv1.CustomResourceConversion {
	cc := &apiextv1.WebhookClientConfig{CABundle: caBundle}
	if len(caBundle) == 0 && current != nil && current.Webhook != nil && current.Webhook.ClientConfig != nil {
		cc.CABundle = current.Webhook.ClientConfig.CABundle
	}
	if ep.URL != nil {
		u := *ep.URL
		u.Path = strings.TrimRight(u.Path, "/") + ConversionPath
		u.RawPath = ""
		s := u.String()
		cc.URL = &s
	} else {
		port := ep.Port
		if port == 0 {
			port = 443
		}
		path := ConversionPath
		cc.Service = &apiextv1.ServiceReference{Namespace: ep.Namespace, Name: ep.Service, Path: &path, Port: &port}
	}
	return &apiextv1.CustomResourceConversion{
		Strategy: apiextv1.WebhookConverter,
		Webhook:  &apiextv1.WebhookConversion{ClientConfig: cc, ConversionReviewVersions: []string{"v1"}},
	}
}

// sameConversion compares what EnsureCRD sets, with the API server's
// defaults applied to the live side (service port 443).
func sameConversion(live, want *apiextv1.CustomResourceConversion) bool {
	if live == nil || live.Strategy != want.Strategy || live.Webhook == nil || live.Webhook.ClientConfig == nil {
		return false
	}
	if !slices.Equal(live.Webhook.ConversionReviewVersions, want.Webhook.ConversionReviewVersions) {
		return false
	}
	a, b := live.Webhook.ClientConfig, want.Webhook.ClientConfig
	if !bytes.Equal(a.CABundle, b.CABundle) || (a.URL == nil) != (b.URL == nil) || (a.Service == nil) != (b.Service == nil) {
		return false
	}
	if a.URL != nil && *a.URL != *b.URL {
		return false
	}
	if a.Service != nil {
		s, t := a.Service, b.Service
		port := int32(443)
		if s.Port != nil {
			port = *s.Port
		}
		if s.Namespace != t.Namespace || s.Name != t.Name || port != *t.Port || s.Path == nil || *s.Path != *t.Path {
			return false
		}
	}
	return true
}

// conversionPatch is a JSON merge patch setting spec.conversion to want,
// with explicit nulls for what want leaves out (a merge patch otherwise
// keeps it), and the resourceVersion read as a precondition.
// injection says what the CRD's cert-manager CA injection annotation must
// be: the Certificate when cert-manager writes the caBundle; absent (nil
// value) when the gateway writes it itself, so the injector does not fight
// it; with external certificates a user's annotation is left alone (ok).
func injection(annotations map[string]string, from string, gatewayCA bool) (value any, ok bool) {
	live, has := annotations[policy.CAInjectionAnnotation]
	switch {
	case from != "":
		return from, has && live == from
	case gatewayCA:
		return nil, !has
	default:
		return nil, true
	}
}

func conversionPatch(resourceVersion string, want *apiextv1.CustomResourceConversion, setCABundle bool, inject any) ([]byte, error) {
	if resourceVersion == "" {
		return nil, errors.New("the CRD read has no resourceVersion")
	}
	cc := want.Webhook.ClientConfig
	clientConfig := map[string]any{"url": nil, "service": nil}
	if cc.URL != nil {
		clientConfig["url"] = *cc.URL
	}
	if s := cc.Service; s != nil {
		clientConfig["service"] = map[string]any{"namespace": s.Namespace, "name": s.Name, "path": *s.Path, "port": *s.Port}
	}
	if setCABundle {
		clientConfig["caBundle"] = cc.CABundle // []byte encodes as base64, as the API expects
	}
	meta := map[string]any{"resourceVersion": resourceVersion}
	if inject != nil || setCABundle {
		// A merge patch: a null value removes the annotation.
		meta["annotations"] = map[string]any{policy.CAInjectionAnnotation: inject}
	}
	return json.Marshal(map[string]any{
		"metadata": meta,
		"spec": map[string]any{"conversion": map[string]any{
			"strategy": string(want.Strategy),
			"webhook": map[string]any{
				"clientConfig":             clientConfig,
				"conversionReviewVersions": want.Webhook.ConversionReviewVersions,
			},
		}},
	})
}

// ResetOnShutdown are the CRD entries whose spec.conversion the last
// replica to stop resets to strategy None: those of ConversionCRDs without
// keepOnShutdown.
func ResetOnShutdown(p *policy.Policy) []*policy.CRD {
	var out []*policy.CRD
	for _, c := range ConversionCRDs(p) {
		if !c.Conversion.KeepOnShutdown {
			out = append(out, c)
		}
	}
	return out
}

// ResetCRD sets the CRD's spec.conversion to strategy None (no webhook),
// so that once no gateway runs the API server still serves every version:
// objects stored at the storage version are then returned at any other
// version unconverted, apiVersion aside. It does so only while
// spec.conversion still points at this gateway (the endpoint's Service or
// URL, path /convert): a conversion webhook someone else set is left alone,
// and changed is false. The patch is guarded by the resourceVersion read; a
// Conflict reads again. An absent CRD is fine (deleted already).
func ResetCRD(ctx context.Context, client dynamic.Interface, crd *policy.CRD, endpoint Endpoint) (changed bool, err error) {
	if crd == nil {
		return false, nil
	}
	name := crd.CRDName()
	res := client.Resource(crdResource)
	for range maxConflicts {
		live, err := res.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("reading CRD %s: %w", name, err)
		}
		current, err := liveConversion(live.Object)
		if err != nil {
			return false, fmt.Errorf("CRD %s: %w", name, err)
		}
		if !pointsAt(current, endpoint) {
			return false, nil
		}
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": live.GetResourceVersion()},
			"spec":     map[string]any{"conversion": map[string]any{"strategy": string(apiextv1.NoneConverter), "webhook": nil}},
		})
		if err != nil {
			return false, err
		}
		_, err = res.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: policy.ManagedByValue})
		switch {
		case err == nil:
			return true, nil
		case apierrors.IsConflict(err):
			continue
		default:
			return false, fmt.Errorf("resetting the conversion of CRD %s: %w", name, err)
		}
	}
	return false, fmt.Errorf("resetting the conversion of CRD %s: still conflicting after %d attempts", name, maxConflicts)
}

// pointsAt reports whether a live spec.conversion sends conversions to the
// gateway at endpoint.
func pointsAt(live *apiextv1.CustomResourceConversion, ep Endpoint) bool {
	if live == nil || live.Strategy != apiextv1.WebhookConverter || live.Webhook == nil || live.Webhook.ClientConfig == nil {
		return false
	}
	a, b := live.Webhook.ClientConfig, desiredConversion(ep, nil, nil).Webhook.ClientConfig
	switch {
	case a.URL != nil && b.URL != nil:
		return *a.URL == *b.URL
	case a.Service != nil && b.Service != nil:
		port := int32(443)
		if a.Service.Port != nil {
			port = *a.Service.Port
		}
		return a.Service.Namespace == b.Service.Namespace && a.Service.Name == b.Service.Name &&
			port == *b.Service.Port && a.Service.Path != nil && *a.Service.Path == *b.Service.Path
	}
	return false
}
