package rules

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// fields lists Field and Message of results, "field: message".
func fieldsOf(res []Result) []string {
	var out []string
	for _, r := range res {
		out = append(out, r.Field+": "+r.Message)
	}
	return out
}

func TestParsePathWildcard(t *testing.T) {
	p := mustPath(t, "spec.containers[*].ports[*].containerPort")
	if !p.Wildcard() || p.String() != "spec.containers[*].ports[*].containerPort" {
		t.Errorf("path = %q, wildcard %t", p, p.Wildcard())
	}
	if _, ok := p.Lookup(decode(t, `{"spec":{"containers":[{"ports":[{"containerPort":1}]}]}}`)); ok {
		t.Error("Lookup of a [*] path is present; it must leave [*] to Each")
	}
	if got := p.Concrete([]int{1, 0}).String(); got != "spec.containers[1].ports[0].containerPort" {
		t.Errorf("Concrete = %q", got)
	}
	if got := p.beforeWildcard().String(); got != "spec.containers" {
		t.Errorf("beforeWildcard = %q", got)
	}
	for _, bad := range []string{"[*].a", "a[*", "a[**]", "a[ *]"} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("ParsePath(%q) accepted", bad)
		}
	}
}

func TestEachElement(t *testing.T) {
	obj := decode(t, `{"spec":{"containers":[
		{"image":"a","ports":[{"containerPort":80},{"containerPort":443}]},
		{"ports":[]},
		{"image":"c","ports":[{"name":"x"}]}
	]}}`)
	type call struct {
		idx     []int
		v       any
		present bool
	}
	collect := func(path string) []call {
		var out []call
		mustPath(t, path).Each(obj, func(idx []int, v any, present bool) bool {
			out = append(out, call{slices.Clone(idx), v, present})
			return true
		})
		return out
	}
	images := collect("spec.containers[*].image")
	want := []call{{[]int{0}, "a", true}, {[]int{1}, nil, false}, {[]int{2}, "c", true}}
	if !reflect.DeepEqual(images, want) {
		t.Errorf("images = %+v, want %+v", images, want)
	}
	ports := collect("spec.containers[*].ports[*].containerPort")
	want = []call{{[]int{0, 0}, 80.0, true}, {[]int{0, 1}, 443.0, true}, {[]int{2, 0}, nil, false}}
	if !reflect.DeepEqual(ports, want) {
		t.Errorf("ports = %+v, want %+v", ports, want)
	}
	for _, none := range []string{"spec.initContainers[*].image", "spec[*].x", "spec.containers[0].image[*]"} {
		if got := collect(none); len(got) != 0 {
			t.Errorf("%s selects %+v, want nothing", none, got)
		}
	}
}

