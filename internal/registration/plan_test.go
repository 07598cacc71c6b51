package registration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// katalogPolicy compiles a Katalog with every feature and rules of both
// kinds, on the given engine.
func katalogPolicy(t *testing.T, engine policy.Engine, extraRule string) *policy.Policy {
	t.Helper()
	text := `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: guard
gateway:
  namespace: orkestra-system
security:
  deletionProtection: {strictMode: true, breakGlass: {groups: [ops]}}
  namespaceProtection: {restrictedNamespaces: [kube-public, "locked-*"]}
  webhooks:
    admission:
      engine: ` + string(engine) + `
spec:
  crds:
    website:
      apiTypes: {group: web.example.com, version: v1, kind: Website, plural: websites}
      allowedNamespaces: ["web-*"]
      deletionProtection: {protectCRD: true}
      validation:
        rules:
          - {field: spec.replicas, between: "1,10", message: "replicas {{ .spec.replicas }}"}
          - {field: spec.image, prefix: registry/, action: warn, message: registry}
          - {field: spec.tier, exists: true, action: audit, message: tier}
` + extraRule + `
      mutation:
        rules:
          - {field: 'metadata.annotations["a/b~c"]', override: x}
`
	f, errs := katalog.Parse("katalog.yaml", []byte(text))
	res := check.Run(f, errs)
	if res.Policy == nil {
		t.Fatalf("%+v", res.Findings)
	}
	return res.Policy
}

var both = Support{Validating: true, Mutating: true}

func TestEngines(t *testing.T) {
	for _, tc := range []struct {
		engine     policy.Engine
		support    Support
		extraRule  string
		validating policy.Engine // protection features and validate
		mutating   policy.Engine
	}{
		{policy.EngineWebhook, both, "", policy.EngineWebhook, policy.EngineWebhook},
		{policy.EngineNative, Support{}, "", policy.EngineNative, policy.EngineNative},
		{policy.EngineAuto, both, "", policy.EngineNative, policy.EngineNative},
		{policy.EngineAuto, Support{Validating: true}, "", policy.EngineNative, policy.EngineWebhook},
		{policy.EngineAuto, Support{}, "", policy.EngineWebhook, policy.EngineWebhook},
	} {
		p := katalogPolicy(t, tc.engine, tc.extraRule)
		got := Engines(p, tc.support)
		for _, f := range webhook.Features {
			want := tc.validating
			if f == webhook.Mutate {
				want = tc.mutating
			}
			if got[f] != want {
				t.Errorf("%s %+v: %s on %s, want %s", tc.engine, tc.support, f, got[f], want)
			}
		}
	}
	// A rule the native engine cannot compile keeps validation (only) on
	// the webhook engine under auto.
	p := katalogPolicy(t, policy.EngineAuto, `          - {field: "{{ .spec.which }}", exists: true, message: m}`)
	got := Engines(p, both)
	for _, f := range webhook.Features {
		want := policy.EngineNative
		if f == webhook.Validate {
			want = policy.EngineWebhook
		}
		if got[f] != want {
			t.Errorf("auto with a template field: %s on %s, want %s", f, got[f], want)
		}
	}
}

func TestDecodeSupport(t *testing.T) {
	list := func(names ...string) []byte {
		l := metav1.APIResourceList{GroupVersion: "admissionregistration.k8s.io/v1"}
		for _, n := range names {
			l.APIResources = append(l.APIResources, metav1.APIResource{Name: n})
		}
		b, _ := json.Marshal(l)
		return b
	}
	for _, tc := range []struct {
		raw  []byte
		want Support
		err  string
	}{
		{list(ValidatingPolicies, ValidatingBindings, MutatingPolicies, MutatingBindings, "validatingwebhookconfigurations"), both, ""},
		{list(ValidatingPolicies, ValidatingBindings, "mutatingwebhookconfigurations"), Support{Validating: true}, ""},
		{list(ValidatingPolicies, MutatingPolicies), Support{}, ""}, // no bindings: not usable
		{[]byte(`{"groupVersion":"v1","resources":[]}`), Support{}, `answered for "v1"`},
		{[]byte(`<html>`), Support{}, "invalid character"},
	} {
		got, err := decodeSupport(tc.raw)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v, %q", tc.raw, got, err, tc.want, tc.err)
		}
	}
}

