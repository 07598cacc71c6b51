package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/orkspace/orkestra-gateway/internal/testenv"
)

var toolchainBuild struct {
	once sync.Once
	bin  string
	err  error
}

// toolchainBinary builds `ork` (the toolchain build) once per test binary.
func toolchainBinary(t *testing.T) string {
	t.Helper()
	toolchainBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "orkestra-e2e-toolchain-")
		if err != nil {
			toolchainBuild.err = err
			return
		}
		bin := filepath.Join(dir, "ork")
		if toolchainBuild.err = testenv.BuildBinary(bin, ""); toolchainBuild.err == nil {
			toolchainBuild.bin = bin
		}
	})
	if toolchainBuild.err != nil {
		t.Fatalf("building the toolchain: %v", toolchainBuild.err)
	}
	return toolchainBuild.bin
}

// evalCase is one request made twice: through `ork gateway eval` and
// through the API server, with the example's gateway answering.
type evalCase struct {
	name   string
	op     string // CREATE, UPDATE or DELETE
	gvr    schema.GroupVersionResource
	user   string
	groups []string // system:authenticated is added on both sides
	// object is the object created (CREATE), or created first by an admin
	// and then updated or deleted: its live state is the old object.
	object map[string]any
	// change makes the new object of an UPDATE from a copy of the live one.
	change func(obj map[string]any)
}

// evalComparisons are the requests compared per example directory. A
// directory without an entry fails TestEvalMatchesAPIServer.
//
// Not compared yet: CEL rules (examples/pods' privileged-container rule).
// They are enforced by the native engine, which registers admission
// policies; the webhook engine passes over them while eval evaluates them.
var evalComparisons = map[string]func(ns string) []evalCase{
	"gateway": gatewayEvalCases,
	"pods":    podEvalCases,
	"website": websiteEvalCases,
}

const evalGroup = "e2e:evalcmp" // bound to cluster-admin: only admission decides

func gatewayEvalCases(ns string) []evalCase {
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	cm := func(name string, labels map[string]any) map[string]any {
		md := map[string]any{"name": name, "namespace": ns}
		if labels != nil {
			md["labels"] = labels
		}
		return map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": map[string]any{"k": "v"}}
	}
	prot := map[string]any{protectionLabel: "true"}
	unlabel := func(o map[string]any) {
		delete(o["metadata"].(map[string]any)["labels"].(map[string]any), protectionLabel)
	}
	return []evalCase{
		{name: "create a ConfigMap", op: "CREATE", gvr: cms, user: "erin", groups: []string{evalGroup}, object: cm("plain", nil)},
		{name: "delete a protected ConfigMap", op: "DELETE", gvr: cms, user: "erin", groups: []string{evalGroup}, object: cm("guarded", prot)},
		{name: "delete an unprotected ConfigMap", op: "DELETE", gvr: cms, user: "erin", groups: []string{evalGroup}, object: cm("loose", nil)},
		{name: "strict mode: a cluster-admin outside break-glass removes the label", op: "UPDATE", gvr: cms, user: "erin", groups: []string{evalGroup},
			object: cm("strict", prot), change: unlabel},
		{name: "strict mode: break-glass by system:masters", op: "UPDATE", gvr: cms, user: "root", groups: []string{"system:masters"},
			object: cm("glass", prot), change: unlabel},
		{name: "strict mode: a label change keeping protection", op: "UPDATE", gvr: cms, user: "erin", groups: []string{evalGroup},
			object: cm("relabel", prot), change: func(o map[string]any) {
				o["metadata"].(map[string]any)["labels"].(map[string]any)["team"] = "shop"
			}},
	}
}

