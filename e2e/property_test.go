package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// The property test: generated validation and mutation rules (every
// operator, when/or, warn and deny, templates, default and override on
// keys that need ~0 and ~1) and generated objects, each object created (dry
// run) through a real API server against the same rules under each
// engine, with the same outcome: allowed with the same mutated object, or
// denied with the same code, reason and message, and the same warnings.
//
// The generators stay within what both engines render alike (ASCII text,
// no line breaks, lists and maps nested at most three deep in messages,
// numbers below 1e6): the documented differences are not properties.

const propertySeed = 20260714

// propertyCRD is a namespaced kind whose spec keeps any field.
func propertyCRD(group string) string {
	return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.` + group + `
spec:
  group: ` + group + `
  names: {kind: Gadget, listKind: GadgetList, plural: gadgets, singular: gadget}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              x-kubernetes-preserve-unknown-fields: true
`
}

var (
	propPaths = []string{"spec.a", "spec.b", "spec.c", `spec.t["x/y"]`, `spec.t["a~b"]`, "spec.l[0]", "spec.l[1].k", "spec.m.p.q",
		"metadata.labels.team", `metadata.annotations["example.com/x"]`}
	propStrings   = []string{"", "a", "gold", "prod", "registry.example.com/x:1", "x/y", "a~b", " sp ", "<b>&", `q"uote\`, "5", "true", "null", "GOLD"}
	propTemplates = []string{
		"{{ .spec.a }} is wrong",
		`b {{ .spec.b | default "none" }}`,
		"{{ if .spec.c }}c={{ .spec.c }}{{ else }}no c{{ end }}",
		"t {{ toJSON .spec.t }}",
		"{{ len .spec.l }} items",
		"{{ .metadata.name | upper }}: {{ index .spec.t \"x/y\" }}",
		"{{ .spec.m.p.q }}!",
		`{{ quote .spec.a }} and {{ join "," .spec.l }}`,
	}
	propMutationKeys = []string{"p", "x/y", "a~b"}
)

func propValue(r *rand.Rand, depth int) any {
	switch n := r.IntN(10); {
	case n == 0:
		return nil
	case n == 1:
		return r.IntN(2) == 0
	case n == 2:
		return int64(r.IntN(26) - 5)
	case n == 3:
		return []float64{0.5, 2.5, -1.25}[r.IntN(3)]
	case n <= 6 || depth <= 0:
		return propStrings[r.IntN(len(propStrings))]
	case n <= 8:
		l := make([]any, r.IntN(3))
		for i := range l {
			l[i] = propValue(r, depth-1)
		}
		return l
	default:
		m := map[string]any{}
		for range r.IntN(3) {
			m[[]string{"k", "x/y", "a~b"}[r.IntN(3)]] = propValue(r, depth-1)
		}
		return m
	}
}

