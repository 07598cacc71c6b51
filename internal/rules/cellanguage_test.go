package rules

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// The richer rule language compiled for the native engine, held to the
// webhook engine's evaluation with cel-go: [*] paths (one failure per
// element), template operands, conditions on the old object and the
// request, audit mode.

// genWildPath is genPath with [*] segments.
func genWildPath(r *rand.Rand) string {
	p := Path{}
	p.segs = append(p.segs, segment{key: []string{"spec", "metadata", "a"}[r.IntN(3)], index: -1})
	for range 1 + r.IntN(3) {
		switch r.IntN(5) {
		case 0, 1:
			p.segs = append(p.segs, segment{index: Wildcard})
		case 2:
			p.segs = append(p.segs, segment{index: r.IntN(2)})
		default:
			p.segs = append(p.segs, segment{key: genKey(r), index: -1})
		}
	}
	return p.format()
}

// operandTemplates are template operands: one-field templates (typed
// values) and others (their rendering, a number when it is one).
var operandTemplates = []string{
	"{{ .spec.a }}", "{{ .spec.tier }}", "{{ .a.b }}", "{{ .metadata.c }}", "{{ .spec }}",
	"{{ .spec.a }},{{ .spec.b }}", "x{{ .spec.tier }}", "{{ len .spec.a }}", `{{ .spec.tier | default "3" }}`,
	" 2.5 ", "{{ .spec.b }} ", "1,{{ .a.c }}", `{{ index .spec "x/y" }}`,
}

// genLanguageTest is genTest over [*] paths, with template operands.
func genLanguageTest(r *rand.Rand, path string) string {
	t := genTest(r)
	_, rest, _ := strings.Cut(t, ", ")
	op, _, _ := strings.Cut(rest, ": ")
	switch op {
	case "equals", "notEquals", "contains", "notContains", "prefix", "notPrefix", "suffix", "notSuffix",
		"gt", "gte", "lt", "lte", "between", "notBetween":
		if r.IntN(2) == 0 {
			rest = op + ": " + mustJSON(operandTemplates[r.IntN(len(operandTemplates))])
		}
	}
	return "field: " + mustJSON(path) + ", " + rest
}

// genCondition is a condition on the object, the old object or the request.
func genCondition(r *rand.Rand) string {
	switch r.IntN(6) {
	case 0:
		return genLanguageTest(r, "oldObject."+genWildPath(r))
	case 1:
		return genLanguageTest(r, "oldObject."+genPath(r))
	case 2:
		return fmt.Sprintf("field: request.operation, %s", []string{`equals: UPDATE`, `in: [CREATE, DELETE]`, `notEquals: CREATE`}[r.IntN(3)])
	case 3:
		return fmt.Sprintf("field: %s, %s", mustJSON([]string{"request.userInfo.groups", "request.userInfo.groups[*]", "request.userInfo.username",
			"request.userInfo.uid", `request.userInfo.extra["k"]`, "request.userInfo.extra.k[0]", "request.userInfo", "request.userInfo.other"}[r.IntN(8)]),
			[]string{"contains: gold", "notContains: system:masters", "prefix: a", "exists: true", "notExists: true", "equals: alice", "typeList: true", "in: [alice, bob]"}[r.IntN(8)])
	case 4:
		return genLanguageTest(r, genWildPath(r))
	}
	return genLanguageTest(r, genPath(r))
}

// genInput is a request: an operation, maybe an old object, a user.
func genInput(r *rand.Rand) Input {
	in := Input{Object: genObject(r), Operation: []string{"CREATE", "UPDATE", "DELETE"}[r.IntN(3)]}
	if in.Operation != "CREATE" && r.IntN(4) > 0 {
		in.OldObject = genObject(r)
	}
	in.UserInfo.Username = []string{"", "alice", "bob"}[r.IntN(3)]
	for _, g := range []string{"gold", "system:masters", "a-team"} {
		if r.IntN(2) == 0 {
			in.UserInfo.Groups = append(in.UserInfo.Groups, g)
		}
	}
	if r.IntN(3) == 0 {
		in.UserInfo.UID = "u-1"
	}
	if r.IntN(3) == 0 {
		in.UserInfo.Extra = map[string][]string{"k": {"v", "gold"}}
	}
	return in
}