func podEvalCases(ns string) []evalCase {
	pods := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	container := func(name, image string, limits bool) map[string]any {
		c := map[string]any{"name": name, "image": image}
		if limits {
			c["resources"] = map[string]any{"limits": map[string]any{"memory": "64Mi", "cpu": "100m"}}
		}
		return c
	}
	pod := func(name string, labels map[string]any, spec map[string]any, containers ...map[string]any) map[string]any {
		md := map[string]any{"name": name, "namespace": ns}
		if labels != nil {
			md["labels"] = labels
		}
		cs := make([]any, len(containers))
		for i, c := range containers {
			cs[i] = c
		}
		s := map[string]any{"containers": cs, "automountServiceAccountToken": false}
		for k, v := range spec {
			s[k] = v
		}
		return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": s}
	}
	good := func() map[string]any { return container("app", "registry.example.com/app:1.0", true) }
	dev := []string{evalGroup, "developers"}
	return []evalCase{
		{name: "a good pod, mutated", op: "CREATE", gvr: pods, user: "dave", groups: dev,
			object: pod("good", nil, nil, good(), container("side", "registry.example.com/side:2", true))},
		{name: "images and limits, one cause per container", op: "CREATE", gvr: pods, user: "dave", groups: dev,
			object: pod("bad", nil, nil, good(), container("hub", "docker.io/hub:1", false), container("latest", "registry.example.com/l:latest", true))},
		{name: "init containers", op: "CREATE", gvr: pods, user: "dave", groups: dev,
			object: pod("bad-init", nil, map[string]any{"initContainers": []any{container("init", "registry.example.com/i:1", false)}}, good())},
		{name: "host network for a developer", op: "CREATE", gvr: pods, user: "dave", groups: dev,
			object: pod("dev-host", nil, map[string]any{"hostNetwork": true}, good())},
		{name: "host network for a platform admin", op: "CREATE", gvr: pods, user: "pat", groups: []string{evalGroup, "platform-admins"},
			object: pod("admin-host", nil, map[string]any{"hostNetwork": true}, good())},
		{name: "team label of another namespace", op: "CREATE", gvr: pods, user: "dave", groups: dev,
			object: pod("wrong-team", map[string]any{"team": "payments"}, nil, good())},
		{name: "update: a wrong team label", op: "UPDATE", gvr: pods, user: "dave", groups: dev,
			object: pod("relabel", map[string]any{"team": ns}, nil, good()), change: func(o map[string]any) {
				o["metadata"].(map[string]any)["labels"].(map[string]any)["team"] = "payments"
			}},
		{name: "update: the right team label", op: "UPDATE", gvr: pods, user: "dave", groups: dev,
			object: pod("relabel-ok", nil, nil, good()), change: func(o map[string]any) {
				o["metadata"].(map[string]any)["labels"] = map[string]any{"team": ns}
			}},
		{name: "delete a protected pod", op: "DELETE", gvr: pods, user: "dave", groups: dev,
			object: pod("kept", map[string]any{protectionLabel: "true"}, nil, good())},
	}
}

