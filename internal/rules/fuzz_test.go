package rules

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// fuzzRules uses every operator, conditions, a template path and template messages.
func fuzzRules() []katalog.Rule {
	var rs []katalog.Rule
	values := map[string]any{
		"exists": true, "notExists": true, "equals": "a", "notEquals": int64(1), "contains": "a",
		"notContains": "b", "prefix": "a", "notPrefix": "b", "suffix": "a", "notSuffix": "b",
		"regex": "^[a-z]+$", "gt": int64(1), "gte": "1.5", "lt": int64(10), "lte": 10.5,
		"between": "1,10", "notBetween": []any{int64(2), int64(3)}, "in": []any{"a", int64(1), true},
		"notIn": []any{"b"}, "typeString": true, "typeNumber": true, "typeBool": false,
		"typeList": true, "typeMap": true, "typeNull": true,
	}
	for _, op := range katalog.Operators {
		rs = append(rs, katalog.Rule{
			Test:    shorthand("spec.x", op, values[op]),
			Message: op + " {{ .spec.x }} {{ .spec.x | default \"none\" | upper }}",
			Action:  "warn",
		})
		rs = append(rs, katalog.Rule{
			Test:    shorthand("a.b[0].c", op, values[op]),
			Message: op,
			When:    []katalog.Condition{cond(shorthand("spec.y", "gt", int64(0)))},
			Or:      []katalog.Condition{cond(shorthand("spec.z", "notIn", []any{"q"})), cond(shorthand("x", "exists", true))},
		})
	}
	rs = append(rs, katalog.Rule{Test: shorthand(`spec["{{ .spec.k }}"]`, "exists", true), Message: "{{ .spec.k.x }}"})
	rs = append(rs, katalog.Rule{Test: shorthand("{{ .spec.k }}", "typeString", true), Message: "m"})
	// Lists, template operands, conditions on the old object and the user,
	// and a CEL rule (never evaluated here).
	rs = append(rs,
		katalog.Rule{Test: shorthand("spec.l[*].x", "prefix", "a"), Message: "m"},
		katalog.Rule{Test: shorthand("spec.l[*].m[*]", "exists", true), Message: "m"},
		katalog.Rule{Test: shorthand("spec.l[*].x", "lte", "{{ .spec.max }}"), Message: "m"},
		katalog.Rule{Test: shorthand("spec.x", "between", "{{ .spec.lo }},{{ .spec.hi }}"), Message: "m"},
		katalog.Rule{Test: shorthand("spec.x", "equals", "{{ .spec.y }}{{ .spec.z }}"), Message: "m"},
		katalog.Rule{Test: shorthand("spec.x", "prefix", "{{ .spec.p }}"), Message: "m",
			When: []katalog.Condition{cond(shorthand("oldObject.spec.x", "notEquals", "{{ .spec.x }}")), cond(shorthand("oldObject.spec.l[*]", "typeMap", true))},
			Or:   []katalog.Condition{cond(shorthand("request.userInfo.groups", "contains", "g")), cond(shorthand("request.operation", "equals", "UPDATE"))}},
		katalog.Rule{Expression: "object.spec.x == 1", Message: "m"},
	)
	return rs
}

func FuzzEvaluate(f *testing.F) {
	set, probs := CompileValidation(fuzzRules())
	if len(probs) > 0 {
		f.Fatal(probs)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var obj map[string]any
		if json.Unmarshal(data, &obj) != nil {
			return
		}
		var orig map[string]any
		_ = json.Unmarshal(data, &orig)
		// The object is its own old object, for the conditions that read one.
		in := Input{Object: obj, OldObject: orig, Operation: "UPDATE", UserInfo: UserInfo{Username: "u", Groups: []string{"g"}}}
		got := set.Evaluate(in)
		for _, r := range got {
			if r.Field == "" || r.Message == "" {
				t.Errorf("result without field or message: %+v", r)
			}
			if strings.Contains(r.Field, "[*]") {
				t.Errorf("result names no element: %+v", r)
			}
		}
		if !reflect.DeepEqual(obj, orig) {
			t.Error("Evaluate modified the object")
		}
		if again := set.Evaluate(in); !reflect.DeepEqual(got, again) {
			t.Errorf("Evaluate is not deterministic:\n%+v\n%+v", got, again)
		}
	})
}

