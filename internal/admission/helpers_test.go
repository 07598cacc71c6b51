package admission

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// obj is a test object as decoded JSON.
type obj map[string]any

func newObj(apiVersion, kind, ns, name string) obj {
	md := map[string]any{"name": name}
	if ns != "" {
		md["namespace"] = ns
	}
	return obj{"apiVersion": apiVersion, "kind": kind, "metadata": md}
}

func (o obj) meta() map[string]any { return o["metadata"].(map[string]any) }

func (o obj) label(k, v string) obj {
	ls, _ := o.meta()["labels"].(map[string]any)
	if ls == nil {
		ls = map[string]any{}
		o.meta()["labels"] = ls
	}
	ls[k] = v
	return o
}

func (o obj) protect() obj { return o.label(policy.ProtectionLabel, "true") }

func (o obj) spec(kv ...any) obj {
	s := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		s[kv[i].(string)] = kv[i+1]
	}
	o["spec"] = s
	return o
}

func (o obj) raw() runtime.RawExtension {
	if o == nil {
		return runtime.RawExtension{}
	}
	b, err := json.Marshal(o)
	if err != nil {
		panic(err)
	}
	return runtime.RawExtension{Raw: b}
}

func (o obj) clone() obj {
	b, _ := json.Marshal(o)
	var c obj
	json.Unmarshal(b, &c)
	return c
}

// gvr is what a request says about the resource.
type gvr struct{ group, version, kind, resource string }

var (
	website   = gvr{"web.example.com", "v1", "Website", "websites"}
	database  = gvr{"db.example.com", "v1", "Database", "databases"}
	configMap = gvr{"", "v1", "ConfigMap", "configmaps"}
	namespace = gvr{"", "v1", "Namespace", "namespaces"}
	crdKind   = gvr{"apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions"}
)

// request builds an AdmissionRequest as the API server sends it: on DELETE
// only the old object, and a Namespace's requests carry its name as namespace.
func request(op admissionv1.Operation, r gvr, newObject, oldObject obj) *admissionv1.AdmissionRequest {
	src := newObject
	if src == nil {
		src = oldObject
	}
	name, _ := src.meta()["name"].(string)
	ns, _ := src.meta()["namespace"].(string)
	if r == namespace {
		ns = name
	}
	gvk := metav1.GroupVersionKind{Group: r.group, Version: r.version, Kind: r.kind}
	res := metav1.GroupVersionResource{Group: r.group, Version: r.version, Resource: r.resource}
	return &admissionv1.AdmissionRequest{
		UID:         "uid-1",
		Kind:        gvk,
		Resource:    res,
		RequestKind: &gvk,
		Name:        name,
		Namespace:   ns,
		Operation:   op,
		UserInfo:    authenticationv1.UserInfo{Username: "bob", Groups: []string{"system:authenticated"}},
		Object:      newObject.raw(),
		OldObject:   oldObject.raw(),
	}
}

func as(req *admissionv1.AdmissionRequest, user string, groups ...string) *admissionv1.AdmissionRequest {
	req.UserInfo = authenticationv1.UserInfo{Username: user, Groups: groups}
	return req
}