func websiteEvalCases(ns string) []evalCase {
	gvr := func(v string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: "web.example.com", Version: v, Resource: "websites"}
	}
	site := func(v, ns, name string, labels map[string]any, spec map[string]any) map[string]any {
		md := map[string]any{"name": name, "namespace": ns}
		if labels != nil {
			md["labels"] = labels
		}
		return map[string]any{"apiVersion": "web.example.com/" + v, "kind": "Website", "metadata": md, "spec": spec}
	}
	v2 := func(kv ...any) map[string]any {
		s := map[string]any{"image": "registry.example.com/site:1", "domain": "site.example.com", "replicas": int64(2)}
		for i := 0; i < len(kv); i += 2 {
			s[kv[i].(string)] = kv[i+1]
		}
		return s
	}
	u := []string{evalGroup}
	set := func(k string, v any) func(map[string]any) {
		return func(o map[string]any) { o["spec"].(map[string]any)[k] = v }
	}
	return []evalCase{
		// Rules read v2: the API server converts the v1 object (size 20 is
		// replicas 20) before validating.
		{name: "v1, size 20", op: "CREATE", gvr: gvr("v1"), user: "wes", groups: u,
			object: site("v1", ns, "big", nil, map[string]any{"image": "registry.example.com/a:1", "domain": "a.example.com", "size": int64(20)})},
		{name: "v1, size 3, mutated", op: "CREATE", gvr: gvr("v1"), user: "wes", groups: u,
			object: site("v1", ns, "small", nil, map[string]any{"image": "registry.example.com/a:1", "domain": "a.example.com", "size": int64(3)})},
		{name: "v3, 11 replicas", op: "CREATE", gvr: gvr("v3"), user: "wes", groups: u,
			object: site("v3", ns, "v3-big", nil, map[string]any{"image": "registry.example.com/a:1", "hostname": "a.example.com", "replicas": int64(11)})},
		{name: "v3, mutated", op: "CREATE", gvr: gvr("v3"), user: "wes", groups: u,
			object: site("v3", ns, "v3-ok", nil, map[string]any{"image": "registry.example.com/a:1", "hostname": "a.example.com", "replicas": int64(4)})},
		{name: "v2, tier gold", op: "CREATE", gvr: gvr("v2"), user: "wes", groups: u, object: site("v2", ns, "gold", nil, v2("tier", "gold"))},
		{name: "v2, premium with one replica", op: "CREATE", gvr: gvr("v2"), user: "wes", groups: u,
			object: site("v2", ns, "premium", nil, v2("tier", "premium", "replicas", int64(1)))},
		{name: "v2, every rule failing", op: "CREATE", gvr: gvr("v2"), user: "wes", groups: u,
			object: site("v2", ns, "all-bad", nil, v2("tier", "premium", "replicas", int64(0), "image", "docker.io/x"))},
		{name: "v2, image warning", op: "CREATE", gvr: gvr("v2"), user: "wes", groups: u,
			object: site("v2", ns, "warned", nil, v2("image", "docker.io/library/nginx"))},
		{name: "v2, namespace not allowed", op: "CREATE", gvr: gvr("v2"), user: "wes", groups: u,
			object: site("v2", "evalcmp-other", "elsewhere", nil, v2())},
		{name: "update v2 to 11 replicas", op: "UPDATE", gvr: gvr("v2"), user: "wes", groups: u,
			object: site("v2", ns, "grow", nil, v2()), change: set("replicas", int64(11))},
		{name: "update v1 size 3 to 4", op: "UPDATE", gvr: gvr("v1"), user: "wes", groups: u,
			object: site("v1", ns, "grow-v1", nil, map[string]any{"image": "registry.example.com/a:1", "domain": "a.example.com", "size": int64(3)}),
			change: set("size", int64(4))},
		{name: "delete a protected website", op: "DELETE", gvr: gvr("v2"), user: "wes", groups: u,
			object: site("v2", ns, "kept", map[string]any{protectionLabel: "true"}, v2())},
	}
}

// evalDoc is the part of `ork gateway eval -o json` compared.
type evalDoc struct {
	Allowed    bool   `json:"allowed"`
	APIVersion string `json:"apiVersion"`
	Conversion *struct {
		From, To string
	} `json:"conversion"`
	Decisions []struct {
		Webhook string          `json:"webhook"`
		Allowed bool            `json:"allowed"`
		Status  *metav1.Status  `json:"status"`
		Patch   json.RawMessage `json:"patch"`
	} `json:"decisions"`
	PolicyDenials   []metav1.Status `json:"policyDenials"`
	Warnings        []string        `json:"warnings"`
	Object          map[string]any  `json:"object"`
	ValidatedObject map[string]any  `json:"validatedObject"`
}

