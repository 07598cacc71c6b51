package rules

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// decode parses a JSON object the way the admission handler does.
func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

// val is a Katalog value as the loader produces it.
func val(v any) *katalog.Value { return &katalog.Value{V: v} }

// shorthand returns a test with op given as a shorthand key (regex: "^a").
func shorthand(field, op string, v any) katalog.Test {
	t := katalog.Test{Field: field}
	setShorthand(&t, op, val(v))
	return t
}

func setShorthand(t *katalog.Test, op string, v *katalog.Value) {
	name := strings.ToUpper(op[:1]) + op[1:]
	f := reflect.ValueOf(t).Elem().FieldByName(name)
	if !f.IsValid() {
		panic("no shorthand field " + name)
	}
	f.Set(reflect.ValueOf(v))
}

// longForm returns a test in long form (operator: regex, value: "^a"); v nil means no value:.
func longForm(field, op string, v any) katalog.Test {
	t := katalog.Test{Field: field, Operator: op}
	if v != nil {
		t.Value = val(v)
	}
	return t
}

func compileOne(t *testing.T, r katalog.Rule) *ValidationSet {
	t.Helper()
	s, probs := CompileValidation([]katalog.Rule{r})
	if len(probs) > 0 {
		t.Fatalf("compile %+v: %+v", r, probs)
	}
	return s
}

// outcomeOf evaluates one test on spec.x (doc is the JSON of spec.x, "" for absent).
func outcomeOf(t *testing.T, test katalog.Test, doc string) string {
	t.Helper()
	obj := decode(t, `{"spec": {}}`)
	if doc != "" {
		obj = decode(t, `{"spec": {"x": `+doc+`}}`)
	}
	s := compileOne(t, katalog.Rule{Test: test, Message: "bad x"})
	res := s.Evaluate(Input{Object: obj})
	switch {
	case len(res) == 0:
		return "pass"
	case len(res) > 1:
		t.Fatalf("one rule gave %d results", len(res))
	case res[0].Message == "bad x":
		return "fail"
	case strings.HasPrefix(res[0].Message, "bad x (") && strings.Contains(res[0].Message, " needs "):
		return "mismatch"
	}
	t.Fatalf("unexpected message %q", res[0].Message)
	return ""
}

