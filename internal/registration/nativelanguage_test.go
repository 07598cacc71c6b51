package registration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/orkspace/orkestra-gateway/internal/admission"
	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// The richer rule language under the native engine: every construct
// either compiles to policies with the webhook engine's verdicts, or the
// check pass refuses it (never a policy that decides otherwise).
const languageKatalog = `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: lang
gateway:
  namespace: orkestra-system
security:
  webhooks:
    admission:
      engine: native
spec:
  crds:
    pod:
      apiTypes: {group: "", version: v1, kind: Pod, plural: pods}
      webhooks: {operations: [CREATE, UPDATE]}
      validation:
        rules:
          - {field: "spec.containers[*].image", prefix: registry.example.com/, message: images come from registry.example.com}
          - {field: "spec.containers[*].image", notSuffix: ":latest", message: "pin images, not :latest", action: warn}
          - {name: limits, field: "spec.containers[*].resources.limits.memory", exists: true, message: every container sets a memory limit, action: audit}
          - {field: spec.priority, lte: "{{ .spec.maxPriority }}", message: "priority above {{ .spec.maxPriority }}"}
          - {field: metadata.labels.team, equals: "{{ .metadata.namespace }}", message: the team label names the namespace}
          - {field: spec.hostNetwork, notEquals: true, message: platform admins only, when: [{field: request.userInfo.groups, notContains: platform-admins}]}
          - {field: metadata.labels.frozen, exists: true, message: a frozen pod stays frozen, when: [{field: oldObject.metadata.labels.frozen, equals: "true"}]}
          - {expression: "!has(object.spec.hostPID) || !object.spec.hostPID", message: no host PID}
          - {expression: "object.spec.containers.size() <= 2", messageExpression: "'too many containers: ' + string(object.spec.containers.size())", message: too many containers, action: warn}
          - {name: annotated, expression: "has(object.metadata.annotations)", message: pods carry annotations, action: audit}
      mutation:
        rules:
          - {field: "spec.containers[*].imagePullPolicy", default: IfNotPresent}
    site:
      apiTypes: {group: web.example.com, version: v1, kind: Website, plural: websites}
      enforcement: audit
      validation:
        rules:
          - {field: spec.replicas, between: "1,10", message: replicas between 1 and 10}
          - {field: spec.image, prefix: registry/, message: images from registry/, action: warn}
`

func languagePolicy(t *testing.T, text string) *policy.Policy {
	t.Helper()
	f, errs := katalog.Parse("katalog.yaml", []byte(text))
	res := check.Run(f, errs)
	if res.Policy == nil {
		t.Fatalf("the check pass refuses the Katalog: %+v", res.Findings)
	}
	return res.Policy
}

// languageRequest is an admission request for a pod or website.
func languageRequest(t *testing.T, op admissionv1.Operation, resource string, obj, old map[string]any, user string, groups ...string) *admissionv1.AdmissionRequest {
	t.Helper()
	group, kind := "", "Pod"
	if resource == "websites" {
		group, kind = "web.example.com", "Website"
	}
	raw := func(o map[string]any) runtime.RawExtension {
		if o == nil {
			return runtime.RawExtension{}
		}
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return runtime.RawExtension{Raw: b}
	}
	name, _ := obj["metadata"].(map[string]any)["name"].(string)
	return &admissionv1.AdmissionRequest{
		UID: "u", Kind: metav1.GroupVersionKind{Group: group, Version: "v1", Kind: kind},
		Resource: metav1.GroupVersionResource{Group: group, Version: "v1", Resource: resource},
		Name:     name, Namespace: "shop", Operation: op,
		UserInfo: authenticationv1.UserInfo{Username: user, Groups: groups},
		Object:   raw(obj), OldObject: raw(old),
	}
}

// webhookVerdict is what the webhook engine answers, in the simulator's
// terms (the denial without the policy's name).
// final is the request the validating policies see: mutated.
func webhookVerdict(t *testing.T, p *policy.Policy, req *admissionv1.AdmissionRequest) (v simVerdict, final *admissionv1.AdmissionRequest) {
	t.Helper()
	ds, final, err := admission.Review(context.Background(), p, req, func(doc, patch []byte) ([]byte, error) {
		pt, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, err
		}
		return pt.Apply(doc)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Webhook != admission.NameValidate {
			continue
		}
		if !d.Response.Allowed {
			v.denial = d.Response.Result.Message
		}
		v.warnings = append(v.warnings, d.Response.Warnings...)
		for _, a := range d.Response.AuditAnnotations {
			v.audits = append(v.audits, a)
		}
	}
	sort.Strings(v.audits)
	return v, final
}

