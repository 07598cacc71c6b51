package admission

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

var pods = gvr{"", "v1", "Pod", "pods"}

func shorthandTest(field, op string, v any) katalog.Test {
	t := katalog.Test{Field: field}
	x := &katalog.Value{V: v}
	switch op {
	case "prefix":
		t.Prefix = x
	case "notSuffix":
		t.NotSuffix = x
	case "exists":
		t.Exists = x
	case "lte":
		t.Lte = x
	case "notEquals":
		t.NotEquals = x
	case "contains":
		t.Contains = x
	default:
		panic(op)
	}
	return t
}

// podPolicy guards Pods (a built-in resource of the core group) with [*]
// rules, a template operand, conditions on the user and the old object,
// and a CEL rule the webhook never evaluates.
func podPolicy(t testing.TB) *policy.Policy {
	t.Helper()
	p := &policy.Policy{
		Name:      "pods",
		Gateway:   policy.Gateway{Namespace: "orkestra-system"},
		Admission: policy.Admission{Endpoint: policy.Endpoint{Enabled: true, FailurePolicy: policy.Ignore}, Engine: policy.EngineAuto},
	}
	c := &policy.CRD{
		Name: "pod", Group: "", Version: "v1", Kind: "Pod", Plural: "pods", Namespaced: true, BuiltIn: true,
		Versions: []string{"v1"}, Validate: true, Mutate: true, Operations: []string{"CREATE", "UPDATE"},
		Validation: compileValidation(t, []katalog.Rule{
			{Test: shorthandTest("spec.containers[*].image", "prefix", "registry.example.com/"), Message: "images come from registry.example.com"},
			{Test: shorthandTest("spec.containers[*].image", "notSuffix", ":latest"), Message: "no :latest images"},
			{Test: shorthandTest("spec.containers[*].resources.limits", "exists", true), Message: "every container has resource limits"},
			{Test: shorthandTest("spec.initContainers[*].resources.limits", "exists", true), Message: "every init container has resource limits"},
			{Test: shorthandTest("spec.priority", "lte", "{{ .metadata.annotations.maxPriority }}"), Message: "priority above the annotated maximum"},
			{Test: shorthandTest("spec.nodeName", "exists", false), Message: "only schedulers pick nodes",
				When: []katalog.Condition{{Test: shorthandTest("request.userInfo.groups", "contains", "developers")}}},
			{Test: shorthandTest("spec.activeDeadlineSeconds", "exists", true), Message: "a deadline, once set, stays",
				When: []katalog.Condition{{Test: shorthandTest("oldObject.spec.activeDeadlineSeconds", "exists", true)}}},
			{Expression: "object.spec.containers.size() <= 3", Message: "at most 3 containers"},
		}),
		Mutation: compileMutation(t, []katalog.MutationRule{
			{Field: "spec.containers[*].imagePullPolicy", Default: &katalog.Value{V: "IfNotPresent"}},
		}),
	}
	p.CRDs = []*policy.CRD{c}
	return p
}

func container(name, image string, limits bool) map[string]any {
	c := map[string]any{"name": name, "image": image}
	if limits {
		c["resources"] = map[string]any{"limits": map[string]any{"memory": "64Mi", "cpu": "100m"}}
	}
	return c
}

func podObj(ns, name string, containers ...any) obj {
	return newObj("v1", "Pod", ns, name).spec("containers", containers, "initContainers", []any{})
}