// Every element must pass; one cause per failing element, named by index.
func TestEvaluateWildcard(t *testing.T) {
	pod := decode(t, `{"spec":{
		"containers":[
			{"name":"ok","image":"registry.example.com/a:1","resources":{"limits":{"memory":"1Gi"}}},
			{"name":"hub","image":"docker.io/b:1.0","resources":{}},
			{"name":"latest","image":"registry.example.com/c:latest","resources":{"limits":{"memory":"1Gi"}},
			 "ports":[{"containerPort":80},{"containerPort":70000}]}
		],
		"initContainers":[]
	}}`)
	rs := []katalog.Rule{
		{Test: shorthand("spec.containers[*].image", "prefix", "registry.example.com/"), Message: "images come from registry.example.com"},
		{Test: shorthand("spec.containers[*].image", "notSuffix", ":latest"), Message: "no :latest"},
		{Test: shorthand("spec.containers[*].resources.limits.memory", "exists", true), Message: "memory limit required"},
		{Test: shorthand("spec.containers[*].ports[*].containerPort", "between", "1,65535"), Message: "port out of range"},
		{Test: shorthand("spec.initContainers[*].resources.limits.memory", "exists", true), Message: "init limits"},
		{Test: shorthand("spec.ephemeralContainers[*].image", "exists", true), Message: "absent list"},
		{Test: shorthand("spec.containers[*].image", "regex", "^[a-z]"), Message: "warned", Action: "warn"},
	}
	set, probs := CompileValidation(rs)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	got := fieldsOf(set.Evaluate(Input{Object: pod}))
	want := []string{
		"spec.containers[1].image: images come from registry.example.com",
		"spec.containers[2].image: no :latest",
		"spec.containers[1].resources.limits.memory: memory limit required",
		"spec.containers[2].ports[1].containerPort: port out of range",
	}
	if !slices.Equal(got, want) {
		t.Errorf("results:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	res := set.Evaluate(Input{Object: pod})
	if res[0].Value != "docker.io/b:1.0" || res[1].Value != "registry.example.com/c:latest" {
		t.Errorf("offending values: %v, %v", res[0].Value, res[1].Value)
	}

	// No element: every operator holds, exists included.
	for _, op := range katalog.Operators {
		for _, doc := range []string{`{"spec":{}}`, `{"spec":{"containers":[]}}`, `{"spec":{"containers":null}}`, `{"spec":{"containers":{"a":1}}}`} {
			v := map[string]any{"between": "1,2", "notBetween": "1,2", "in": []any{"a"}, "notIn": []any{"a"}, "regex": "a",
				"gt": int64(1), "gte": int64(1), "lt": int64(1), "lte": int64(1)}[op]
			if v == nil {
				v = "a"
			}
			if op == "exists" || op == "notExists" || strings.HasPrefix(op, "type") {
				v = true
			}
			s := compileOne(t, katalog.Rule{Test: shorthand("spec.containers[*].image", op, v), Message: "m"})
			if res := s.Evaluate(Input{Object: decode(t, doc)}); len(res) != 0 {
				t.Errorf("%s on %s: %+v, want no failure", op, doc, res)
			}
		}
	}
}

func TestTemplateOperands(t *testing.T) {
	tests := []struct {
		name string
		test katalog.Test
		doc  string
		want string // "pass", "fail", or a substring of the failure message
	}{
		{"lte field, below", shorthand("spec.replicas", "lte", "{{ .spec.maxReplicas }}"), `{"replicas": 3, "maxReplicas": 5}`, "pass"},
		{"lte field, equal", shorthand("spec.replicas", "lte", "{{ .spec.maxReplicas }}"), `{"replicas": 5, "maxReplicas": 5}`, "pass"},
		{"lte field, above", shorthand("spec.replicas", "lte", "{{ .spec.maxReplicas }}"), `{"replicas": 6, "maxReplicas": 5}`, "fail"},
		{"lte field absent: nothing to compare", shorthand("spec.replicas", "lte", "{{ .spec.maxReplicas }}"), `{"replicas": 6}`, "pass"},
		{"lte field null", shorthand("spec.replicas", "lte", "{{ .spec.maxReplicas }}"), `{"replicas": 6, "maxReplicas": null}`, "pass"},
		{"lte numeric string bound", shorthand("spec.replicas", "lte", "{{ .spec.maxReplicas }}"), `{"replicas": 6, "maxReplicas": "5"}`, "fail"},
		{"lte bound not a number", shorthand("spec.replicas", "lte", "{{ .spec.maxReplicas }}"), `{"replicas": 6, "maxReplicas": "many"}`, `lte {{ .spec.maxReplicas }}: bound "many" is not a number`},
		{"gt computed", shorthand("spec.replicas", "gt", "{{ len .spec.zones }}"), `{"replicas": 3, "zones": ["a", "b"]}`, "pass"},
		{"gt computed, fails", shorthand("spec.replicas", "gt", "{{ len .spec.zones }}"), `{"replicas": 2, "zones": ["a", "b"]}`, "fail"},
		{"between two fields", shorthand("spec.replicas", "between", "{{ .spec.min }},{{ .spec.max }}"), `{"replicas": 4, "min": 2, "max": 8}`, "pass"},
		{"between two fields, fails", shorthand("spec.replicas", "between", "{{ .spec.min }},{{ .spec.max }}"), `{"replicas": 9, "min": 2, "max": 8}`, "fail"},
		{"between inverted", shorthand("spec.replicas", "between", "{{ .spec.min }},{{ .spec.max }}"), `{"replicas": 9, "min": 8, "max": 2}`, "lower bound 8 is above upper bound 2"},
		{"equals field keeps the string type", shorthand("spec.owner", "equals", "{{ .metadata.name }}"), `{"owner": "123"}`, "pass"},
		{"equals number vs string field", shorthand("spec.count", "equals", "{{ .spec.wanted }}"), `{"count": 3, "wanted": "3"}`, "fail"},
		{"equals rendering a number is a number", shorthand("spec.count", "equals", "{{ .spec.a }}{{ .spec.b }}"), `{"count": 12, "a": 1, "b": 2}`, "pass"},
		{"notEquals to old value", shorthand("spec.next", "notEquals", "{{ .spec.current }}"), `{"next": "v2", "current": "v2"}`, "fail"},
		{"prefix from a field", shorthand("spec.image", "prefix", "{{ .spec.registry }}/"), `{"image": "r.example.com/a", "registry": "r.example.com"}`, "pass"},
		{"prefix from a field, fails", shorthand("spec.image", "prefix", "{{ .spec.registry }}/"), `{"image": "docker.io/a", "registry": "r.example.com"}`, "fail"},
		{"contains a field's value", shorthand("spec.zones", "contains", "{{ .spec.primary }}"), `{"zones": ["a", "b"], "primary": "b"}`, "pass"},
		{"suffix", shorthand("spec.host", "suffix", ".{{ .spec.domain }}"), `{"host": "a.example.com", "domain": "example.org"}`, "fail"},
		{"field absent: only exists decides", shorthand("spec.replicas", "lte", "{{ .spec.maxReplicas }}"), `{"maxReplicas": 1}`, "pass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := decode(t, `{"metadata": {"name": "123"}, "spec": `+tt.doc+`}`)
			s := compileOne(t, katalog.Rule{Test: tt.test, Message: "bad"})
			res := s.Evaluate(Input{Object: obj})
			switch {
			case tt.want == "pass" && len(res) != 0:
				t.Errorf("failed: %+v", res)
			case tt.want == "fail" && (len(res) != 1 || res[0].Message != "bad"):
				t.Errorf("results %+v, want one plain failure", res)
			case tt.want != "pass" && tt.want != "fail" && (len(res) != 1 || !strings.Contains(res[0].Message, tt.want)):
				t.Errorf("results %+v, want a failure mentioning %q", res, tt.want)
			}
		})
	}
}

func TestConditionsOnOldObjectAndRequest(t *testing.T) {
	rule := func(c katalog.Test) katalog.Rule {
		return katalog.Rule{Test: shorthand("spec.replicas", "lte", int64(3)), Message: "at most 3", When: []katalog.Condition{cond(c)}}
	}
	obj := decode(t, `{"spec": {"replicas": 5}}`)
	old := decode(t, `{"spec": {"replicas": 1, "frozen": true}}`)
	alice := UserInfo{Username: "alice", Groups: []string{"dev", "system:authenticated"}, Extra: map[string][]string{"scopes": {"a"}}}
	tests := []struct {
		name  string
		c     katalog.Test
		in    Input
		gated bool // the rule applies (and fails)
	}{
		{"old replicas", shorthand("oldObject.spec.replicas", "lt", int64(3)), Input{Object: obj, OldObject: old}, true},
		{"old replicas, other", shorthand("oldObject.spec.replicas", "gt", int64(3)), Input{Object: obj, OldObject: old}, false},
		{"no old object: absent", shorthand("oldObject.spec.replicas", "lt", int64(3)), Input{Object: obj}, false},
		{"no old object: notExists holds", shorthand("oldObject", "notExists", true), Input{Object: obj}, true},
		{"old object exists on UPDATE", shorthand("oldObject", "exists", true), Input{Object: obj, OldObject: old}, true},
		{"old bool", shorthand("oldObject.spec.frozen", "equals", true), Input{Object: obj, OldObject: old}, true},
		{"user name", shorthand("request.userInfo.username", "notEquals", "admin"), Input{Object: obj, UserInfo: alice}, true},
		{"user name admin", shorthand("request.userInfo.username", "notEquals", "alice"), Input{Object: obj, UserInfo: alice}, false},
		{"group", shorthand("request.userInfo.groups", "contains", "dev"), Input{Object: obj, UserInfo: alice}, true},
		{"group absent", shorthand("request.userInfo.groups", "notContains", "dev"), Input{Object: obj, UserInfo: alice}, false},
		{"every group", shorthand("request.userInfo.groups[*]", "prefix", "system:"), Input{Object: obj, UserInfo: alice}, false},
		{"extra", shorthand(`request.userInfo.extra.scopes`, "contains", "a"), Input{Object: obj, UserInfo: alice}, true},
		{"no uid", shorthand("request.userInfo.uid", "exists", true), Input{Object: obj, UserInfo: alice}, false},
		{"operation", shorthand("request.operation", "equals", "UPDATE"), Input{Object: obj, Operation: "UPDATE"}, true},
		{"operation create", shorthand("request.operation", "equals", "UPDATE"), Input{Object: obj, Operation: "CREATE"}, false},
		{"every container of the old object", shorthand("oldObject.spec.containers[*].image", "prefix", "r/"), Input{Object: obj, OldObject: decode(t, `{"spec":{"containers":[{"image":"r/a"}]}}`)}, true},
		{"template operand reads the object", shorthand("oldObject.spec.replicas", "lt", "{{ .spec.replicas }}"), Input{Object: obj, OldObject: old}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := compileOne(t, rule(tt.c))
			if got := len(s.Evaluate(tt.in)) == 1; got != tt.gated {
				t.Errorf("rule applied: %t, want %t", got, tt.gated)
			}
		})
	}

	// Only conditions read the old object or the request.
	for _, r := range []struct {
		rule katalog.Rule
		path string
		msg  string
	}{
		{katalog.Rule{Test: shorthand("oldObject.spec.replicas", "exists", true), Message: "m"}, "[0].field", "only when/or conditions may"},
		{katalog.Rule{Test: shorthand("request.userInfo.username", "exists", true), Message: "m"}, "[0].field", "only when/or conditions may"},
		{rule(shorthand("request.namespace", "exists", true)), "[0].when[0].field", "conditions read request.operation and request.userInfo"},
		{rule(shorthand("request", "exists", true)), "[0].when[0].field", "conditions read request.operation and request.userInfo"},
	} {
		_, probs := CompileValidation([]katalog.Rule{r.rule})
		if len(probs) != 1 || probs[0].Check != "K08" || probs[0].Path != r.path || !strings.Contains(probs[0].Msg, r.msg) {
			t.Errorf("%+v: problems %+v, want K08 at %s: %s", r.rule.Test, probs, r.path, r.msg)
		}
	}
	if _, probs := CompileMutation([]katalog.MutationRule{{Field: "oldObject.spec.x", Default: val("a")}}); len(probs) != 1 || probs[0].Check != "K11" {
		t.Errorf("mutation of oldObject: %+v", probs)
	}
}