// TestCELLanguageProperty generates rule sets of the richer language and
// requests, and holds the engines' failures equal (field with the element's
// index, message, offending value, deny, warn or audit).
func TestCELLanguageProperty(t *testing.T) {
	seed := uint64(20260801)
	r := rand.New(rand.NewPCG(seed, 5))
	e := newCELEvaluator(t)
	const sets, requests = 40, 12
	compiled, failures := 0, 0
	for i := range sets {
		var b strings.Builder
		for j := range 1 + r.IntN(4) {
			path := genPath(r)
			if r.IntN(2) == 0 {
				path = genWildPath(r)
			}
			fmt.Fprintf(&b, "- {%s, message: %s", genLanguageTest(r, path), mustJSON(genMessage(r, j)))
			switch r.IntN(4) {
			case 0:
				b.WriteString(", action: warn")
			case 1:
				b.WriteString(", action: audit")
			}
			if r.IntN(2) == 0 {
				fmt.Fprintf(&b, ", when: [{%s}]", genCondition(r))
			}
			if r.IntN(4) == 0 {
				fmt.Fprintf(&b, ", or: [{%s}, {%s}]", genCondition(r), genCondition(r))
			}
			b.WriteString("}\n")
		}
		set, scope, crs := compileGenerated(t, fmt.Sprintf("seed %d set %d", seed, i), b.String())
		if set == nil {
			continue
		}
		compiled++
		for range requests {
			in := genInput(r)
			failures += len(set.Evaluate(in))
			checkSameIn(t, e, set, scope, crs, in, fmt.Sprintf("seed %d set %d:\n%s", seed, i, b.String()))
		}
		if t.Failed() {
			return
		}
	}
	t.Logf("%d rule sets, %d requests each, %d failures", compiled, requests, failures)
	if compiled < sets/2 || failures == 0 {
		t.Errorf("the generators are too narrow: %d sets compiled, %d failures", compiled, failures)
	}
}

