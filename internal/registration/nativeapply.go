package registration

import (
	"context"
	"errors"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

var (
	vapGVR  = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"}
	vapbGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"}
	mapGVR  = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingadmissionpolicies"}
	mapbGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingadmissionpolicybindings"}
)

// Resources of the native engine, for RBAC.
const (
	ValidatingPolicies = "validatingadmissionpolicies"
	ValidatingBindings = "validatingadmissionpolicybindings"
	MutatingPolicies   = "mutatingadmissionpolicies"
	MutatingBindings   = "mutatingadmissionpolicybindings"
)

// kinds of a part: its policy and binding resources, in creation order.
func (n NativePart) kinds() [2]schema.GroupVersionResource {
	if n.Mutating {
		return [2]schema.GroupVersionResource{mapGVR, mapbGVR}
	}
	return [2]schema.GroupVersionResource{vapGVR, vapbGVR}
}

func kindName(gvr schema.GroupVersionResource) string {
	switch gvr {
	case vapGVR:
		return "ValidatingAdmissionPolicy"
	case vapbGVR:
		return "ValidatingAdmissionPolicyBinding"
	case mapGVR:
		return "MutatingAdmissionPolicy"
	case mapbGVR:
		return "MutatingAdmissionPolicyBinding"
	case mutatingGVR:
		return "MutatingWebhookConfiguration"
	}
	return "ValidatingWebhookConfiguration"
}

// nativeObjects converts the desired policies and bindings (policy first).
func nativeObjects(katalog string, ps []NativePolicy) ([]object, error) {
	var out []object
	seen := map[string]bool{}
	for _, np := range ps {
		if np.Name() != np.Part.Name(katalog) || seen[np.Name()] {
			return nil, fmt.Errorf("native policy %q: not a policy name of Katalog %q, or desired twice", np.Name(), katalog)
		}
		seen[np.Name()] = true
		var objs []runtime.Object
		if np.Part.Mutating {
			objs = []runtime.Object{np.Mutating.DeepCopy(), np.MutatingBinding.DeepCopy()}
		} else {
			objs = []runtime.Object{np.Validating.DeepCopy(), np.ValidatingBinding.DeepCopy()}
		}
		for i, obj := range objs {
			o, err := nativeObject(np.Part, np.Part.kinds()[i], obj)
			if err != nil {
				return nil, err
			}
			out = append(out, o)
		}
	}
	return out, nil
}

func nativeObject(part NativePart, gvr schema.GroupVersionResource, obj runtime.Object) (object, error) {
	want, err := toUnstructured(obj)
	if err != nil {
		return object{}, err
	}
	want.SetResourceVersion("")
	want.SetUID("")
	spec := want.Object["spec"]
	o := object{feature: part.Feature, gvr: gvr, kind: kindName(gvr), name: want.GetName(), labels: want.GetLabels(), want: want, field: "spec"}
	o.sync = func(live *unstructured.Unstructured) (any, bool, []Bundle, error) {
		same, err := sameSpec(gvr, obj, live)
		return spec, same, nil, err
	}
	return o, nil
}

// sameSpec compares the spec the gateway sets with the live one, both
// decoded with this build's types (fields it does not know are not
// compared) and with the API server's defaults applied.
func sameSpec(gvr schema.GroupVersionResource, want runtime.Object, live *unstructured.Unstructured) (bool, error) {
	decode := func(into any) error {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, into); err != nil {
			return fmt.Errorf("decoding the live object: %w", err)
		}
		return nil
	}
	switch gvr {
	case vapGVR:
		var l admissionregistrationv1.ValidatingAdmissionPolicy
		if err := decode(&l); err != nil {
			return false, err
		}
		w := want.(*admissionregistrationv1.ValidatingAdmissionPolicy)
		return equality.Semantic.DeepEqual(normalizeVAP(w.Spec), normalizeVAP(l.Spec)), nil
	case vapbGVR:
		var l admissionregistrationv1.ValidatingAdmissionPolicyBinding
		if err := decode(&l); err != nil {
			return false, err
		}
		w := want.(*admissionregistrationv1.ValidatingAdmissionPolicyBinding)
		return equality.Semantic.DeepEqual(w.Spec, l.Spec), nil
	case mapGVR:
		var l admissionregistrationv1.MutatingAdmissionPolicy
		if err := decode(&l); err != nil {
			return false, err
		}
		w := want.(*admissionregistrationv1.MutatingAdmissionPolicy)
		return equality.Semantic.DeepEqual(normalizeMAP(w.Spec), normalizeMAP(l.Spec)), nil
	case mapbGVR:
		var l admissionregistrationv1.MutatingAdmissionPolicyBinding
		if err := decode(&l); err != nil {
			return false, err
		}
		w := want.(*admissionregistrationv1.MutatingAdmissionPolicyBinding)
		return equality.Semantic.DeepEqual(w.Spec, l.Spec), nil
	}
	return false, fmt.Errorf("unknown native resource %s", gvr.Resource)
}