func TestNativeLanguage(t *testing.T) {
	p := languagePolicy(t, languageKatalog)
	engines := map[webhook.Feature]policy.Engine{}
	for _, f := range webhook.Features {
		engines[f] = policy.EngineNative
	}
	ps, err := DesiredNative(p, Endpoint{Namespace: "orkestra-system"}, engines)
	if err != nil {
		t.Fatal(err)
	}
	sim := newSimulator(t)
	c := func(name, image string, limits bool) map[string]any {
		out := map[string]any{"name": name, "image": image}
		if limits {
			out["resources"] = map[string]any{"limits": map[string]any{"memory": "64Mi"}}
		}
		return out
	}
	pod := func(labels map[string]any, spec map[string]any, cs ...any) map[string]any {
		md := map[string]any{"name": "web", "namespace": "shop"}
		if labels != nil {
			md["labels"] = labels
		}
		s := map[string]any{"containers": cs}
		for k, v := range spec {
			s[k] = v
		}
		return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": s}
	}
	good := c("app", "registry.example.com/app:1", true)
	for _, tc := range []struct {
		name string
		req  *admissionv1.AdmissionRequest
		// What the CEL rules add to the webhook engine's verdict (the
		// webhook engine passes over them).
		celDenial string
		celWarn   []string
		celAudit  []string
	}{
		{name: "a good pod", req: languageRequest(t, admissionv1.Create, "pods", pod(nil, nil, good), nil, "dave"),
			celAudit: []string{"pod/annotated would deny: pods carry annotations"}},
		{name: "[*]: one failure per container, warn and audit per element",
			req:     languageRequest(t, admissionv1.Create, "pods", pod(nil, nil, good, c("hub", "docker.io/hub:latest", false), c("l", "registry.example.com/l:latest", false)), nil, "dave"),
			celWarn: []string{"too many containers: 3"}, celAudit: []string{"pod/annotated would deny: pods carry annotations"}},
		{name: "template operands", req: languageRequest(t, admissionv1.Create, "pods",
			pod(map[string]any{"team": "payments"}, map[string]any{"priority": int64(5), "maxPriority": int64(3)}, good), nil, "dave"),
			celAudit: []string{"pod/annotated would deny: pods carry annotations"}},
		{name: "template operand of the wrong type", req: languageRequest(t, admissionv1.Create, "pods",
			pod(map[string]any{"team": "shop"}, map[string]any{"priority": int64(5), "maxPriority": "many"}, good), nil, "dave"),
			celAudit: []string{"pod/annotated would deny: pods carry annotations"}},
		{name: "userInfo: a developer on the host network", req: languageRequest(t, admissionv1.Create, "pods",
			pod(nil, map[string]any{"hostNetwork": true}, good), nil, "dave", "developers"),
			celAudit: []string{"pod/annotated would deny: pods carry annotations"}},
		{name: "userInfo: a platform admin on the host network", req: languageRequest(t, admissionv1.Create, "pods",
			pod(nil, map[string]any{"hostNetwork": true}, good), nil, "pat", "platform-admins"),
			celAudit: []string{"pod/annotated would deny: pods carry annotations"}},
		{name: "oldObject: a frozen pod unfrozen", req: languageRequest(t, admissionv1.Update, "pods",
			pod(nil, nil, good), pod(map[string]any{"frozen": "true"}, nil, good), "dave"),
			celAudit: []string{"pod/annotated would deny: pods carry annotations"}},
		{name: "oldObject: on CREATE there is none", req: languageRequest(t, admissionv1.Create, "pods",
			pod(nil, nil, good), nil, "dave"),
			celAudit: []string{"pod/annotated would deny: pods carry annotations"}},
		{name: "a CEL deny rule alone", req: languageRequest(t, admissionv1.Create, "pods",
			pod(nil, map[string]any{"hostPID": true}, good), nil, "dave"),
			celDenial: "orkestra-gateway-lang-validate: no host PID", celAudit: []string{"pod/annotated would deny: pods carry annotations"}},
		{name: "enforcement: audit", req: languageRequest(t, admissionv1.Create, "websites",
			map[string]any{"apiVersion": "web.example.com/v1", "kind": "Website", "metadata": map[string]any{"name": "w"}, "spec": map[string]any{"replicas": int64(20), "image": "docker.io/x"}}, nil, "dave")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, final := webhookVerdict(t, p, tc.req)
			if want.denial != "" {
				want.denial = "orkestra-gateway-lang-validate: " + want.denial
			} else {
				want.denial = tc.celDenial
			}
			want.warnings = append(want.warnings, tc.celWarn...)
			want.audits = append(want.audits, tc.celAudit...)
			sort.Strings(want.audits)
			got := sim.run(ps, tc.req)
			if wantObj := decodeRaw(t, final.Object.Raw); !jsonEqual(got.object, wantObj) {
				t.Errorf("mutated object: native %v, webhook %v", got.object, wantObj)
			}
			got.object = nil
			sort.Strings(got.audits)
			if got.denial != want.denial || !slices.Equal(got.warnings, want.warnings) || !slices.Equal(got.audits, want.audits) {
				t.Errorf("the engines disagree\nwebhook (and CEL):\n%s\nnative:\n%s", showVerdict(want), showVerdict(got))
			}
		})
	}
}

func decodeRaw(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	var u, v any
	_ = json.Unmarshal(x, &u)
	_ = json.Unmarshal(y, &v)
	return fmt.Sprint(u) == fmt.Sprint(v)
}

func showVerdict(v simVerdict) string {
	return fmt.Sprintf("  denial: %s\n  warnings: %q\n  audits: %q", v.denial, v.warnings, v.audits)
}

// The audit policy has its own Audit binding, and enforced policies hold no
// audited rule.
func TestNativeAuditBinding(t *testing.T) {
	p := languagePolicy(t, languageKatalog)
	engines := map[webhook.Feature]policy.Engine{webhook.Validate: policy.EngineNative}
	ps, err := DesiredNative(p, Endpoint{Namespace: "orkestra-system"}, engines)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]string{}
	for _, np := range ps {
		actions[np.Name()] = fmt.Sprint(np.ValidatingBinding.Spec.ValidationActions)
		for _, v := range np.Validating.Spec.Validations[1:] { // [0] answers the probe
			if strings.Contains(v.Message, " would ") != strings.HasSuffix(np.Name(), "-audit") {
				t.Errorf("%s holds validation %q", np.Name(), v.Message)
			}
		}
	}
	want := map[string]string{
		"orkestra-gateway-lang-validate": "[Deny]", "orkestra-gateway-lang-validate-warn": "[Warn]", "orkestra-gateway-lang-validate-audit": "[Audit]",
	}
	if fmt.Sprint(actions) != fmt.Sprint(want) {
		t.Errorf("bindings %v, want %v", actions, want)
	}
}