func propTest(r *rand.Rand) string {
	ops := []string{"exists", "notExists", "equals", "notEquals", "contains", "notContains", "prefix", "notPrefix", "suffix", "notSuffix",
		"regex", "gt", "gte", "lt", "lte", "between", "notBetween", "in", "notIn", "typeString", "typeNumber", "typeBool", "typeList", "typeMap", "typeNull"}
	op := ops[r.IntN(len(ops))]
	var operand any
	switch op {
	case "exists", "notExists", "typeString", "typeNumber", "typeBool", "typeList", "typeMap", "typeNull":
		operand = r.IntN(3) > 0
	case "gt", "gte", "lt", "lte":
		operand = []any{int64(0), int64(3), 2.5, "-1"}[r.IntN(4)]
	case "between", "notBetween":
		operand = []any{"1,10", []any{int64(-2), 2.5}}[r.IntN(2)]
	case "in", "notIn":
		l := make([]any, 1+r.IntN(3))
		for i := range l {
			l[i] = propValue(r, 1)
		}
		operand = l
	case "prefix", "notPrefix", "suffix", "notSuffix":
		operand = propStrings[r.IntN(len(propStrings))]
	case "regex":
		operand = []string{"^a", "o", `\d`, "^$", "(?i)gold"}[r.IntN(5)]
	case "equals", "notEquals":
		if operand = propValue(r, 1); operand == nil {
			operand = "x"
		}
	default:
		if operand = propValue(r, 1); operand == nil {
			operand = "prod"
		}
	}
	return fmt.Sprintf("field: %s, %s: %s", jsonText(propPaths[r.IntN(len(propPaths))]), op, jsonText(operand))
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// propRules writes one batch's validation and mutation rules (YAML).
func propRules(r *rand.Rand) string {
	var b strings.Builder
	b.WriteString("      validation:\n        rules:\n")
	for i := range 10 {
		msg := fmt.Sprintf("rule %d", i)
		if r.IntN(2) == 0 {
			msg = propTemplates[r.IntN(len(propTemplates))]
		}
		fmt.Fprintf(&b, "          - {%s, message: %s", propTest(r), jsonText(msg))
		if r.IntN(3) == 0 {
			b.WriteString(", action: warn")
		}
		if r.IntN(3) == 0 {
			fmt.Fprintf(&b, ", when: [{%s}]", propTest(r))
		}
		if r.IntN(4) == 0 {
			fmt.Fprintf(&b, ", or: [{%s}, {%s}]", propTest(r), propTest(r))
		}
		b.WriteString("}\n")
	}
	b.WriteString("      mutation:\n        rules:\n")
	for range 4 {
		key := "default"
		if r.IntN(2) == 0 {
			key = "override"
		}
		field := `metadata.annotations["example.com/m"]`
		v := any(propStrings[1+r.IntN(len(propStrings)-1)])
		if r.IntN(4) > 0 {
			field = fmt.Sprintf("spec.m[%q][%q]", propMutationKeys[r.IntN(3)], propMutationKeys[r.IntN(3)])
			if v = propValue(r, 1); v == nil {
				v = "x"
			}
		}
		fmt.Fprintf(&b, "          - {field: %s, %s: %s", jsonText(field), key, jsonText(v))
		if r.IntN(4) == 0 {
			fmt.Fprintf(&b, ", when: [{%s}]", propTest(r))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// propObject is a generated Gadget. Under spec.m the mutation paths only
// ever meet maps, null or absence, so no mutation rule fails (where the
// webhook engine skips every mutation, the native one only the rule).
func propObject(r *rand.Rand, name string) map[string]any {
	spec := map[string]any{}
	for _, k := range []string{"a", "b", "c"} {
		if r.IntN(4) > 0 {
			spec[k] = propValue(r, 2)
		}
	}
	if r.IntN(3) > 0 {
		t := map[string]any{}
		for _, k := range []string{"x/y", "a~b"} {
			if r.IntN(2) == 0 {
				t[k] = propValue(r, 1)
			}
		}
		spec["t"] = t
	}
	if r.IntN(3) > 0 {
		l := make([]any, r.IntN(3))
		for i := range l {
			if r.IntN(2) == 0 {
				l[i] = map[string]any{"k": propValue(r, 1)}
			} else {
				l[i] = propValue(r, 1)
			}
		}
		spec["l"] = l
	}
	switch r.IntN(4) {
	case 0:
		spec["m"] = nil
	case 1, 2:
		m := map[string]any{}
		for _, k1 := range propMutationKeys {
			switch r.IntN(3) {
			case 0:
				m[k1] = nil
			case 1:
				inner := map[string]any{}
				for _, k2 := range propMutationKeys {
					if r.IntN(2) == 0 {
						inner[k2] = propValue(r, 1)
					}
				}
				m[k1] = inner
			}
		}
		spec["m"] = m
	}
	md := map[string]any{"name": name}
	if r.IntN(2) == 0 {
		md["labels"] = map[string]any{"team": []string{"a", "gold", "x-y"}[r.IntN(3)]}
	}
	if r.IntN(2) == 0 {
		md["annotations"] = map[string]any{"example.com/x": propStrings[r.IntN(len(propStrings))], "example.com/m": ""}
	}
	return map[string]any{"kind": "Gadget", "metadata": md, "spec": spec}
}

// propertyGateway starts the gateway of one engine for a batch's rules
// and waits until its validation and mutation are in force.
func propertyGateway(t *testing.T, engine policy.Engine, group, rulesYAML string) *gateway {
	t.Helper()
	name := "prop-" + string(engine)
	katalog := `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: ` + name + `
gateway:
  standalone: true
  namespace: orkestra-system
  url: "{{URL}}"
security:
  webhooks:
    admission:
      enabled: true
      engine: ` + string(engine) + `
spec:
  crds:
    gadget:
      apiTypes: {group: ` + group + `, version: v1, kind: Gadget, plural: gadgets}
` + rulesYAML
	t.Cleanup(func() { removeAndWait(t, name, gatewayNamespace) })
	g := startGateway(t, gatewayOptions{Katalog: katalog, Args: []string{"--sync-interval", "1h"}})
	// The same probes the gateway makes when it switches engines.
	res, err := check.RunFile(g.katalog)
	if err != nil || res.Policy == nil {
		t.Fatalf("the generated Katalog: %v %+v", err, res.Findings)
	}
	pl, err := registration.NewPlan(res.Policy, registration.Endpoint{Namespace: gatewayNamespace, URL: res.Policy.Gateway.URL}, nil,
		registration.Support{Validating: true, Mutating: true})
	if err != nil {
		t.Fatal(err)
	}
	prober, err := registration.NewSecretProber(env.Config, env.HTTPClient(), gatewayNamespace, res.Policy.Certs.SecretName)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []webhook.Feature{webhook.Validate, webhook.Mutate} {
		for _, pr := range pl.Probes(name, f) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			ok := prober.Wait(ctx, pr)
			cancel()
			if !ok {
				t.Fatalf("%s not in force", pr.Target)
			}
		}
	}
	return g
}

// TestEnginesProperty: see the comment at the top of the file.
func TestEnginesProperty(t *testing.T) {
	const batches, objects = 4, 60
	removeOtherRegistrations(t, "")
	groups := map[policy.Engine]string{policy.EngineWebhook: "prop-w.example.com", policy.EngineNative: "prop-n.example.com"}
	for _, g := range groups {
		applyCRD(t, propertyCRD(g))
	}
	ensureNamespace(t, "prop", nil)
	r := rand.New(rand.NewPCG(propertySeed, 0))
	cases := 0
	kinds := map[string]int{} // what the cases exercised, so a vacuous run shows
	for batch := range batches {
		rulesYAML := propRules(r)
		objs := make([]map[string]any, objects)
		for i := range objs {
			objs[i] = propObject(r, fmt.Sprintf("obj-%d-%d", batch, i))
		}
		t.Run(fmt.Sprint("batch-", batch), func(t *testing.T) {
			outcomes := map[policy.Engine][]string{}
			for _, engine := range engines {
				g := propertyGateway(t, engine, groups[engine], rulesYAML)
				_, dyn, warns := clientsFor(t, env.Config)
				ri := dyn.Resource(schema.GroupVersionResource{Group: groups[engine], Version: "v1", Resource: "gadgets"}).Namespace("prop")
				for _, o := range objs {
					u := &unstructured.Unstructured{Object: deepCopy(o)}
					u.SetAPIVersion(groups[engine] + "/v1")
					got, err := ri.Create(context.Background(), u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
					outcomes[engine] = append(outcomes[engine], propOutcome(got, err, warns.take(), groups[engine]))
				}
				g.proc.Kill()
			}
			for i := range objs {
				cases++
				w, n := outcomes[policy.EngineWebhook][i], outcomes[policy.EngineNative][i]
				switch {
				case strings.HasPrefix(w, "denied"):
					kinds["denied"]++
				default:
					kinds["allowed"]++
				}
				if strings.Contains(w, "warning:") {
					kinds["warned"]++
				}
				if !strings.HasPrefix(w, "denied") && w != outcomeOf(objs[i]) {
					kinds["mutated"]++
				}
				if w != n {
					t.Errorf("seed %d batch %d object %d: the engines disagree\nrules:\n%s\nobject: %s\n  webhook: %q\n  native:  %q",
						propertySeed, batch, i, rulesYAML, jsonText(objs[i]), w, n)
				}
			}
		})
	}
	t.Logf("%d generated cases (seed %d), each through both engines: %v", cases, propertySeed, kinds)
	for _, k := range []string{"denied", "allowed", "warned", "mutated"} {
		if kinds[k] == 0 {
			t.Errorf("no generated case was %s: the generators do not cover it", k)
		}
	}
}

// propOutcome is one create's outcome as the engines must agree on it.
func propOutcome(got *unstructured.Unstructured, err error, warns []string, group string) string {
	v := newVerdicts("\x00")
	v.record("x", err, warns)
	out := v.seen["x"]
	if err == nil {
		out += " " + jsonText(got.Object["spec"]) + " " + jsonText(got.GetAnnotations())
	}
	return strings.ReplaceAll(out, group, "GROUP")
}

// outcomeOf is propOutcome of an object admitted unchanged.
func outcomeOf(o map[string]any) string {
	md, _ := o["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	annText := "null"
	if ann != nil {
		annText = jsonText(ann)
	}
	return "allowed " + jsonText(o["spec"]) + " " + annText
}

func deepCopy(m map[string]any) map[string]any {
	var out map[string]any
	if err := json.Unmarshal([]byte(jsonText(m)), &out); err != nil {
		panic(err)
	}
	return out
}
