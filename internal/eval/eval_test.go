package eval

import (
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/orkspace/orkestra-gateway/internal/celeval"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// The API server's warning for a deprecated CRD version: the CRD's own, or
// its default naming the newest served version that is not deprecated.
func TestDeprecationWarning(t *testing.T) {
	custom := "use v3, v1 goes away"
	crd := &policy.CRD{Definition: &apiextv1.CustomResourceDefinition{Spec: apiextv1.CustomResourceDefinitionSpec{
		Group: "web.example.com", Names: apiextv1.CustomResourceDefinitionNames{Kind: "Website"},
		Versions: []apiextv1.CustomResourceDefinitionVersion{
			{Name: "v1alpha1", Served: true, Deprecated: true},
			{Name: "v1", Served: true, Deprecated: true, DeprecationWarning: &custom},
			{Name: "v1beta2", Served: true},
			{Name: "v2", Served: true},
			{Name: "v3", Served: false},
		},
	}}}
	for v, want := range map[string]string{
		"v1alpha1": "web.example.com/v1alpha1 Website is deprecated; use web.example.com/v2 Website",
		"v1":       custom,
		"v2":       "",
		"v9":       "",
	} {
		if got := deprecationWarning(crd, v); got != want {
			t.Errorf("%s: %q, want %q", v, got, want)
		}
	}
	if deprecationWarning(&policy.CRD{}, "v1") != "" || deprecationWarning(nil, "v1") != "" {
		t.Error("a warning without a CRD file")
	}
}

func TestResourceOf(t *testing.T) {
	p := &policy.Policy{CRDs: []*policy.CRD{{Group: "web.example.com", Kind: "Website", Plural: "websites"}}}
	for _, c := range []struct{ group, kind, want string }{
		{"web.example.com", "Website", "websites"},
		{"", "ConfigMap", "configmaps"},
		{"networking.k8s.io", "NetworkPolicy", "networkpolicies"},
		{"networking.k8s.io", "Ingress", "ingresses"},
		{"", "Endpoints", "endpoints"},
		{"other.example.com", "Gadget", ""}, // a custom kind the Katalog does not name
	} {
		if got := resourceOf(p, c.group, c.kind); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.group, c.kind, got, c.want)
		}
	}
}

// A CEL rule in audit mode never denies, even when it errors under Fail.
func TestCELVerdictAudit(t *testing.T) {
	deny := rules.Expression{Index: 0}
	audit := rules.Expression{Index: 1, Audit: true}
	v := &CELVerdict{FailurePolicy: policy.Fail, Results: []celeval.Result{{Rule: audit}, {Rule: deny, Valid: true}}}
	if !v.Allowed() {
		t.Error("an audited failing rule denies")
	}
	v.Results[0].Err = errFake{}
	if !v.Allowed() {
		t.Error("an audited rule's error denies under Fail")
	}
	v.Results[1].Valid = false
	if v.Allowed() {
		t.Error("an enforced failing rule allows")
	}
}

type errFake struct{}

func (errFake) Error() string { return "no such key" }