func TestTemplateOperandProblems(t *testing.T) {
	for _, tt := range []struct {
		test        katalog.Test
		check, path string
		msg         string
	}{
		{shorthand("spec.x", "regex", "^{{ .spec.p }}"), "K09", "[0].regex", "regex does not take a template value"},
		{shorthand("spec.x", "in", "{{ .spec.l }}"), "K09", "[0].in", "in does not take a template value"},
		{shorthand("spec.x", "lte", "{{ .spec.max | sha }}"), "K10", "[0].lte", `function "sha" not defined`},
		{longForm("spec.x", "gt", "{{ .spec.min "), "K10", "[0].value", "unclosed action"},
	} {
		_, probs := CompileValidation([]katalog.Rule{{Test: tt.test, Message: "m"}})
		if len(probs) != 1 || probs[0].Check != tt.check || probs[0].Path != tt.path || !strings.Contains(probs[0].Msg, tt.msg) {
			t.Errorf("%+v: problems %+v, want %s at %s: %s", tt.test, probs, tt.check, tt.path, tt.msg)
		}
	}
}

func TestExpressionRules(t *testing.T) {
	rs := []katalog.Rule{
		{Test: shorthand("spec.replicas", "lte", int64(3)), Message: "at most 3"},
		{Expression: "object.spec.replicas <= 3", Message: "never evaluated here"},
		{Expression: "object.spec.a == 1", MessageExpression: "'a is ' + string(object.spec.a)", Action: "warn"},
	}
	set, probs := CompileValidation(rs)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	want := []Expression{
		{Index: 1, Expression: "object.spec.replicas <= 3", Message: "never evaluated here"},
		{Index: 2, Expression: "object.spec.a == 1", MessageExpression: "'a is ' + string(object.spec.a)", Warn: true},
	}
	if got := set.Expressions(); !reflect.DeepEqual(got, want) {
		t.Errorf("Expressions = %+v, want %+v", got, want)
	}
	if got := fieldsOf(set.Evaluate(Input{Object: decode(t, `{"spec":{"replicas":9,"a":2}}`)})); !slices.Equal(got, []string{"spec.replicas: at most 3"}) {
		t.Errorf("Evaluate = %q: the webhook engine evaluates field rules only", got)
	}
	if !set.HasFieldRules() {
		t.Error("HasFieldRules = false")
	}
	only, _ := CompileValidation(rs[1:2])
	if only.HasFieldRules() {
		t.Error("HasFieldRules = true for CEL rules only")
	}
	if paths, complete := only.Fields(); len(paths) != 0 || !complete {
		t.Errorf("Fields of CEL rules = %v, %t", paths, complete)
	}

	for _, tt := range []struct {
		rule katalog.Rule
		path string
		msg  string
	}{
		{katalog.Rule{Expression: "true"}, "[0].message", "message or messageExpression is required"},
		{katalog.Rule{Expression: "true", Message: "{{ .spec.x }}"}, "[0].message", "literal text"},
		{katalog.Rule{Expression: "  ", Message: "m"}, "[0].expression", "expression is blank"},
		{katalog.Rule{MessageExpression: "'m'"}, "[0].messageExpression", "messageExpression without expression"},
		{katalog.Rule{Expression: "true", Message: "m", Test: katalog.Test{Field: "spec.x"}}, "[0].field", "either a CEL expression or a field test"},
		{katalog.Rule{Expression: "true", Message: "m", Test: katalog.Test{Exists: val(true)}}, "[0]", "either a CEL expression or a field test"},
		{katalog.Rule{Expression: "true", Message: "m", When: []katalog.Condition{cond(shorthand("spec.x", "exists", true))}}, "[0].when", "when/or on an expression rule"},
	} {
		_, probs := CompileValidation([]katalog.Rule{tt.rule})
		if len(probs) != 1 || probs[0].Check != "K08" || probs[0].Path != tt.path || !strings.Contains(probs[0].Msg, tt.msg) {
			t.Errorf("%+v: problems %+v, want K08 at %s: %s", tt.rule, probs, tt.path, tt.msg)
		}
	}
}

