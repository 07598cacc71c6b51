//go:build !gateway

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const podKatalog = `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: pods
security:
  webhooks:
    admission:
      engine: auto
spec:
  crds:
    pod:
      apiTypes: {group: "", version: v1, kind: Pod, plural: pods}
      validation:
        rules:
          - field: spec.containers[*].image
            prefix: registry.example.com/
            message: images come from registry.example.com
          - expression: "object.spec.containers.all(c, has(c.resources) && has(c.resources.limits))"
            messageExpression: "'containers without limits: ' + object.spec.containers.filter(c, !has(c.resources) || !has(c.resources.limits)).map(c, c.name).join(', ')"
            message: every container has limits
          - expression: "namespaceObject == null || !('frozen' in namespaceObject.metadata.labels)"
            message: the namespace is frozen
          - expression: "request.userInfo.username != 'intern'"
            message: interns only watch
            action: warn
      mutation:
        rules:
          - field: spec.containers[*].imagePullPolicy
            default: IfNotPresent
          - field: spec.containers[*].resources.limits.memory
            default: 64Mi
`

func podYAML(containers string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: team\nspec:\n  containers:\n" + containers
}

func runIn(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	for i, a := range args {
		if strings.HasSuffix(a, ".yaml") {
			args[i] = filepath.Join(dir, a)
		}
	}
	var out, errOut bytes.Buffer
	code := run(append([]string{"gateway", "eval"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// CEL rules are evaluated locally as the API server would, on the mutated
// object, with request.userInfo and namespaceObject.
func TestGatewayEvalCEL(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"katalog.yaml": podKatalog,
		"good.yaml":    podYAML("    - {name: a, image: registry.example.com/a:1, resources: {limits: {cpu: 100m}}}\n"),
		// The mutation gives every container a memory limit: the CEL rule sees it.
		"nolimits.yaml": podYAML("    - {name: a, image: registry.example.com/a:1}\n    - {name: b, image: docker.io/b:1}\n"),
		"frozen.yaml":   "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n  labels: {frozen: \"true\"}\n",
		"other-ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"allowed", []string{"--object", "good.yaml"}, 0, []string{
			"CEL rules of pod (evaluated by the API server, failurePolicy Ignore): allowed",
			"CREATE Pod team/p: allowed",
		}},
		{"webhook denies, one cause per container", []string{"--object", "nolimits.yaml"}, 1, []string{
			`{"op":"add","path":"/spec/containers/0/imagePullPolicy","value":"IfNotPresent"}`,
			`Pod "p" is invalid: spec.containers[1].image: Invalid value: "docker.io/b:1": images come from registry.example.com`,
		}},
		{"namespaceObject", []string{"--object", "good.yaml", "--namespace-object", "frozen.yaml"}, 1, []string{
			"CEL rules of pod (evaluated by the API server, failurePolicy Ignore): denied",
			"  - validation.rules[2]: the namespace is frozen",
			"CREATE Pod team/p: denied",
		}},
		{"warn rule on the user", []string{"--object", "good.yaml", "--user", "intern"}, 0, []string{
			"  warning: validation.rules[3]: interns only watch",
			"CREATE Pod team/p: allowed",
		}},
		{"namespace object of another namespace", []string{"--object", "good.yaml", "--namespace-object", "other-ns.yaml"}, 2, nil},
		{"namespace object that is not a Namespace", []string{"--object", "good.yaml", "--namespace-object", "good.yaml"}, 2, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runIn(t, dir, append([]string{"-f", "katalog.yaml"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
		})
	}

	// The CEL rule sees the mutated object: b's memory limit was added, so
	// a pod whose containers have no limits passes it once mutated; without
	// the mutation rule it fails with the messageExpression.
	noMutation := strings.Split(podKatalog, "      mutation:")[0]
	if err := os.WriteFile(filepath.Join(dir, "nomut.yaml"), []byte(noMutation), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runIn(t, dir, "-f", "nomut.yaml", "--object", "good.yaml", "-o", "json")
	if code != 0 {
		t.Fatalf("good pod without mutation: exit %d\n%s", code, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "bare.yaml"), []byte(podYAML("    - {name: a, image: registry.example.com/a:1}\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runIn(t, dir, "-f", "nomut.yaml", "--object", "bare.yaml", "-o", "json")
	var doc evalJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 1 {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	if len(doc.Expressions) != 3 || doc.Expressions[0].Rule != 1 || doc.Expressions[0].Valid ||
		doc.Expressions[0].Message != "containers without limits: a" || !doc.Expressions[1].Valid || doc.Allowed {
		t.Errorf("expressions %+v, allowed %t", doc.Expressions, doc.Allowed)
	}
	code, out, _ = runIn(t, dir, "-f", "katalog.yaml", "--object", "bare.yaml")
	if code != 0 || !strings.Contains(out, "CEL rules of pod (evaluated by the API server, failurePolicy Ignore): allowed") {
		t.Errorf("mutated pod: exit %d\n%s", code, out)
	}
}

// With engine auto on a current cluster the rules are the native engine's:
// eval gives the denials and warnings of its policies in the API server's
// words, as the client sees them.
func TestGatewayEvalPolicyWording(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"katalog.yaml": podKatalog,
		"good.yaml":    podYAML("    - {name: a, image: registry.example.com/a:1, resources: {limits: {cpu: 100m}}}\n"),
		"bad.yaml":     podYAML("    - {name: a, image: registry.example.com/a:1}\n    - {name: b, image: docker.io/b:1}\n"),
		"frozen.yaml":  "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n  labels: {frozen: \"true\"}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	doc := func(args ...string) (int, evalJSON) {
		t.Helper()
		code, out, errOut := runIn(t, dir, append([]string{"-f", "katalog.yaml", "-o", "json"}, args...)...)
		var d evalJSON
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("%v\n%s%s", err, out, errOut)
		}
		return code, d
	}
	const validate = "orkestra-gateway-pods-validate"
	prefix := `pods "p" is forbidden: ValidatingAdmissionPolicy '` + validate + `' with binding '` + validate + `' denied request: `
	for _, tc := range []struct {
		name    string
		args    []string
		denial  string
		warning string
	}{
		{"field rules", []string{"--object", "bad.yaml"},
			prefix + `Pod "p" is invalid: spec.containers[1].image: Invalid value: "docker.io/b:1": images come from registry.example.com`, ""},
		{"a CEL rule", []string{"--object", "good.yaml", "--namespace-object", "frozen.yaml"}, prefix + "the namespace is frozen", ""},
		{"a CEL warn rule", []string{"--object", "good.yaml", "--user", "intern"}, "",
			"Validation failed for ValidatingAdmissionPolicy '" + validate + "-warn' with binding '" + validate + "-warn': interns only watch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, d := doc(tc.args...)
			if d.Engines["validate"] != "native" || d.Engines["mutate"] != "native" {
				t.Errorf("engines %v", d.Engines)
			}
			if tc.denial == "" {
				if code != 0 || len(d.PolicyDenials) != 0 {
					t.Errorf("exit %d, policy denials %+v", code, d.PolicyDenials)
				}
			} else {
				if code != 1 || len(d.PolicyDenials) != 1 {
					t.Fatalf("exit %d, policy denials %+v", code, d.PolicyDenials)
				}
				st := d.PolicyDenials[0]
				if st.Message != tc.denial || st.Code != 422 || st.Reason != "Invalid" || st.Details == nil || len(st.Details.Causes) != 1 ||
					st.Details.Causes[0].Message != strings.TrimPrefix(tc.denial, `pods "p" is forbidden: `) {
					t.Errorf("policy denial %+v\nwant message %q", st, tc.denial)
				}
			}
			if tc.warning != "" && !slices.Contains(d.Warnings, tc.warning) {
				t.Errorf("warnings %q lack %q", d.Warnings, tc.warning)
			}
		})
	}
}