// testPolicy is a Katalog with every admission feature on.
func testPolicy(t testing.TB) *policy.Policy {
	t.Helper()
	return &policy.Policy{
		Name:    "guard",
		Gateway: policy.Gateway{Namespace: "orkestra-system"},
		DeletionProtection: policy.DeletionProtection{
			Endpoint:   policy.Endpoint{Enabled: true, FailurePolicy: policy.Fail},
			StrictMode: true,
			BreakGlass: policy.Subjects{Users: []string{"alice"}, Groups: []string{"system:masters"}},
		},
		NamespaceProtection: policy.NamespaceProtection{
			Endpoint:   policy.Endpoint{Enabled: true, FailurePolicy: policy.Fail},
			Namespaces: policy.Namespaces{Restricted: policy.Globs{"kube-*", "*-system", "default"}},
		},
		Admission: policy.Admission{Endpoint: policy.Endpoint{Enabled: true, FailurePolicy: policy.Ignore}},
		CRDs: []*policy.CRD{
			{
				Name: "database", Group: "db.example.com", Version: "v1", Kind: "Database", Plural: "databases",
				Namespaced: true, Versions: []string{"v1"},
				Namespaces: policy.Namespaces{Restricted: policy.Globs{"prod"}},
				ProtectCRs: true,
			},
			{
				Name: "website", Group: "web.example.com", Version: "v1", Kind: "Website", Plural: "websites",
				Namespaced: true, Versions: []string{"v1", "v2"},
				Validate: true, Mutate: true, Operations: []string{"CREATE", "UPDATE"},
				Validation: compileValidation(t, []katalog.Rule{
					{Test: katalog.Test{Field: "spec.replicas", Between: &katalog.Value{V: "1,10"}}, Message: "replicas must be between 1 and 10"},
					{Test: katalog.Test{Field: "spec.image", Regex: &katalog.Value{V: `^registry\.example\.com/`}}, Message: "images should come from the internal registry", Action: "warn"},
					{Test: katalog.Test{Field: "spec.tier", Exists: &katalog.Value{V: true}}, Message: "tier is required"},
					{Test: katalog.Test{Field: "spec.owner", In: &katalog.Value{V: []any{"web", "platform"}}}, Message: "owner must be web or platform"},
				}),
				Mutation: compileMutation(t, []katalog.MutationRule{
					{Field: "spec.tier", Default: &katalog.Value{V: "standard"}},
					{Field: `metadata.labels["app.kubernetes.io/managed-by"]`, Override: &katalog.Value{V: "orkestra"}},
				}),
				Namespaces: policy.Namespaces{Allowed: policy.Globs{"web-*", "shared"}},
				ProtectCRD: true, ProtectCRs: true,
			},
		},
	}
}

func compileValidation(t testing.TB, rs []katalog.Rule) *rules.ValidationSet {
	t.Helper()
	set, probs := rules.CompileValidation(rs)
	if len(probs) > 0 {
		t.Fatalf("compile validation rules: %+v", probs)
	}
	return set
}

func compileMutation(t testing.TB, rs []katalog.MutationRule) *rules.MutationSet {
	t.Helper()
	set, probs := rules.CompileMutation(rs)
	if len(probs) > 0 {
		t.Fatalf("compile mutation rules: %+v", probs)
	}
	return set
}

func handle(h Handler, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	return h.Handle(context.Background(), req)
}

func wantAllowed(t *testing.T, resp *admissionv1.AdmissionResponse) {
	t.Helper()
	if resp == nil || !resp.Allowed {
		t.Fatalf("want allowed, got %s", show(resp))
	}
	if resp.Result != nil {
		t.Errorf("allowed response carries a status: %+v", resp.Result)
	}
}

// wantDenied checks code and reason, and that the message holds every part.
func wantDenied(t *testing.T, resp *admissionv1.AdmissionResponse, code int32, reason metav1.StatusReason, parts ...string) {
	t.Helper()
	if resp == nil || resp.Allowed || resp.Result == nil {
		t.Fatalf("want denied with a status, got %s", show(resp))
	}
	r := resp.Result
	if r.Code != code || r.Reason != reason || r.Status != metav1.StatusFailure {
		t.Errorf("status = %d %s %s, want %d %s Failure", r.Code, r.Reason, r.Status, code, reason)
	}
	for _, p := range parts {
		if !strings.Contains(r.Message, p) {
			t.Errorf("message %q lacks %q", r.Message, p)
		}
	}
}

func show(resp *admissionv1.AdmissionResponse) string {
	b, _ := json.Marshal(resp)
	return string(b)
}

// applyPatch applies a JSONPatch as the API server does (evanphx/json-patch,
// which only the tests and the toolchain link).
func applyPatch(doc, patch []byte) ([]byte, error) {
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, err
	}
	return p.Apply(doc)
}