// TestOperators covers every operator on a present value that holds, one
// that does not, an absent field and a value of the wrong type.
func TestOperators(t *testing.T) {
	tests := []struct {
		op    string
		value any
		doc   string // spec.x as JSON; "" = absent
		want  string // pass, fail, mismatch
	}{
		{"exists", true, `1`, "pass"},
		{"exists", true, `null`, "pass"},
		{"exists", true, ``, "fail"},
		{"exists", false, ``, "pass"},
		{"exists", false, `"x"`, "fail"},
		{"exists", nil, ``, "fail"}, // exists: (null) means true
		{"notExists", true, ``, "pass"},
		{"notExists", true, `0`, "fail"},
		{"notExists", false, `0`, "pass"},

		{"equals", "a", `"a"`, "pass"},
		{"equals", "a", `"b"`, "fail"},
		{"equals", "a", ``, "pass"},
		{"equals", int64(5), `5`, "pass"},
		{"equals", int64(5), `5.0`, "pass"},
		{"equals", int64(5), `"5"`, "fail"},
		{"equals", 2.5, `2.5`, "pass"},
		{"equals", true, `true`, "pass"},
		{"equals", []any{"a", int64(1)}, `["a", 1]`, "pass"},
		{"equals", []any{"a", int64(1)}, `[1, "a"]`, "fail"},
		{"equals", map[string]any{"k": "v"}, `{"k": "v"}`, "pass"},
		{"equals", map[string]any{"k": "v"}, `{"k": "v", "l": 1}`, "fail"},
		{"notEquals", "a", `"b"`, "pass"},
		{"notEquals", "a", `"a"`, "fail"},
		{"notEquals", "a", ``, "pass"},

		{"contains", "ell", `"hello"`, "pass"},
		{"contains", "xyz", `"hello"`, "fail"},
		{"contains", "b", `["a", "b"]`, "pass"},
		{"contains", int64(2), `[1, 2]`, "pass"},
		{"contains", "c", `["a", "b"]`, "fail"},
		{"contains", "k", `{"k": 1}`, "pass"},
		{"contains", "j", `{"k": 1}`, "fail"},
		{"contains", "a", ``, "pass"},
		{"contains", "a", `5`, "mismatch"},
		{"contains", int64(5), `"a5"`, "mismatch"},
		{"notContains", "ell", `"hello"`, "fail"},
		{"notContains", "xyz", `"hello"`, "pass"},
		{"notContains", "b", `["a", "b"]`, "fail"},
		{"notContains", "a", ``, "pass"},
		{"notContains", "a", `true`, "mismatch"},

		{"prefix", "reg/", `"reg/app"`, "pass"},
		{"prefix", "reg/", `"app"`, "fail"},
		{"prefix", "reg/", ``, "pass"},
		{"prefix", "reg/", `1`, "mismatch"},
		{"notPrefix", "reg/", `"reg/app"`, "fail"},
		{"notPrefix", "reg/", `"app"`, "pass"},
		{"notPrefix", "reg/", `[]`, "mismatch"},
		{"suffix", ":v1", `"app:v1"`, "pass"},
		{"suffix", ":v1", `"app:v2"`, "fail"},
		{"suffix", ":v1", ``, "pass"},
		{"suffix", ":v1", `{}`, "mismatch"},
		{"notSuffix", ":latest", `"app:latest"`, "fail"},
		{"notSuffix", ":latest", `"app:v1"`, "pass"},

		{"regex", `^[a-z]+$`, `"abc"`, "pass"},
		{"regex", `^[a-z]+$`, `"ABC"`, "fail"},
		{"regex", `b`, `"abc"`, "pass"}, // unanchored
		{"regex", `^a`, ``, "pass"},
		{"regex", `^a`, `12`, "mismatch"},

		{"gt", int64(3), `4`, "pass"},
		{"gt", int64(3), `3`, "fail"},
		{"gt", "3", `3.5`, "pass"}, // numeric string bound
		{"gt", int64(3), ``, "pass"},
		{"gt", int64(3), `"4"`, "mismatch"},
		{"gte", int64(3), `3`, "pass"},
		{"gte", 2.5, `2.4`, "fail"},
		{"lt", int64(3), `2`, "pass"},
		{"lt", int64(3), `3`, "fail"},
		{"lt", int64(3), `null`, "mismatch"},
		{"lte", " -1 ", `-1`, "pass"},
		{"lte", int64(3), `4`, "fail"},

		{"between", "1,10", `1`, "pass"},
		{"between", "1,10", `10`, "pass"},
		{"between", "1, 10", `5.5`, "pass"},
		{"between", "1,10", `11`, "fail"},
		{"between", "1,10", `0`, "fail"},
		{"between", []any{int64(-5), "5"}, `-5`, "pass"},
		{"between", "0.5,0.5", `0.5`, "pass"},
		{"between", "1,10", ``, "pass"},
		{"between", "1,10", `"5"`, "mismatch"},
		{"notBetween", "1,10", `5`, "fail"},
		{"notBetween", "1,10", `11`, "pass"},
		{"notBetween", "1,10", ``, "pass"},
		{"notBetween", "1,10", `true`, "mismatch"},

		{"in", []any{"a", "b"}, `"b"`, "pass"},
		{"in", []any{"a", "b"}, `"c"`, "fail"},
		{"in", []any{int64(1), int64(2)}, `2`, "pass"},
		{"in", []any{"1"}, `1`, "fail"},
		{"in", []any{"a"}, ``, "pass"},
		{"notIn", []any{"a", "b"}, `"a"`, "fail"},
		{"notIn", []any{"a", "b"}, `"c"`, "pass"},
		{"notIn", []any{"a"}, ``, "pass"},

		{"typeString", true, `"s"`, "pass"},
		{"typeString", true, `1`, "fail"},
		{"typeString", false, `1`, "pass"},
		{"typeString", true, ``, "pass"},
		{"typeNumber", true, `1.5`, "pass"},
		{"typeNumber", true, `"1"`, "fail"},
		{"typeBool", true, `false`, "pass"},
		{"typeBool", true, `"true"`, "fail"},
		{"typeList", true, `[]`, "pass"},
		{"typeList", true, `{}`, "fail"},
		{"typeMap", true, `{}`, "pass"},
		{"typeMap", true, `[]`, "fail"},
		{"typeNull", true, `null`, "pass"},
		{"typeNull", true, `""`, "fail"},
		{"typeNull", false, `""`, "pass"},
		{"typeNull", true, ``, "pass"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.op] = true
		name := tt.op + " " + tt.doc
		t.Run(name, func(t *testing.T) {
			if got := outcomeOf(t, shorthand("spec.x", tt.op, tt.value), tt.doc); got != tt.want {
				t.Errorf("shorthand %s: %v on %s = %s, want %s", tt.op, tt.value, tt.doc, got, tt.want)
			}
			// The long form means the same.
			if got := outcomeOf(t, longForm("spec.x", tt.op, tt.value), tt.doc); got != tt.want {
				t.Errorf("long form %s: %v on %s = %s, want %s", tt.op, tt.value, tt.doc, got, tt.want)
			}
		})
	}
	for _, op := range katalog.Operators {
		if !seen[op] {
			t.Errorf("operator %s has no test", op)
		}
	}
}

func TestMismatchMessage(t *testing.T) {
	s := compileOne(t, katalog.Rule{Test: shorthand("spec.replicas", "between", "1,10"), Message: "replicas must be 1..10"})
	res := s.Evaluate(Input{Object: decode(t, `{"spec": {"replicas": "ten"}}`)})
	want := []Result{{Field: "spec.replicas", Message: "replicas must be 1..10 (between needs a number, got string)", Value: "ten"}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("got %+v, want %+v", res, want)
	}
}

// TestLongFormBareOperator: operator: exists (or a type check) without value: means true.
func TestLongFormBareOperator(t *testing.T) {
	if got := outcomeOf(t, longForm("spec.x", "exists", nil), ``); got != "fail" {
		t.Errorf("operator: exists on an absent field = %s, want fail", got)
	}
	if got := outcomeOf(t, longForm("spec.x", "notExists", nil), `1`); got != "fail" {
		t.Errorf("operator: notExists on a present field = %s, want fail", got)
	}
	if got := outcomeOf(t, longForm("spec.x", "typeMap", nil), `1`); got != "fail" {
		t.Errorf("operator: typeMap on a number = %s, want fail", got)
	}
}