func TestFieldsOfNewShapes(t *testing.T) {
	set, probs := CompileValidation([]katalog.Rule{
		{Test: shorthand("spec.containers[*].image", "prefix", "r/"), Message: "m"},
		{Test: shorthand("spec.replicas", "lte", "{{ .spec.maxReplicas }}"), Message: "m",
			When: []katalog.Condition{cond(shorthand("request.userInfo.username", "equals", "a"))}},
	})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	paths, complete := set.Fields()
	var got []string
	for _, p := range paths {
		got = append(got, p.String())
	}
	if !complete || !slices.Equal(got, []string{"spec.containers", "spec.replicas", "spec.maxReplicas"}) {
		t.Errorf("Fields = %q, %t", got, complete)
	}
	for _, r := range []katalog.Rule{
		{Test: shorthand("spec.replicas", "lte", "{{ len .spec.zones }}"), Message: "m"},
		{Test: shorthand("spec.replicas", "lte", int64(3)), Message: "m", When: []katalog.Condition{cond(shorthand("oldObject.spec.replicas", "exists", true))}},
	} {
		set := compileOne(t, r)
		if _, complete := set.Fields(); complete {
			t.Errorf("%+v: Fields complete, want incomplete", r)
		}
	}
}

func TestPatchWildcard(t *testing.T) {
	set, probs := CompileMutation([]katalog.MutationRule{
		def("spec.containers[*].imagePullPolicy", "IfNotPresent"),
		over("spec.containers[*].securityContext.allowPrivilegeEscalation", false),
		def("spec.initContainers[*].imagePullPolicy", "Always"),
		over("spec.containers[*].ports[*].protocol", "TCP"),
	})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	doc := `{"spec":{"containers":[
		{"name":"a","ports":[{"containerPort":80},{"containerPort":81,"protocol":"TCP"}]},
		{"name":"b","imagePullPolicy":"Never","securityContext":{"allowPrivilegeEscalation":true}}
	]}}`
	ops, err := set.Patch(Input{Object: decode(t, doc)})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, op := range ops {
		paths = append(paths, op.Op+" "+op.Path)
	}
	want := []string{
		"add /spec/containers/0/imagePullPolicy",
		"add /spec/containers/0/securityContext",
		"replace /spec/containers/1/securityContext/allowPrivilegeEscalation",
		"add /spec/containers/0/ports/0/protocol",
	}
	if !slices.Equal(paths, want) {
		t.Errorf("patch = %q, want %q", paths, want)
	}
	got := applyPatch(t, doc, ops)
	wantObj := decode(t, `{"spec":{"containers":[
		{"name":"a","imagePullPolicy":"IfNotPresent","securityContext":{"allowPrivilegeEscalation":false},
		 "ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":81,"protocol":"TCP"}]},
		{"name":"b","imagePullPolicy":"Never","securityContext":{"allowPrivilegeEscalation":false}}
	]}}`)
	if !reflect.DeepEqual(got, wantObj) {
		t.Errorf("patched object = %v\nwant %v", got, wantObj)
	}
	if ops, err := set.Patch(Input{Object: decode(t, `{"spec":{}}`)}); err != nil || len(ops) != 0 {
		t.Errorf("no containers: %+v, %v", ops, err)
	}
}