func TestPodRules(t *testing.T) {
	p := podPolicy(t)
	h := NewValidation(p)

	t.Run("good pod", func(t *testing.T) {
		good := podObj("apps", "ok", container("a", "registry.example.com/a:1", true), container("b", "registry.example.com/b:2", true))
		wantAllowed(t, handle(h, request(admissionv1.Create, pods, good, nil)))
	})
	t.Run("one cause per failing container, with its index", func(t *testing.T) {
		bad := podObj("apps", "bad",
			container("a", "registry.example.com/a:1", true),
			container("b", "docker.io/b:1", false),
			container("c", "registry.example.com/c:latest", true),
			container("d", "registry.example.com/d:1", true))
		resp := handle(h, request(admissionv1.Create, pods, bad, nil))
		wantDenied(t, resp, 422, metav1.StatusReasonInvalid, `Pod "bad" is invalid: [`,
			`spec.containers[1].image: Invalid value: "docker.io/b:1": images come from registry.example.com`,
			`spec.containers[2].image: Invalid value: "registry.example.com/c:latest": no :latest images`,
			"spec.containers[1].resources.limits: every container has resource limits")
		var fields []string
		for _, c := range resp.Result.Details.Causes {
			fields = append(fields, c.Field)
		}
		if got := strings.Join(fields, ","); got != "spec.containers[1].image,spec.containers[2].image,spec.containers[1].resources.limits" {
			t.Errorf("causes %s", got)
		}
		if d := resp.Result.Details; d.Group != "" || d.Kind != "Pod" {
			t.Errorf("details %+v", d)
		}
	})
	t.Run("template operand", func(t *testing.T) {
		o := podObj("apps", "prio", container("a", "registry.example.com/a:1", true))
		o.meta()["annotations"] = map[string]any{"maxPriority": "100"}
		o["spec"].(map[string]any)["priority"] = 1000
		wantDenied(t, handle(h, request(admissionv1.Create, pods, o, nil)), 422, metav1.StatusReasonInvalid,
			"spec.priority: Invalid value: 1000: priority above the annotated maximum")
		o["spec"].(map[string]any)["priority"] = 100
		wantAllowed(t, handle(h, request(admissionv1.Create, pods, o, nil)))
	})
	t.Run("condition on the user's groups", func(t *testing.T) {
		o := podObj("apps", "pinned", container("a", "registry.example.com/a:1", true))
		o["spec"].(map[string]any)["nodeName"] = "node-1"
		wantDenied(t, handle(h, as(request(admissionv1.Create, pods, o, nil), "dave", "developers", "system:authenticated")),
			422, metav1.StatusReasonInvalid, "spec.nodeName: Invalid value: \"node-1\": only schedulers pick nodes")
		wantAllowed(t, handle(h, as(request(admissionv1.Create, pods, o, nil), "system:kube-scheduler", "system:authenticated")))
	})
	t.Run("condition on the old object", func(t *testing.T) {
		old := podObj("apps", "deadline", container("a", "registry.example.com/a:1", true))
		old["spec"].(map[string]any)["activeDeadlineSeconds"] = 60
		cur := podObj("apps", "deadline", container("a", "registry.example.com/a:1", true))
		wantDenied(t, handle(h, request(admissionv1.Update, pods, cur, old)), 422, metav1.StatusReasonInvalid,
			"spec.activeDeadlineSeconds: a deadline, once set, stays")
		wantAllowed(t, handle(h, request(admissionv1.Create, pods, cur, nil)))
	})
	t.Run("CEL rules are not evaluated by the webhook", func(t *testing.T) {
		four := podObj("apps", "four", container("a", "registry.example.com/a:1", true), container("b", "registry.example.com/b:1", true),
			container("c", "registry.example.com/c:1", true), container("d", "registry.example.com/d:1", true))
		wantAllowed(t, handle(h, request(admissionv1.Create, pods, four, nil)))
	})
	t.Run("mutation of every container", func(t *testing.T) {
		o := podObj("apps", "m", container("a", "registry.example.com/a:1", true), container("b", "registry.example.com/b:1", true))
		o["spec"].(map[string]any)["containers"].([]any)[1].(map[string]any)["imagePullPolicy"] = "Always"
		resp := handle(NewMutation(p), request(admissionv1.Create, pods, o, nil))
		if !resp.Allowed || string(resp.Patch) != `[{"op":"add","path":"/spec/containers/0/imagePullPolicy","value":"IfNotPresent"}]` {
			t.Errorf("patch %s", show(resp))
		}
	})
	t.Run("Review matches Pods of the core group", func(t *testing.T) {
		o := podObj("apps", "r", container("a", "docker.io/a", true))
		ds, final, err := Review(context.Background(), p, request(admissionv1.Create, pods, o, nil), applyPatch)
		if err != nil || len(ds) != 2 || ds[0].Webhook != NameMutate || ds[1].Webhook != NameValidate || Allowed(ds) {
			t.Fatalf("decisions %+v, %v", ds, err)
		}
		var got obj
		if err := json.Unmarshal(final.Object.Raw, &got); err != nil {
			t.Fatal(err)
		}
		if got["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["imagePullPolicy"] != "IfNotPresent" {
			t.Errorf("Review's final object is not the mutated one: %s", final.Object.Raw)
		}
		sys := request(admissionv1.Create, pods, podObj("kube-system", "r", container("a", "docker.io/a", true)), nil)
		if ds, _, _ := Review(context.Background(), p, sys, applyPatch); len(ds) != 0 {
			t.Errorf("kube-system Pods reach %d webhooks, want none", len(ds))
		}
	})
}

