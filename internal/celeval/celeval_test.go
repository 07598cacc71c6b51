package celeval

import (
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// website is an entry with a CRD schema: spec.replicas (integer), spec.image (string).
func website() *policy.CRD {
	schema := &apiextv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{
		"spec": {Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{
			"replicas":    {Type: "integer"},
			"maxReplicas": {Type: "integer"},
			"image":       {Type: "string"},
		}},
	}}
	def := &apiextv1.CustomResourceDefinition{Spec: apiextv1.CustomResourceDefinitionSpec{
		Group: "web.example.com",
		Names: apiextv1.CustomResourceDefinitionNames{Kind: "Website", Plural: "websites"},
		Versions: []apiextv1.CustomResourceDefinitionVersion{{
			Name: "v1", Served: true, Storage: true,
			Schema: &apiextv1.CustomResourceValidation{OpenAPIV3Schema: schema},
		}},
	}}
	return &policy.CRD{Name: "website", Group: "web.example.com", Version: "v1", Kind: "Website", Plural: "websites", Definition: def}
}

func pods() *policy.CRD {
	return &policy.CRD{Name: "pod", Version: "v1", Kind: "Pod", Plural: "pods", BuiltIn: true}
}

func TestCheck(t *testing.T) {
	var c Checker
	tests := []struct {
		name    string
		crd     *policy.CRD
		src     string
		message bool
		err     string // substring; "" for none
	}{
		{"bool over dyn", pods(), "object.spec.containers.all(c, c.image.startsWith('registry.example.com/'))", false, ""},
		{"kubernetes library", pods(), "object.spec.containers.all(c, !has(c.resources.limits.memory) || quantity(c.resources.limits.memory).compareTo(quantity('1Gi')) <= 0)", false, ""},
		{"request and namespaceObject", pods(), "request.userInfo.username != 'mallory' && (namespaceObject == null || namespaceObject.metadata.name != 'x')", false, ""},
		{"oldObject", pods(), "oldObject == null || object.spec.nodeName == oldObject.spec.nodeName", false, ""},
		{"syntax error", pods(), "object.spec.replicas <", false, "Syntax error"},
		{"not a bool", pods(), "object.spec.replicas", false, "must evaluate to bool"},
		{"undeclared variable", pods(), "params.max > 1", false, "undeclared reference to 'params'"},
		{"authorizer is not declared", pods(), "authorizer.group('').resource('pods').check('create').allowed()", false, "undeclared reference to 'authorizer'"},
		{"message is a string", pods(), "'replicas: ' + string(object.spec.replicas)", true, ""},
		{"message not a string", pods(), "object.spec.replicas > 1", true, "must evaluate to string"},
		{"typed field", website(), "object.spec.replicas <= object.spec.maxReplicas", false, ""},
		{"typed metadata", website(), "object.metadata.labels['team'] == 'web' && object.metadata.name.startsWith('w')", false, ""},
		{"typed field misspelt", website(), "object.spec.replicaz <= 3", false, "undefined field 'replicaz'"},
		{"typed wrong type", website(), "object.spec.image > 3", false, "found no matching overload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Check(tt.crd, tt.src, tt.message)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("Check(%q) = %v, want nil", tt.src, err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("Check(%q) = %v, want an error containing %q", tt.src, err, tt.err)
			}
		})
	}
}

func raw(t *testing.T, v any) runtime.RawExtension {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return runtime.RawExtension{Raw: b}
}

func TestEvaluate(t *testing.T) {
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "p", "namespace": "team-a"},
		"spec": map[string]any{"replicas": 3, "containers": []any{
			map[string]any{"name": "a", "image": "registry.example.com/a:1"},
			map[string]any{"name": "b", "image": "docker.io/b:latest"},
		}},
	}
	old := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p"}, "spec": map[string]any{"replicas": 2}}
	req := &admissionv1.AdmissionRequest{
		UID: "1", Operation: admissionv1.Update, Name: "p", Namespace: "team-a",
		Kind:     metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		UserInfo: authenticationv1.UserInfo{Username: "alice", Groups: []string{"dev", "system:authenticated"}},
		Object:   raw(t, pod), OldObject: raw(t, old),
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"tier": "prod"}}}
	exprs := []rules.Expression{
		{Expression: "object.spec.containers.all(c, c.image.startsWith('registry.example.com/'))",
			MessageExpression: "'images outside the registry: ' + object.spec.containers.filter(c, !c.image.startsWith('registry.example.com/')).map(c, c.name).join(', ')",
			Message:           "images come from the registry"},
		{Expression: "object.spec.replicas >= oldObject.spec.replicas", Message: "no scale down"},
		{Expression: "request.userInfo.username == 'bob'", Message: "only bob"},
		{Expression: "'dev' in request.userInfo.groups && request.operation == 'UPDATE'", Message: "dev updates"},
		{Expression: "namespaceObject.metadata.labels['tier'] == 'test'", Message: "test namespaces only"},
		{Expression: "object.spec.missing == 1", Message: "m"},
		{Expression: "object.spec.replicas == 1", MessageExpression: "'two\\nlines'", Message: "fallback"},
		{Expression: "object.spec.replicas == 1"},
		{Expression: "type(object.spec.replicas) == int", Message: "integers are ints"},
	}
	got, err := Evaluate(exprs, Input{Request: req, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		valid bool
		msg   string
		err   string
	}{
		{false, "images outside the registry: b", ""},
		{true, "", ""},
		{false, "only bob", ""},
		{true, "", ""},
		{false, "test namespaces only", ""},
		{false, "", "no such key: missing"},
		{false, "fallback", ""},
		{false, "failed expression: object.spec.replicas == 1", ""},
		{true, "", ""},
	}
	for i, w := range want {
		g := got[i]
		if g.Valid != w.valid || g.Message != w.msg || (w.err == "") != (g.Err == nil) || (g.Err != nil && !strings.Contains(g.Err.Error(), w.err)) {
			t.Errorf("rule %d %q: valid %t message %q err %v; want valid %t message %q err %q", i, exprs[i].Expression, g.Valid, g.Message, g.Err, w.valid, w.msg, w.err)
		}
	}

	// CREATE: oldObject is null; without a namespace, namespaceObject is null.
	req.Operation, req.OldObject = admissionv1.Create, runtime.RawExtension{}
	got, err = Evaluate([]rules.Expression{{Expression: "oldObject == null && namespaceObject == null", Message: "m"}}, Input{Request: req})
	if err != nil || !got[0].Valid || got[0].Err != nil {
		t.Errorf("CREATE: %+v, %v", got, err)
	}
	// DELETE: object is null.
	req.Operation, req.Object, req.OldObject = admissionv1.Delete, runtime.RawExtension{}, raw(t, old)
	got, err = Evaluate([]rules.Expression{{Expression: "object == null && oldObject.spec.replicas == 2", Message: "m"}}, Input{Request: req})
	if err != nil || !got[0].Valid {
		t.Errorf("DELETE: %+v, %v", got, err)
	}
	// Malformed input is an error, not a verdict.
	req.OldObject = runtime.RawExtension{Raw: []byte(`{"a":`)}
	if _, err := Evaluate(exprs, Input{Request: req}); err == nil {
		t.Error("malformed oldObject: no error")
	}
}