func FuzzPath(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if err.Error() == "" {
				t.Error("empty error")
			}
			return
		}
		if p.Len() == 0 || p.segs[0].isIndex() {
			t.Fatalf("ParsePath(%q) = %#v", s, p.segs)
		}
		// The canonical form reads back to the same path.
		q, err := ParsePath(p.String())
		if err != nil {
			t.Fatalf("ParsePath(%q).String() = %q does not parse: %v", s, p.String(), err)
		}
		if !slices.Equal(p.segs, q.segs) || q.String() != p.String() {
			t.Fatalf("round trip of %q: %#v (%q), then %#v (%q)", s, p.segs, p.String(), q.segs, q.String())
		}
		if ptr := p.Pointer(); strings.Count(ptr, "/") != p.Len() {
			t.Fatalf("Pointer(%q) = %q has the wrong number of segments", s, ptr)
		}
		// Each names elements whose concrete paths look up what it gave.
		obj := map[string]any{}
		var cur any = obj
		for i, seg := range p.segs { // build an object with one element per [*]
			last := i == len(p.segs)-1
			var next any = "leaf"
			if !last {
				if p.segs[i+1].isKey() {
					next = map[string]any{}
				} else {
					n := 1
					if p.segs[i+1].isIndex() {
						n = min(p.segs[i+1].index+1, 4)
					}
					next = make([]any, n)
				}
			}
			switch c := cur.(type) {
			case map[string]any:
				c[seg.key] = next
			case []any:
				idx := 0
				if seg.isIndex() {
					idx = seg.index
				}
				if idx >= len(c) {
					return
				}
				c[idx] = next
			}
			cur = next
		}
		p.Each(obj, func(idx []int, v any, present bool) bool {
			c := p.Concrete(idx)
			if c.Wildcard() {
				t.Fatalf("Concrete(%v) of %q = %q still has [*]", idx, p, c)
			}
			if got, ok := c.Lookup(obj); ok != present || !reflect.DeepEqual(got, v) {
				t.Fatalf("Each(%q) gave %v at %v (%v), Lookup(%q) gives %v (%v)", p, v, idx, present, c, got, ok)
			}
			return true
		})
	})
}

// FuzzPatch checks that every patch applies with a real JSONPatch
// implementation and that patching the result again changes nothing.
func FuzzPatch(f *testing.F) {
	set, probs := CompileMutation([]katalog.MutationRule{
		def("spec.tier", "standard"),
		over("spec.replicas", int64(3)),
		def(`metadata.annotations["app.kubernetes.io/name"]`, "web"),
		over(`metadata.labels["a~b/c"]`, "v"),
		def("spec.policy.retry.max", int64(5)),
		def("spec.containers[0].imagePullPolicy", "IfNotPresent"),
		over("spec.args[1]", "--v=2"),
		def(`status.byName["{{ .spec.name }}"]`, map[string]any{"ready": false}),
		{Field: "spec.backup", Override: val(true), When: []katalog.Condition{cond(shorthand("kind", "equals", "Db"))}},
		def("spec.containers[*].imagePullPolicy", "Always"),
		over("spec.containers[*].ports[*].protocol", "TCP"),
		{Field: "spec.l[*].x", Default: val(int64(1)), When: []katalog.Condition{cond(shorthand("request.userInfo.username", "equals", "u"))}},
	})
	if len(probs) > 0 {
		f.Fatal(probs)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var obj map[string]any
		if json.Unmarshal(data, &obj) != nil || obj == nil {
			return
		}
		ops, err := set.Patch(Input{Object: obj, UserInfo: UserInfo{Username: "u"}})
		if err != nil {
			return // a path runs through a scalar: reported, never patched
		}
		doc, _ := json.Marshal(obj)
		raw, _ := json.Marshal(ops)
		p, err := jsonpatch.DecodePatch(raw)
		if err != nil {
			t.Fatalf("patch %s does not decode: %v", raw, err)
		}
		out, err := p.Apply(doc)
		if err != nil {
			t.Fatalf("patch %s does not apply to %s: %v", raw, doc, err)
		}
		var patched map[string]any
		if err := json.Unmarshal(out, &patched); err != nil {
			t.Fatal(err)
		}
		again, err := set.Patch(Input{Object: patched, UserInfo: UserInfo{Username: "u"}})
		if err != nil || len(again) > 0 {
			t.Fatalf("patching %s again gave %+v, %v", out, again, err)
		}
	})
}