// A user's identity reaches the rules through the fast path too (rules
// that read only a selection of the object).
func TestUserConditionOnSelectedFields(t *testing.T) {
	p := podPolicy(t)
	p.CRDs[0].Validation = compileValidation(t, []katalog.Rule{
		{Test: shorthandTest("spec.hostNetwork", "exists", false), Message: "no host network for you",
			When: []katalog.Condition{{Test: shorthandTest("request.userInfo.username", "notEquals", "admin")}}},
	})
	h := NewValidation(p)
	if h.(*validation).sel[p.CRDs[0]] == nil {
		t.Fatal("rules on the request read no object: the entry should decode selected fields only")
	}
	o := podObj("apps", "h", container("a", "x", true))
	o["spec"].(map[string]any)["hostNetwork"] = true
	wantDenied(t, handle(h, as(request(admissionv1.Create, pods, o, nil), "eve")), 422, metav1.StatusReasonInvalid, "no host network for you")
	wantAllowed(t, handle(h, as(request(admissionv1.Create, pods, o, nil), "admin")))
}

// FuzzSelectedPodValidation holds the selected-field fast path equal to
// whole-object evaluation for rules with [*], a field operand and a
// condition on the user.
func FuzzSelectedPodValidation(f *testing.F) {
	p := podPolicy(f)
	p.CRDs[0].Validation = compileValidation(f, []katalog.Rule{
		{Test: shorthandTest("spec.containers[*].image", "prefix", "r/"), Message: "{{ .metadata.name }}: registry"},
		{Test: shorthandTest("spec.containers[*].ports[*].limits", "exists", true), Message: "limits"},
		{Test: shorthandTest("spec.priority", "lte", "{{ .spec.max }}"), Message: "priority",
			When: []katalog.Condition{{Test: shorthandTest("request.userInfo.username", "notEquals", "admin")}}},
	})
	h := NewValidation(p).(*validation)
	if h.sel[p.CRDs[0]] == nil {
		f.Fatal("no selection for rules that read known fields")
	}
	f.Add([]byte(`{"metadata":{"name":"p"},"spec":{"containers":[{"image":"r/a","ports":[{"limits":1},{}]},{"image":"x"}],"priority":5,"max":3}}`))
	f.Add([]byte(`{"spec":{"containers":{"image":"x"},"priority":"5","max":null}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if strings.Count(string(raw), "[") > 1000 {
			return
		}
		req := request(admissionv1.Create, pods, podObj("apps", "x"), nil)
		req.Object.Raw = raw
		agreesWithWhole(t, h, req, raw)
	})
}
