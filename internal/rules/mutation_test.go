package rules

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

func def(field string, v any) katalog.MutationRule {
	return katalog.MutationRule{Field: field, Default: val(v)}
}

func over(field string, v any) katalog.MutationRule {
	return katalog.MutationRule{Field: field, Override: val(v)}
}

// applyPatch applies ops to doc with a real JSONPatch implementation.
func applyPatch(t *testing.T, doc string, ops []PatchOp) map[string]any {
	t.Helper()
	raw, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		t.Fatalf("decode patch %s: %v", raw, err)
	}
	out, err := p.Apply([]byte(doc))
	if err != nil {
		t.Fatalf("apply patch %s to %s: %v", raw, doc, err)
	}
	return decode(t, string(out))
}

func TestPatch(t *testing.T) {
	tests := []struct {
		name  string
		rules []katalog.MutationRule
		doc   string
		ops   string // the expected patch as JSON
		want  string // the patched object
	}{
		{
			name:  "default on absent field",
			rules: []katalog.MutationRule{def("spec.tier", "standard")},
			doc:   `{"spec": {}}`,
			ops:   `[{"op":"add","path":"/spec/tier","value":"standard"}]`,
			want:  `{"spec": {"tier": "standard"}}`,
		},
		{
			name:  "default on present field is a no-op",
			rules: []katalog.MutationRule{def("spec.tier", "standard")},
			doc:   `{"spec": {"tier": "gold"}}`,
			ops:   `null`,
			want:  `{"spec": {"tier": "gold"}}`,
		},
		{
			name:  "default on present zero number is a no-op",
			rules: []katalog.MutationRule{def("spec.replicas", int64(2))},
			doc:   `{"spec": {"replicas": 0}}`,
			ops:   `null`,
			want:  `{"spec": {"replicas": 0}}`,
		},
		{
			name: "default on null and empty values",
			rules: []katalog.MutationRule{
				def("spec.a", "x"), def("spec.b", "x"), def("spec.c", []any{"x"}), def("spec.d", map[string]any{"k": "x"}),
			},
			doc: `{"spec": {"a": null, "b": "", "c": [], "d": {}}}`,
			ops: `[{"op":"replace","path":"/spec/a","value":"x"},{"op":"replace","path":"/spec/b","value":"x"},` +
				`{"op":"replace","path":"/spec/c","value":["x"]},{"op":"replace","path":"/spec/d","value":{"k":"x"}}]`,
			want: `{"spec": {"a": "x", "b": "x", "c": ["x"], "d": {"k": "x"}}}`,
		},
		{
			name:  "default of an empty value on an empty value is a no-op",
			rules: []katalog.MutationRule{def("spec.b", "")},
			doc:   `{"spec": {"b": ""}}`,
			ops:   `null`,
			want:  `{"spec": {"b": ""}}`,
		},
		{
			name:  "override replaces",
			rules: []katalog.MutationRule{over("spec.replicas", int64(3))},
			doc:   `{"spec": {"replicas": 5}}`,
			ops:   `[{"op":"replace","path":"/spec/replicas","value":3}]`,
			want:  `{"spec": {"replicas": 3}}`,
		},
		{
			name:  "override adds",
			rules: []katalog.MutationRule{over("spec.replicas", int64(3))},
			doc:   `{"spec": {}}`,
			ops:   `[{"op":"add","path":"/spec/replicas","value":3}]`,
			want:  `{"spec": {"replicas": 3}}`,
		},
		{
			name:  "override with the current value is a no-op",
			rules: []katalog.MutationRule{over("spec.replicas", int64(3)), over("spec.opts", map[string]any{"a": []any{int64(1)}})},
			doc:   `{"spec": {"replicas": 3.0, "opts": {"a": [1]}}}`,
			ops:   `null`,
			want:  `{"spec": {"replicas": 3, "opts": {"a": [1]}}}`,
		},
		{
			name:  "missing parents are created in one add",
			rules: []katalog.MutationRule{def("spec.policy.retry.max", int64(3))},
			doc:   `{"spec": {}}`,
			ops:   `[{"op":"add","path":"/spec/policy","value":{"retry":{"max":3}}}]`,
			want:  `{"spec": {"policy": {"retry": {"max": 3}}}}`,
		},
		{
			name:  "missing top-level parent",
			rules: []katalog.MutationRule{over("spec.x", "y")},
			doc:   `{"kind": "K"}`,
			ops:   `[{"op":"add","path":"/spec","value":{"x":"y"}}]`,
			want:  `{"kind": "K", "spec": {"x": "y"}}`,
		},
		{
			name:  "null parent is replaced",
			rules: []katalog.MutationRule{def("metadata.annotations.owner", "me")},
			doc:   `{"metadata": {"annotations": null}}`,
			ops:   `[{"op":"replace","path":"/metadata/annotations","value":{"owner":"me"}}]`,
			want:  `{"metadata": {"annotations": {"owner": "me"}}}`,
		},
		{
			name:  "annotation key with slash and tilde",
			rules: []katalog.MutationRule{over(`metadata.annotations["app.kubernetes.io/name"]`, "web"), over(`metadata.labels["a~b/c"]`, "v")},
			doc:   `{"metadata": {"annotations": {"other": "x"}}}`,
			ops: `[{"op":"add","path":"/metadata/annotations/app.kubernetes.io~1name","value":"web"},` +
				`{"op":"add","path":"/metadata/labels","value":{"a~b/c":"v"}}]`,
			want: `{"metadata": {"annotations": {"other": "x", "app.kubernetes.io/name": "web"}, "labels": {"a~b/c": "v"}}}`,
		},
		{
			name:  "list items",
			rules: []katalog.MutationRule{def("spec.containers[1].imagePullPolicy", "IfNotPresent"), over("spec.args[0]", "--v=2")},
			doc:   `{"spec": {"containers": [{"name": "a", "imagePullPolicy": "Always"}, {"name": "b"}], "args": ["--v=1", "x"]}}`,
			ops: `[{"op":"add","path":"/spec/containers/1/imagePullPolicy","value":"IfNotPresent"},` +
				`{"op":"replace","path":"/spec/args/0","value":"--v=2"}]`,
			want: `{"spec": {"containers": [{"name": "a", "imagePullPolicy": "Always"}, {"name": "b", "imagePullPolicy": "IfNotPresent"}], "args": ["--v=2", "x"]}}`,
		},
		{
			name:  "missing list items are not created",
			rules: []katalog.MutationRule{def("spec.containers[3].image", "x"), def("spec.volumes[0].name", "v"), over("spec.args[1]", "z")},
			doc:   `{"spec": {"containers": [{}], "args": ["a"]}}`,
			ops:   `null`,
			want:  `{"spec": {"containers": [{}], "args": ["a"]}}`,
		},
		{
			name:  "later rules see earlier ones",
			rules: []katalog.MutationRule{def("spec.policy.a", int64(1)), def("spec.policy.b", int64(2)), over("spec.policy.a", int64(1))},
			doc:   `{"spec": {}}`,
			ops:   `[{"op":"add","path":"/spec/policy","value":{"a":1}},{"op":"add","path":"/spec/policy/b","value":2}]`,
			want:  `{"spec": {"policy": {"a": 1, "b": 2}}}`,
		},
		{
			name: "when and or gate mutations",
			rules: []katalog.MutationRule{
				{Field: "spec.replicas", Override: val(int64(3)), When: []katalog.Condition{cond(shorthand("spec.tier", "equals", "premium"))}},
				{Field: "spec.backup", Default: val(true), Or: []katalog.Condition{cond(shorthand("spec.tier", "equals", "gold")), cond(shorthand("spec.tier", "equals", "premium"))}},
				{Field: "spec.never", Default: val(true), Or: []katalog.Condition{cond(shorthand("spec.tier", "equals", "gold"))}},
			},
			doc:  `{"spec": {"tier": "premium", "replicas": 1}}`,
			ops:  `[{"op":"replace","path":"/spec/replicas","value":3},{"op":"add","path":"/spec/backup","value":true}]`,
			want: `{"spec": {"tier": "premium", "replicas": 3, "backup": true}}`,
		},
		{
			name:  "template field path",
			rules: []katalog.MutationRule{def(`metadata.labels["team/{{ .spec.team }}"]`, "true")},
			doc:   `{"metadata": {"labels": {}}, "spec": {"team": "web"}}`,
			ops:   `[{"op":"add","path":"/metadata/labels/team~1web","value":"true"}]`,
			want:  `{"metadata": {"labels": {"team/web": "true"}}, "spec": {"team": "web"}}`,
		},
		{
			name: "value types",
			rules: []katalog.MutationRule{
				{Field: "spec.i", Default: val(3.0), ValueType: "integer"},
				{Field: "spec.n", Default: val(int64(2)), ValueType: "number"},
				{Field: "spec.l", Default: val([]any{"a"}), ValueType: "list"},
				{Field: "spec.m", Default: val(map[string]any{"k": int64(1)}), ValueType: "map"},
				{Field: "spec.b", Default: val(false), ValueType: "bool"},
				{Field: "spec.s", Default: val("x"), ValueType: "string"},
			},
			doc: `{"spec": {"i": null}}`,
			ops: `[{"op":"replace","path":"/spec/i","value":3},{"op":"add","path":"/spec/n","value":2},` +
				`{"op":"add","path":"/spec/l","value":["a"]},{"op":"add","path":"/spec/m","value":{"k":1}},` +
				`{"op":"add","path":"/spec/b","value":false},{"op":"add","path":"/spec/s","value":"x"}]`,
			want: `{"spec": {"i": 3, "n": 2, "l": ["a"], "m": {"k": 1}, "b": false, "s": "x"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, probs := CompileMutation(tt.rules)
			if len(probs) > 0 {
				t.Fatal(probs)
			}
			obj := decode(t, tt.doc)
			before := decode(t, tt.doc)
			ops, err := set.Patch(Input{Object: obj})
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(ops)
			var gotOps, wantOps any
			_ = json.Unmarshal(raw, &gotOps)
			if err := json.Unmarshal([]byte(tt.ops), &wantOps); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotOps, wantOps) {
				t.Errorf("patch = %s\nwant    %s", raw, tt.ops)
			}
			if !reflect.DeepEqual(obj, before) {
				t.Errorf("Patch modified the object: %v", obj)
			}
			if got, want := applyPatch(t, tt.doc, ops), decode(t, tt.want); !reflect.DeepEqual(got, want) {
				t.Errorf("patched = %v\nwant      %v", got, want)
			}
		})
	}
}

func TestPatchErrors(t *testing.T) {
	tests := []struct {
		rule katalog.MutationRule
		doc  string
		want string
	}{
		{over("spec.tier.name", "x"), `{"spec": {"tier": "gold"}}`, "spec.tier is a string; cannot set a field inside it"},
		{over("spec.items.name", "x"), `{"spec": {"items": []}}`, "spec.items is a list; select an item with [N]"},
		{over("spec.opts[0]", "x"), `{"spec": {"opts": {}}}`, "spec.opts is a map, not a list"},
		{over("spec.{{ .spec.k }}", "x"), `{"spec": {"k": "a..b"}}`, "rendered to a bad path"},
		{over("spec.{{ .spec.k.x }}", "x"), `{"spec": {"k": null}}`, "nil pointer"},
	}
	for _, tt := range tests {
		set, probs := CompileMutation([]katalog.MutationRule{over("spec.first", "ok"), tt.rule})
		if len(probs) > 0 {
			t.Fatal(probs)
		}
		ops, err := set.Patch(Input{Object: decode(t, tt.doc)})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "mutation rule 1: ") || ops != nil {
			t.Errorf("%s on %s: ops %v, error %v; want no ops and an error containing %q", tt.rule.Field, tt.doc, ops, err, tt.want)
		}
	}
	var nilSet *MutationSet
	if ops, err := nilSet.Patch(Input{Object: decode(t, `{}`)}); ops != nil || err != nil {
		t.Errorf("nil set: %v, %v", ops, err)
	}
}

func TestCompileMutationProblems(t *testing.T) {
	tests := []struct {
		name        string
		rule        katalog.MutationRule
		check, path string
		msg         string
	}{
		{"field missing", def("", "x"), "K11", "[0].field", "field is required"},
		{"field malformed", def("spec[", "x"), "K11", "[0].field", "expected a list index"},
		{"field template", def("spec.{{ nope }}", "x"), "K10", "[0].field", `function "nope" not defined`},
		{"neither", katalog.MutationRule{Field: "spec.x"}, "K11", "[0]", "neither default nor override"},
		{"both", katalog.MutationRule{Field: "spec.x", Default: val("a"), Override: val("b")}, "K11", "[0].override", "both default and override"},
		{"null default", def("spec.x", nil), "K11", "[0].default", "null"},
		{"null override", over("spec.x", nil), "K11", "[0].override", "null"},
		{"unknown valueType", katalog.MutationRule{Field: "spec.x", Default: val(int64(1)), ValueType: "int"}, "K11", "[0].valueType", `valueType "int" is not one of`},
		{"string vs integer", katalog.MutationRule{Field: "spec.x", Default: val("3"), ValueType: "integer"}, "K11", "[0].default", `the string "3" is not a valid integer`},
		{"fraction vs integer", katalog.MutationRule{Field: "spec.x", Override: val(2.5), ValueType: "integer"}, "K11", "[0].override", "the number 2.5 is not a valid integer"},
		{"number vs string", katalog.MutationRule{Field: "spec.x", Default: val(int64(1)), ValueType: "string"}, "K11", "[0].default", "the number 1 is not a valid string"},
		{"string vs number", katalog.MutationRule{Field: "spec.x", Default: val("1"), ValueType: "number"}, "K11", "[0].default", "not a valid number"},
		{"string vs bool", katalog.MutationRule{Field: "spec.x", Default: val("true"), ValueType: "bool"}, "K11", "[0].default", "not a valid bool"},
		{"map vs list", katalog.MutationRule{Field: "spec.x", Default: val(map[string]any{}), ValueType: "list"}, "K11", "[0].default", "a map is not a valid list"},
		{"list vs map", katalog.MutationRule{Field: "spec.x", Default: val([]any{}), ValueType: "map"}, "K11", "[0].default", "a list is not a valid map"},
		{"bad condition", katalog.MutationRule{Field: "spec.x", Default: val("a"), When: []katalog.Condition{cond(shorthand("spec.y", "regex", "["))}}, "K09", "[0].when[0].regex", "does not compile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, probs := CompileMutation([]katalog.MutationRule{tt.rule})
			if set != nil {
				t.Error("a rule list with problems compiled to a set")
			}
			if len(probs) != 1 {
				t.Fatalf("got %d problems, want 1: %+v", len(probs), probs)
			}
			p := probs[0]
			if p.Check != tt.check || p.Path != tt.path || !strings.Contains(p.Msg, tt.msg) {
				t.Errorf("got %s %s %q, want %s %s containing %q", p.Check, p.Path, p.Msg, tt.check, tt.path, tt.msg)
			}
		})
	}
}