// FuzzDecodeSupport: any answer decodes to a Support or an error, never a
// panic. Seeds: testdata/fuzz/FuzzDecodeSupport.
func FuzzDecodeSupport(f *testing.F) {
	f.Add([]byte(`{"groupVersion":"admissionregistration.k8s.io/v1","resources":[{"name":"validatingadmissionpolicies"}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := decodeSupport(raw)
		if err != nil && s != (Support{}) {
			t.Fatalf("an error with support %+v", s)
		}
	})
}

func TestNewPlanSplitsByEngine(t *testing.T) {
	for _, tc := range []struct {
		engine            policy.Engine
		support           Support
		webhooks, natives int
	}{
		{policy.EngineWebhook, both, 5, 0},
		{policy.EngineNative, both, 0, len(NativeParts)},
		{policy.EngineAuto, Support{Validating: true}, 1, len(NativeParts) - 1},
	} {
		p := katalogPolicy(t, tc.engine, "")
		pl, err := NewPlan(p, Endpoint{Namespace: "orkestra-system", Service: "gw"}, testCA, tc.support)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(pl.Validating) + len(pl.Mutating); n != tc.webhooks {
			t.Errorf("%s: %d webhook configurations, want %d", tc.engine, n, tc.webhooks)
		}
		if n := len(pl.Native); n != tc.natives {
			t.Errorf("%s: %d native policies %v, want %d", tc.engine, n, sortedNames(pl.Native), tc.natives)
		}
		for _, np := range pl.Native {
			if np.Name() != np.Part.Name("guard") {
				t.Errorf("policy %s is not named for its part %+v", np.Name(), np.Part)
			}
			var got map[string]string
			if np.Validating != nil {
				got = np.Validating.Labels
				if np.ValidatingBinding.Spec.PolicyName != np.Name() || np.ValidatingBinding.Name != np.Name() {
					t.Errorf("binding of %s: %+v", np.Name(), np.ValidatingBinding)
				}
				wantAction := admissionregistrationv1.Deny
				switch {
				case np.Part.Warn:
					wantAction = admissionregistrationv1.Warn
				case np.Part.Audit:
					wantAction = admissionregistrationv1.Audit
				}
				if a := np.ValidatingBinding.Spec.ValidationActions; len(a) != 1 || a[0] != wantAction {
					t.Errorf("binding of %s: actions %v", np.Name(), a)
				}
			} else {
				got = np.Mutating.Labels
				if np.MutatingBinding.Spec.PolicyName != np.Name() {
					t.Errorf("binding of %s: %+v", np.Name(), np.MutatingBinding)
				}
			}
			for k, v := range labels("guard", np.Part.Feature) {
				if got[k] != v {
					t.Errorf("%s: label %s=%q, want %q", np.Name(), k, got[k], v)
				}
			}
		}
	}
}

// The native policies fail as each feature's settings say, and exclude the
// gateway's namespace and kube-system as the webhooks do.
func TestNativeFailurePoliciesAndExclusions(t *testing.T) {
	p := katalogPolicy(t, policy.EngineNative, "")
	ps, err := DesiredNative(p, Endpoint{Namespace: "orkestra-system", Service: "gw"}, Engines(p, both))
	if err != nil {
		t.Fatal(err)
	}
	for _, np := range ps {
		var fp *admissionregistrationv1.FailurePolicyType
		var m *admissionregistrationv1.MatchResources
		var conds []admissionregistrationv1.MatchCondition
		if np.Validating != nil {
			fp, m, conds = np.Validating.Spec.FailurePolicy, np.Validating.Spec.MatchConstraints, np.Validating.Spec.MatchConditions
		} else {
			fp, m, conds = np.Mutating.Spec.FailurePolicy, np.Mutating.Spec.MatchConstraints, np.Mutating.Spec.MatchConditions
		}
		want := admissionregistrationv1.Fail
		if np.Part.Feature == webhook.Validate || np.Part.Feature == webhook.Mutate {
			want = admissionregistrationv1.Ignore
		}
		if fp == nil || *fp != want {
			t.Errorf("%s: failurePolicy %v, want %s", np.Name(), fp, want)
		}
		excluded := false
		for _, r := range m.NamespaceSelector.MatchExpressions {
			if r.Key == NamespaceNameLabel && r.Operator == metav1.LabelSelectorOpNotIn && len(r.Values) == 1 && r.Values[0] == "kube-system" {
				excluded = true
			}
		}
		own := false
		for _, c := range conds {
			if c.Name == "exclude-gateway-namespace" && strings.Contains(c.Expression, "'orkestra-system'") {
				own = true
			}
		}
		switch np.Part.Feature {
		case webhook.StrictMode, webhook.Validate, webhook.Mutate:
			if !excluded || !own {
				t.Errorf("%s: kube-system excluded %v, the gateway's namespace %v", np.Name(), excluded, own)
			}
		case webhook.DeletionProtection:
			if excluded || own {
				t.Errorf("%s: deletion protection must not exclude namespaces", np.Name())
			}
		}
	}
}

func fakeNativeClient(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		validatingGVR: "ValidatingWebhookConfigurationList",
		mutatingGVR:   "MutatingWebhookConfigurationList",
		vapGVR:        "ValidatingAdmissionPolicyList",
		vapbGVR:       "ValidatingAdmissionPolicyBindingList",
		mapGVR:        "MutatingAdmissionPolicyList",
		mapbGVR:       "MutatingAdmissionPolicyBindingList",
	}, objs...)
}

// answers says which probe targets are in force.
type answers map[string]bool

func (a answers) Wait(_ context.Context, p Probe) bool { return a[p.Target] }

// A switch keeps the old engine's objects until every new one is in force.
func TestPlanApplySwitch(t *testing.T) {
	ctx := context.Background()
	c := fakeNativeClient()
	ep := Endpoint{Namespace: "orkestra-system", Service: "gw"}
	webhookPlan, err := NewPlan(katalogPolicy(t, policy.EngineWebhook, ""), ep, testCA, both)
	if err != nil {
		t.Fatal(err)
	}
	native, err := NewPlan(katalogPolicy(t, policy.EngineNative, ""), ep, testCA, both)
	if err != nil {
		t.Fatal(err)
	}
	if res, _, err := webhookPlan.Apply(ctx, c, nil, "guard"); err != nil || res.Created != 5 {
		t.Fatalf("webhook engine: %+v %v", res, err)
	}
	// Nothing answers yet: both engines are kept, every feature pending.
	res, _, err := native.Apply(ctx, c, answers{}, "guard")
	if err != nil || res.Created != 2*len(native.Native) || res.Deleted != 0 || res.Pending != len(webhook.Features) {
		t.Fatalf("switch with nothing in force: %+v %v", res, err)
	}
	// Only validation is in force: only its webhook configuration goes.
	in := answers{}
	for _, pr := range native.Probes("guard", webhook.Validate) {
		in[pr.Target] = true
	}
	res, _, err = native.Apply(ctx, c, in, "guard")
	if err != nil || res.Deleted != 1 || res.Pending != len(webhook.Features)-1 || res.Unchanged != 2*len(native.Native) {
		t.Fatalf("switch with validation in force: %+v %v", res, err)
	}
	// Without a prober, objects unchanged since an earlier Apply count as loaded.
	res, _, err = native.Apply(ctx, c, nil, "guard")
	if err != nil || res.Deleted != 4 || res.Pending != 0 {
		t.Fatalf("switch without a prober: %+v %v", res, err)
	}
	// Turning everything off deletes both engines' objects at once.
	off := katalogPolicy(t, policy.EngineWebhook, "")
	off.DeletionProtection.Enabled, off.NamespaceProtection.Enabled, off.Admission.Enabled = false, false, false
	pl, err := NewPlan(off, ep, testCA, both)
	if err != nil {
		t.Fatal(err)
	}
	res, _, err = pl.Apply(ctx, c, answers{}, "guard")
	if err != nil || res.Deleted != 2*len(native.Native) || res.Pending != 0 {
		t.Fatalf("everything off: %+v %v", res, err)
	}
}

// An audit policy answers nothing a client sees, so it is never probed;
// a feature whose only policy audits switches engines once its objects
// are unchanged since an earlier Apply.
func TestProbesSkipAudit(t *testing.T) {
	p := katalogPolicy(t, policy.EngineNative, "")
	pl, err := NewPlan(p, Endpoint{Namespace: "orkestra-system", Service: "gw"}, testCA, both)
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, pr := range pl.Probes("guard", webhook.Validate) {
		targets = append(targets, pr.Target)
	}
	want := []string{ProbeTarget(policy.EngineNative, "orkestra-gateway-guard-validate"), ProbeTarget(policy.EngineNative, "orkestra-gateway-guard-validate-warn")}
	if strings.Join(targets, " ") != strings.Join(want, " ") {
		t.Errorf("probes of validate %q, want %q", targets, want)
	}
	var audit Plan
	audit.Engines = pl.Engines
	for _, np := range pl.Native {
		if np.Part.Audit {
			audit.Native = append(audit.Native, np)
		}
	}
	if len(audit.Native) != 1 {
		t.Fatalf("audit policies %v", sortedNames(audit.Native))
	}
	if audit.inForce(context.Background(), neverProber{}, "guard", webhook.Validate, true) {
		t.Error("an audit policy written this time is taken to be in force")
	}
	if !audit.inForce(context.Background(), neverProber{}, "guard", webhook.Validate, false) {
		t.Error("an audit policy unchanged since an earlier Apply is not taken to be in force")
	}
}

// neverProber sees no probe answered.
type neverProber struct{}

func (neverProber) Wait(context.Context, Probe) bool { return false }