// TestEvalMatchesAPIServer runs the same requests through `ork gateway
// eval` and through the API server with each example's gateway, and
// compares every verdict: allowed or denied, the denial's code, reason,
// message and causes, the warnings, and the object as mutated.
func TestEvalMatchesAPIServer(t *testing.T) {
	bin := toolchainBinary(t)
	files, err := filepath.Glob(filepath.Join("..", "examples", "*", "katalog.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("examples: %v %v", files, err)
	}
	bindGroup(t, evalGroup)
	for _, f := range files {
		dir := filepath.Dir(f)
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			cases := evalComparisons[name]
			if cases == nil {
				t.Fatalf("examples/%s has no eval comparison: add one to evalComparisons in e2e/eval_compare_test.go", name)
			}
			ns := fmt.Sprintf("evalcmp-%s-%d", name, time.Now().UnixNano()%1_000_000)
			if name == "website" {
				ns = "web-" + ns // the example allows web-* only
			}
			for _, n := range []string{ns, "evalcmp-other"} {
				ensureNamespace(t, n, nil)
			}
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
			if _, err := env.Clientset.CoreV1().ServiceAccounts(ns).Create(context.Background(), sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			ex := startExample(t, dir)
			waitExampleRules(t, name, ns)
			// The gateway's conversion key: eval then verifies the
			// preserved-fields annotations of live objects, and seals
			// its own as the gateway does.
			key := filepath.Join(t.TempDir(), "conversion.key")
			writeFile(t, key, string(gatewaySecret(t).Data["conversion.key"]))
			for _, c := range cases(ns) {
				t.Run(c.name, func(t *testing.T) { compareEval(t, bin, f, key, c) })
			}
			stopExample(t, ex)
		})
	}
}

// waitExampleRules waits until the rule webhooks answer (registration
// propagates asynchronously): a request the rules deny is denied.
func waitExampleRules(t *testing.T, name, ns string) {
	t.Helper()
	ctx := context.Background()
	switch name {
	case "pods":
		eventually(t, 20*time.Second, "pod rules active", func() error {
			p := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "probe"},
				"spec": map[string]any{"containers": []any{map[string]any{"name": "p", "image": "docker.io/p:1"}}}}
			_, err := env.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}).Namespace(ns).
				Create(ctx, &unstructured.Unstructured{Object: p}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if apierrors.IsInvalid(err) {
				return nil
			}
			return errorf("a pod from docker.io: %v", err)
		})
	case "website":
		eventually(t, 30*time.Second, "website rules and conversion active", func() error {
			w := map[string]any{"apiVersion": "web.example.com/v1", "kind": "Website", "metadata": map[string]any{"name": "probe"},
				"spec": map[string]any{"image": "registry.example.com/a:1", "domain": "a.example.com", "size": int64(99)}}
			_, err := env.Dynamic.Resource(schema.GroupVersionResource{Group: "web.example.com", Version: "v1", Resource: "websites"}).Namespace(ns).
				Create(ctx, &unstructured.Unstructured{Object: w}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if apierrors.IsInvalid(err) {
				return nil
			}
			return errorf("a v1 website of size 99: %v", err)
		})
	}
}

func compareEval(t *testing.T, bin, katalog, key string, c evalCase) {
	ctx := context.Background()
	admin := env.Dynamic.Resource(c.gvr)
	obj := deepCopyJSON(c.object)
	ns, _, _ := unstructured.NestedString(obj, "metadata", "namespace")
	name, _, _ := unstructured.NestedString(obj, "metadata", "name")
	t.Cleanup(func() { removeEvalObject(t, c.gvr, ns, name) })

	dir := t.TempDir()
	args := []string{"gateway", "eval", "-f", katalog, "--operation", c.op, "--user", c.user, "--conversion-key-file", key, "-o", "json"}
	for _, g := range c.groups {
		args = append(args, "--group", g)
	}
	newObj := obj
	if c.op != "CREATE" {
		live, err := admin.Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating the object to %s: %v", strings.ToLower(c.op), err)
		}
		newObj = live.Object
		if c.op == "UPDATE" {
			args = append(args, "--old", writeYAML(t, dir, "old.yaml", live.Object))
			newObj = deepCopyJSON(live.Object)
			c.change(newObj)
		}
	}
	args = append(args, "--object", writeYAML(t, dir, "object.yaml", newObj))

	// eval
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		t.Fatalf("ork %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var doc evalDoc
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("eval output: %v\n%s", err, out)
	}
	if code := cmd.ProcessState.ExitCode(); (code == 0) != doc.Allowed {
		t.Errorf("eval exit %d with allowed %t", code, doc.Allowed)
	}

	// the API server
	_, dyn, warns := clientsFor(t, env.ImpersonatedConfig(c.user, c.groups...))
	res := dyn.Resource(c.gvr).Namespace(ns)
	var got *unstructured.Unstructured
	switch c.op {
	case "CREATE":
		got, err = res.Create(ctx, &unstructured.Unstructured{Object: newObj}, metav1.CreateOptions{})
	case "UPDATE":
		got, err = res.Update(ctx, &unstructured.Unstructured{Object: newObj}, metav1.UpdateOptions{})
	case "DELETE":
		err = res.Delete(ctx, name, metav1.DeleteOptions{})
	}

	if doc.Allowed != (err == nil) {
		t.Fatalf("eval says allowed=%t, the API server answered %v\neval: %s", doc.Allowed, err, out)
	}
	if err != nil {
		compareDenial(t, err, doc, out)
	}
	if w := warns.msgs; !sameSet(w, doc.Warnings) {
		t.Errorf("warnings: API server %q, eval %q", w, doc.Warnings)
	}
	if err == nil && c.op != "DELETE" {
		compareMutation(t, c, got.Object, doc)
	}
}