// The API server's defaults of the policy kinds
// (k8s.io/kubernetes/pkg/apis/admissionregistration/v1/defaults.go).

func normalizeVAP(s admissionregistrationv1.ValidatingAdmissionPolicySpec) admissionregistrationv1.ValidatingAdmissionPolicySpec {
	s = *s.DeepCopy()
	s.FailurePolicy = orDefault(s.FailurePolicy, admissionregistrationv1.Fail)
	normalizeMatch(s.MatchConstraints)
	return s
}

func normalizeMAP(s admissionregistrationv1.MutatingAdmissionPolicySpec) admissionregistrationv1.MutatingAdmissionPolicySpec {
	s = *s.DeepCopy()
	s.FailurePolicy = orDefault(s.FailurePolicy, admissionregistrationv1.Fail)
	normalizeMatch(s.MatchConstraints)
	return s
}

func normalizeMatch(m *admissionregistrationv1.MatchResources) {
	if m == nil {
		return
	}
	m.MatchPolicy = orDefault(m.MatchPolicy, admissionregistrationv1.Equivalent)
	m.NamespaceSelector = orDefault(m.NamespaceSelector, metav1.LabelSelector{})
	m.ObjectSelector = orDefault(m.ObjectSelector, metav1.LabelSelector{})
	for i := range m.ResourceRules {
		m.ResourceRules[i].Scope = orDefault(m.ResourceRules[i].Scope, admissionregistrationv1.AllScopes)
	}
	for i := range m.ExcludeResourceRules {
		m.ExcludeResourceRules[i].Scope = orDefault(m.ExcludeResourceRules[i].Scope, admissionregistrationv1.AllScopes)
	}
}

// staleRef is one live object of the Katalog that is not desired.
type staleRef struct {
	feature webhook.Feature
	gvr     schema.GroupVersionResource
	name    string
	uid     string
}

// liveStale reads, by name, the Katalog's objects of feature f that are
// not in keep (names per resource) and returns those that exist and are
// the gateway's (labels). A resource the API server does not serve (an
// older cluster without the policy kinds) holds nothing.
func liveStale(ctx context.Context, client dynamic.Interface, katalog string, f webhook.Feature, keep map[schema.GroupVersionResource]map[string]bool) ([]staleRef, error) {
	type ref struct {
		gvr  schema.GroupVersionResource
		name string
	}
	var refs []ref
	refs = append(refs, ref{gvrOf(f), ConfigName(katalog, f)})
	for _, part := range NativeParts {
		if part.Feature != f {
			continue
		}
		// Bindings first: deleted before their policies.
		k := part.kinds()
		refs = append(refs, ref{k[1], part.Name(katalog)}, ref{k[0], part.Name(katalog)})
	}
	var out []staleRef
	var errs []error
	for _, r := range refs {
		if keep[r.gvr][r.name] {
			continue
		}
		live, err := client.Resource(r.gvr).Get(ctx, r.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("%s %s: %w", kindName(r.gvr), r.name, err))
			continue
		case !owned(live.GetLabels(), katalog):
			continue // never delete what the gateway cannot prove it created
		}
		out = append(out, staleRef{feature: f, gvr: r.gvr, name: r.name, uid: string(live.GetUID())})
	}
	return out, errors.Join(errs...)
}

// deleteStale deletes what liveStale found, guarded by UID.
func deleteStale(ctx context.Context, client dynamic.Interface, refs []staleRef) (int, error) {
	n := 0
	var errs []error
	for _, r := range refs {
		uid := types.UID(r.uid)
		err := client.Resource(r.gvr).Delete(ctx, r.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		switch {
		case err == nil:
			n++
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			// Deleted by another replica, or replaced since it was read.
		default:
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", kindName(r.gvr), r.name, err))
		}
	}
	return n, errors.Join(errs...)
}