// TestCELLanguage: the cases the documentation shows, and the corners of
// each construct.
func TestCELLanguage(t *testing.T) {
	e := newCELEvaluator(t)
	set := compileRules(t, `
- {field: "spec.containers[*].image", prefix: registry.example.com/, message: images come from registry.example.com}
- {field: "spec.containers[*].image", notSuffix: ":latest", message: "pin images, not :latest", action: warn}
- {field: "spec.containers[*].resources.limits.memory", exists: true, message: every container sets a memory limit}
- {field: "spec.containers[*].ports[*].containerPort", between: "1,65535", message: port out of range}
- {field: "spec.initContainers[*].resources.limits.memory", exists: true, message: init limits, action: audit}
- {field: spec.replicas, lte: "{{ .spec.maxReplicas }}", message: "replicas {{ .spec.replicas }} above {{ .spec.maxReplicas }}"}
- {field: spec.replicas, between: "{{ .spec.min }},{{ .spec.max }}", message: replicas out of range}
- {field: metadata.labels.team, equals: "{{ .metadata.namespace }}", message: the team label names the namespace}
- {field: metadata.name, prefix: "{{ .metadata.namespace }}-", message: names start with the namespace}
- {field: spec.hostNetwork, notEquals: true, message: platform admins only, when: [{field: request.userInfo.groups, notContains: platform-admins}]}
- {field: spec.paused, equals: true, message: paused stays paused, when: [{field: oldObject.spec.paused, equals: true}, {field: request.userInfo.groups, notContains: release-managers}]}
- {field: spec.x, exists: true, message: x on update, when: [{field: request.operation, equals: UPDATE}]}
- {field: spec.y, exists: true, message: y unless old containers pinned, when: [{field: "oldObject.spec.containers[*].image", notSuffix: ":latest"}]}
`)
	scope := NewCELScope("object", "c")
	rs, err := set.CEL(scope)
	if err != nil {
		t.Fatal(err)
	}
	pod := func(spec map[string]any, md map[string]any) map[string]any {
		return map[string]any{"metadata": md, "spec": spec}
	}
	c := func(image string, limits bool, ports ...any) map[string]any {
		out := map[string]any{"image": image}
		if limits {
			out["resources"] = map[string]any{"limits": map[string]any{"memory": "1Gi"}}
		}
		if ports != nil {
			ps := make([]any, len(ports))
			for i, p := range ports {
				ps[i] = map[string]any{"containerPort": p}
			}
			out["ports"] = ps
		}
		return out
	}
	md := map[string]any{"name": "shop-web", "namespace": "shop", "labels": map[string]any{"team": "payments"}}
	for _, in := range []Input{
		{Object: pod(map[string]any{"containers": []any{c("registry.example.com/a:1", true), c("docker.io/b:latest", false, int64(80), int64(70000), "x")}}, md)},
		{Object: pod(map[string]any{"containers": []any{}, "initContainers": []any{c("x", false), c("y", true)}}, md)},
		{Object: pod(map[string]any{"containers": nil, "initContainers": map[string]any{"a": 1}}, nil)},
		{Object: pod(map[string]any{"containers": []any{"scalar", nil, map[string]any{"image": 5}}}, md)},
		{Object: pod(map[string]any{"replicas": int64(5), "maxReplicas": int64(3), "min": int64(1), "max": "4"}, md)},
		{Object: pod(map[string]any{"replicas": int64(5), "maxReplicas": "abc", "min": int64(9), "max": int64(4)}, md)},
		{Object: pod(map[string]any{"replicas": "5", "maxReplicas": 2.5, "min": "x", "max": int64(4)}, map[string]any{"name": "web", "namespace": "shop"})},
		{Object: pod(map[string]any{"replicas": int64(5), "maxReplicas": nil, "max": []any{1}}, map[string]any{"name": "shop-x"})},
		{Object: pod(map[string]any{"hostNetwork": true, "paused": false}, md), Operation: "UPDATE",
			OldObject: pod(map[string]any{"paused": true, "containers": []any{c("a:1", false), c("b:latest", false)}}, md),
			UserInfo:  UserInfo{Username: "dave", Groups: []string{"developers"}}},
		{Object: pod(map[string]any{"hostNetwork": true, "paused": false}, md), Operation: "UPDATE",
			OldObject: pod(map[string]any{"paused": true, "containers": []any{c("a:1", false)}}, md),
			UserInfo:  UserInfo{Username: "pat", Groups: []string{"platform-admins", "release-managers"}}},
		{Object: pod(map[string]any{"hostNetwork": true}, md), Operation: "CREATE"},
	} {
		checkSameIn(t, e, set, scope, rs, in, "documented cases")
	}
}

// TestCELMutationEachProperty: mutations on [*] paths and with conditions
// on the old object and the request, applied by both engines.
func TestCELMutationEachProperty(t *testing.T) {
	seed := uint64(777)
	r := rand.New(rand.NewPCG(seed, 9))
	e := newCELEvaluator(t)
	patched := 0
	for i := range 60 {
		var b strings.Builder
		for range 1 + r.IntN(3) {
			key := "default"
			if r.IntN(2) == 0 {
				key = "override"
			}
			v := genValue(r, 2)
			if v == nil {
				v = "x"
			}
			path := genPath(r)
			if r.IntN(3) > 0 {
				path = genWildPath(r)
			}
			fmt.Fprintf(&b, "- {field: %s, %s: %s", mustJSON(path), key, mustJSON(v))
			if r.IntN(3) == 0 {
				fmt.Fprintf(&b, ", when: [{%s}]", genCondition(r))
			}
			b.WriteString("}\n")
		}
		var ms []katalog.MutationRule
		if err := decodeYAML(b.String(), &ms); err != nil {
			t.Fatal(err)
		}
		set, probs := CompileMutation(ms)
		if len(probs) > 0 {
			t.Fatalf("%+v\n%s", probs, b.String())
		}
		if probs := set.NativeProblems(); len(probs) > 0 {
			t.Fatalf("the native engine refuses %+v\n%s", probs, b.String())
		}
		patches, err := set.CELPatch("object")
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			in := genInput(r)
			if ops, err := set.Patch(in); err == nil && len(ops) > 0 {
				patched++
			}
			mutationSameIn(t, e, set, patches, in, fmt.Sprintf("seed %d set %d:\n%s", seed, i, b.String()))
		}
		if t.Failed() {
			return
		}
	}
	if patched == 0 {
		t.Error("no generated mutation patched anything")
	}
}