// compareDenial checks that the API server's denial is one of the
// denials eval printed (validating webhooks and policies run in parallel:
// the API server returns the first to answer), word for word.
func compareDenial(t *testing.T, err error, doc evalDoc, out []byte) {
	t.Helper()
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("the API server's error is not a Status: %v", err)
	}
	st := se.ErrStatus
	if strings.Contains(st.Message, "ValidatingAdmissionPolicy '") {
		comparePolicyDenial(t, st, doc, out)
		return
	}
	prefix, msg, ok := strings.Cut(st.Message, " denied the request: ")
	if !ok || !strings.HasPrefix(prefix, "admission webhook ") {
		t.Fatalf("the API server's denial comes from neither an admission webhook nor a policy: %v", err)
	}
	var denials []string
	for _, d := range doc.Decisions {
		if d.Allowed || d.Status == nil {
			continue
		}
		e := d.Status
		denials = append(denials, fmt.Sprintf("%s: %d %s %q", d.Webhook, e.Code, e.Reason, e.Message))
		if e.Code != st.Code || e.Reason != st.Reason || e.Message != msg {
			continue
		}
		var want, have []metav1.StatusCause
		if e.Details != nil {
			want = e.Details.Causes
		}
		if st.Details != nil {
			have = st.Details.Causes
		}
		if !reflect.DeepEqual(want, have) {
			t.Errorf("causes: API server %+v, eval %+v", have, want)
		}
		return
	}
	t.Errorf("the API server's denial (%d %s %q) is none of eval's:\n  %s\neval: %s", st.Code, st.Reason, msg, strings.Join(denials, "\n  "), out)
}

// comparePolicyDenial checks that a ValidatingAdmissionPolicy's denial
// (the native engine's) is one of eval's policy denials: the whole Status,
// message, code, reason, details and causes.
func comparePolicyDenial(t *testing.T, st metav1.Status, doc evalDoc, out []byte) {
	t.Helper()
	var denials []string
	for _, e := range doc.PolicyDenials {
		denials = append(denials, fmt.Sprintf("%d %s %q", e.Code, e.Reason, e.Message))
		if e.Code != st.Code || e.Reason != st.Reason || e.Message != st.Message {
			continue
		}
		if !reflect.DeepEqual(e.Details, st.Details) {
			t.Errorf("details: API server %+v, eval %+v", st.Details, e.Details)
		}
		return
	}
	t.Errorf("the API server's policy denial (%d %s %q) is none of eval's:\n  %s\neval: %s", st.Code, st.Reason, st.Message, strings.Join(denials, "\n  "), out)
}

// compareMutation compares the object the API server admitted with
// eval's: at the request's version (what the client gets back) and at the
// rules' version (what the webhooks validated). Only what admission
// touched is compared where the API server adds defaults of its own
// (built-in resources): labels, annotations and every patched path.
func compareMutation(t *testing.T, c evalCase, got map[string]any, doc evalDoc) {
	t.Helper()
	builtIn := c.gvr.Group == ""
	for _, part := range [][]string{{"metadata", "labels"}, {"metadata", "annotations"}, {"spec"}} {
		if builtIn && part[0] == "spec" {
			continue
		}
		have, _, _ := unstructured.NestedFieldNoCopy(got, part...)
		want, _, _ := unstructured.NestedFieldNoCopy(doc.Object, part...)
		if m, ok := want.(map[string]any); ok && len(m) == 0 && builtIn {
			want = nil // a built-in kind's typed struct omits an empty map
		}
		if !jsonEqual(have, want) {
			t.Errorf("%s at %s: API server %v, eval %v", strings.Join(part, "."), c.gvr.Version, have, want)
		}
	}
	// At the rules' version: read back what was stored.
	gv, _ := schema.ParseGroupVersion(doc.APIVersion)
	ns, _, _ := unstructured.NestedString(got, "metadata", "namespace")
	name, _, _ := unstructured.NestedString(got, "metadata", "name")
	stored, err := env.Dynamic.Resource(gv.WithResource(c.gvr.Resource)).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !builtIn {
		have, _, _ := unstructured.NestedFieldNoCopy(stored.Object, "spec")
		if want := doc.ValidatedObject["spec"]; !jsonEqual(have, want) {
			t.Errorf("spec at %s: API server %v, eval %v", doc.APIVersion, have, want)
		}
	}
	for _, d := range doc.Decisions {
		if len(d.Patch) == 0 || string(d.Patch) == "null" {
			continue
		}
		var ops []struct {
			Op   string `json:"op"`
			Path string `json:"path"`
		}
		if err := json.Unmarshal(d.Patch, &ops); err != nil {
			t.Fatalf("patch of %s: %v", d.Webhook, err)
		}
		for _, op := range ops {
			have, hok := pointer(stored.Object, op.Path)
			want, wok := pointer(doc.ValidatedObject, op.Path)
			if hok != wok || !jsonEqual(have, want) {
				t.Errorf("%s at %s: API server %v, eval %v", op.Path, doc.APIVersion, have, want)
			}
		}
	}
}

// pointer resolves an RFC 6901 JSON pointer.
func pointer(obj any, p string) (any, bool) {
	cur := obj
	for _, tok := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			var i int
			if _, err := fmt.Sscan(tok, &i); err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var x, y any
	_ = json.Unmarshal(ja, &x)
	_ = json.Unmarshal(jb, &y)
	return reflect.DeepEqual(x, y)
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	sort.Strings(x)
	sort.Strings(y)
	x, y = slices.Compact(x), slices.Compact(y)
	return slices.Equal(x, y)
}

// deepCopyJSON copies an object through JSON.
func deepCopyJSON(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func writeYAML(t *testing.T, dir, name string, obj map[string]any) string {
	t.Helper()
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	writeFile(t, p, string(b))
	return p
}

// removeEvalObject lifts protection and deletes what a case left.
func removeEvalObject(t *testing.T, gvr schema.GroupVersionResource, ns, name string) {
	ctx := context.Background()
	res := env.Dynamic.Resource(gvr).Namespace(ns)
	live, err := res.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Errorf("reading %s/%s: %v", ns, name, err)
		return
	}
	if _, ok := live.GetLabels()[protectionLabel]; ok {
		unlabel := []byte(`{"metadata":{"labels":{"` + protectionLabel + `":null}}}`)
		if _, err := res.Patch(ctx, name, types.MergePatchType, unlabel, metav1.PatchOptions{}); err != nil {
			t.Errorf("unlabelling %s/%s: %v", ns, name, err)
		}
	}
	if err := res.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting %s/%s: %v", ns, name, err)
	}
}
