package rules

import (
	"reflect"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

func cond(t katalog.Test) katalog.Condition { return katalog.Condition{Test: t} }

func TestCompileValidationProblems(t *testing.T) {
	ok := func(r katalog.Rule) katalog.Rule {
		if r.Message == "" {
			r.Message = "m"
		}
		return r
	}
	twoShorthands := shorthand("spec.x", "gt", int64(1))
	setShorthand(&twoShorthands, "lt", val(int64(5)))
	withValue := shorthand("spec.x", "gt", int64(1))
	withValue.Value = val(int64(2))
	longAndShort := longForm("spec.x", "gt", int64(1))
	setShorthand(&longAndShort, "regex", val("a"))

	tests := []struct {
		name  string
		rule  katalog.Rule
		check string
		path  string
		msg   string // substring
	}{
		{"field missing", ok(katalog.Rule{Test: shorthand("", "exists", true)}), "K08", "[0].field", "field is required"},
		{"field malformed", ok(katalog.Rule{Test: shorthand("spec..x", "exists", true)}), "K08", "[0].field", "expected a key at offset 5"},
		{"message missing", katalog.Rule{Test: shorthand("spec.x", "exists", true)}, "K08", "[0].message", "message is required"},
		{"no operator", ok(katalog.Rule{Test: katalog.Test{Field: "spec.x"}}), "K08", "[0]", "no operator"},
		{"two shorthands", ok(katalog.Rule{Test: twoShorthands}), "K08", "[0].lt", "two operators: gt and lt"},
		{"operator and shorthand", ok(katalog.Rule{Test: longAndShort}), "K08", "[0].regex", "two operators: operator: gt and regex"},
		{"unknown operator", ok(katalog.Rule{Test: longForm("spec.x", "matches", "a")}), "K08", "[0].operator", `unknown operator "matches"`},
		{"value without operator", ok(katalog.Rule{Test: withValue}), "K08", "[0].value", "value: is only read with operator:"},
		{"bad action", ok(katalog.Rule{Test: shorthand("spec.x", "exists", true), Action: "block"}), "K08", "[0].action", `action "block" is not deny, warn or audit`},

		{"regex does not compile", ok(katalog.Rule{Test: shorthand("spec.x", "regex", "a(")}), "K09", "[0].regex", "does not compile"},
		{"regex long form", ok(katalog.Rule{Test: longForm("spec.x", "regex", "(?<=a)")}), "K09", "[0].value", "does not compile"},
		{"regex not a string", ok(katalog.Rule{Test: shorthand("spec.x", "regex", int64(1))}), "K09", "[0].regex", "needs a string"},
		{"prefix not a string", ok(katalog.Rule{Test: shorthand("spec.x", "prefix", true)}), "K09", "[0].prefix", "needs a string"},
		{"bound does not parse", ok(katalog.Rule{Test: shorthand("spec.x", "gt", "ten")}), "K09", "[0].gt", `bound "ten" is not a number`},
		{"bound NaN", ok(katalog.Rule{Test: shorthand("spec.x", "lte", "NaN")}), "K09", "[0].lte", "is not a number"},
		{"bound a list", ok(katalog.Rule{Test: shorthand("spec.x", "gte", []any{int64(1)})}), "K09", "[0].gte", "must be a number, not a list"},
		{"bound missing", ok(katalog.Rule{Test: longForm("spec.x", "lt", nil)}), "K09", "[0].value", "lt needs a value"},
		{"between lo > hi", ok(katalog.Rule{Test: shorthand("spec.x", "between", "10,1")}), "K09", "[0].between", "lower bound 10 is above upper bound 1"},
		{"between malformed", ok(katalog.Rule{Test: shorthand("spec.x", "between", "1-10")}), "K09", "[0].between", `"1-10" is not "lo,hi"`},
		{"between bad bound", ok(katalog.Rule{Test: shorthand("spec.x", "notBetween", "1,x")}), "K09", "[0].notBetween", `upper bound "x" is not a number`},
		{"between three items", ok(katalog.Rule{Test: shorthand("spec.x", "between", []any{int64(1), int64(2), int64(3)})}), "K09", "[0].between", "3 items, want 2"},
		{"between a number", ok(katalog.Rule{Test: shorthand("spec.x", "between", int64(5))}), "K09", "[0].between", "not the number 5"},
		{"in empty", ok(katalog.Rule{Test: shorthand("spec.x", "in", []any{})}), "K09", "[0].in", "non-empty list"},
		{"notIn not a list", ok(katalog.Rule{Test: shorthand("spec.x", "notIn", "a,b")}), "K09", "[0].notIn", `needs a list, not the string "a,b"`},
		{"equals null", ok(katalog.Rule{Test: shorthand("spec.x", "equals", nil)}), "K09", "[0].equals", "equals needs a value"},
		{"exists not a bool", ok(katalog.Rule{Test: shorthand("spec.x", "exists", "yes")}), "K09", "[0].exists", "takes true or false"},
		{"typeMap not a bool", ok(katalog.Rule{Test: shorthand("spec.x", "typeMap", int64(1))}), "K09", "[0].typeMap", "takes true or false"},

		{"message template", katalog.Rule{Test: shorthand("spec.x", "exists", true), Message: "{{ .spec.x | nope }}"}, "K10", "[0].message", `function "nope" not defined`},
		{"field template", ok(katalog.Rule{Test: shorthand("spec.{{ .a ", "exists", true)}), "K10", "[0].field", "unclosed action"},

		{"when problem", ok(katalog.Rule{Test: shorthand("spec.x", "exists", true),
			When: []katalog.Condition{cond(shorthand("spec.a", "exists", true)), cond(shorthand("spec.b", "between", "5,1"))}}), "K09", "[0].when[1].between", "above upper bound"},
		{"or problem", ok(katalog.Rule{Test: shorthand("spec.x", "exists", true),
			Or: []katalog.Condition{cond(katalog.Test{Field: "spec.a"})}}), "K08", "[0].or[0]", "no operator"},
		{"condition field missing", ok(katalog.Rule{Test: shorthand("spec.x", "exists", true),
			When: []katalog.Condition{cond(shorthand("", "exists", true))}}), "K08", "[0].when[0].field", "field is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, probs := CompileValidation([]katalog.Rule{tt.rule})
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

// Every problem of every rule is reported, with its index.
func TestCompileValidationReportsEveryProblem(t *testing.T) {
	rs := []katalog.Rule{
		{Test: shorthand("spec.a", "exists", true), Message: "ok"},
		{Test: shorthand("spec.b", "regex", "("), Action: "nope"},
		{Test: shorthand("spec.c", "between", "3,1"), Message: "{{ if }}"},
	}
	_, probs := CompileValidation(rs)
	var got []string
	for _, p := range probs {
		got = append(got, p.Check+" "+p.Path)
	}
	want := []string{"K09 [1].regex", "K08 [1].message", "K08 [1].action", "K09 [2].between", "K10 [2].message"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %v, want %v", got, want)
	}
}

func TestSuggestOperator(t *testing.T) {
	_, probs := CompileValidation([]katalog.Rule{{Test: longForm("spec.x", "Regex", "a"), Message: "m"}})
	if len(probs) != 1 || probs[0].Hint != `did you mean "regex"?` {
		t.Errorf("problems = %+v, want a did-you-mean regex hint", probs)
	}
	_, probs = CompileValidation([]katalog.Rule{{Test: longForm("spec.x", "betwen", "1,2"), Message: "m"}})
	if len(probs) != 1 || probs[0].Hint != `did you mean "between"?` {
		t.Errorf("problems = %+v, want a did-you-mean between hint", probs)
	}
}

func TestEvaluateAllRulesInOrder(t *testing.T) {
	set, probs := CompileValidation([]katalog.Rule{
		{Test: shorthand("spec.replicas", "between", "1,10"), Message: "replicas must be between 1 and 10"},
		{Test: shorthand("spec.image", "regex", `^registry\.example\.com/`), Action: "warn", Message: "images should come from the internal registry"},
		{Test: shorthand("spec.tier", "in", []any{"gold", "silver"}), Message: "unknown tier"},
		{Test: shorthand("spec.owner", "exists", true), Action: "deny", Message: "owner is required"},
	})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	obj := decode(t, `{"spec": {"replicas": 20, "image": "docker.io/nginx", "tier": "gold"}}`)
	got := set.Evaluate(Input{Object: obj})
	want := []Result{
		{Field: "spec.replicas", Message: "replicas must be between 1 and 10", Value: 20.0},
		{Field: "spec.image", Message: "images should come from the internal registry", Warn: true, Value: "docker.io/nginx", Rule: 1},
		{Field: "spec.owner", Message: "owner is required", Rule: 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Evaluate =\n%+v\nwant\n%+v", got, want)
	}

	ok := decode(t, `{"spec": {"replicas": 2, "image": "registry.example.com/web", "tier": "silver", "owner": "me"}}`)
	if got := set.Evaluate(Input{Object: ok}); got != nil {
		t.Errorf("Evaluate on a good object = %+v, want nil", got)
	}
}

func TestEvaluateNilSetAndObject(t *testing.T) {
	var s *ValidationSet
	if got := s.Evaluate(Input{Object: decode(t, `{}`)}); got != nil {
		t.Errorf("nil set: %+v", got)
	}
	set := compileOne(t, katalog.Rule{Test: shorthand("spec.x", "exists", true), Message: "x {{ .spec.x }} missing"})
	got := set.Evaluate(Input{})
	if len(got) != 1 || got[0].Message != "x  missing" {
		t.Errorf("nil object: %+v", got)
	}
}

func TestWhenOrGating(t *testing.T) {
	premium := cond(shorthand("spec.tier", "equals", "premium"))
	notFree := cond(shorthand("spec.tier", "notEquals", "free"))
	big := cond(shorthand("spec.size", "gt", int64(100)))
	labelled := cond(shorthand(`metadata.labels["example.com/critical"]`, "equals", "true"))
	tests := []struct {
		name     string
		when, or []katalog.Condition
		obj      string
		applies  bool
	}{
		{"no conditions", nil, nil, `{}`, true},
		{"when holds", []katalog.Condition{premium}, nil, `{"spec": {"tier": "premium"}}`, true},
		{"when fails", []katalog.Condition{premium}, nil, `{"spec": {"tier": "basic"}}`, false},
		{"when on absent field", []katalog.Condition{premium}, nil, `{"spec": {}}`, false},
		{"negative when on absent field", []katalog.Condition{notFree}, nil, `{"spec": {}}`, true},
		{"when type mismatch", []katalog.Condition{big}, nil, `{"spec": {"size": "huge"}}`, false},
		{"all when must hold", []katalog.Condition{premium, big}, nil, `{"spec": {"tier": "premium", "size": 5}}`, false},
		{"all when hold", []katalog.Condition{premium, big}, nil, `{"spec": {"tier": "premium", "size": 500}}`, true},
		{"one or holds", nil, []katalog.Condition{premium, labelled}, `{"metadata": {"labels": {"example.com/critical": "true"}}, "spec": {}}`, true},
		{"no or holds", nil, []katalog.Condition{premium, labelled}, `{"spec": {"tier": "basic"}}`, false},
		{"when and or both pass", []katalog.Condition{big}, []katalog.Condition{premium, labelled}, `{"spec": {"tier": "premium", "size": 500}}`, true},
		{"when passes, or fails", []katalog.Condition{big}, []katalog.Condition{premium}, `{"spec": {"tier": "basic", "size": 500}}`, false},
		{"or passes, when fails", []katalog.Condition{big}, []katalog.Condition{premium}, `{"spec": {"tier": "premium", "size": 1}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The rule itself always fails, so a result means it was evaluated.
			set := compileOne(t, katalog.Rule{Test: shorthand("spec.never", "exists", true), Message: "applied", When: tt.when, Or: tt.or})
			got := len(set.Evaluate(Input{Object: decode(t, tt.obj)})) == 1
			if got != tt.applies {
				t.Errorf("rule applied = %v, want %v", got, tt.applies)
			}
		})
	}
}

func TestMessageTemplates(t *testing.T) {
	obj := decode(t, `{"metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "shop"}},
		"spec": {"replicas": 1000000, "ratio": 0.25, "tags": ["a", "b"], "nothing": null}}`)
	tests := []struct{ msg, want string }{
		{"static message", "static message"},
		{"{{ .metadata.name }}: replicas {{ .spec.replicas }} is too many", "web: replicas 1000000 is too many"},
		{"ratio {{ .spec.ratio }}", "ratio 0.25"},
		{"tags {{ .spec.tags }} / {{ join \",\" .spec.tags }}", `tags ["a","b"] / a,b`},
		{`app {{ index .metadata.labels "app.kubernetes.io/name" }}`, "app shop"},
		{"tier [{{ .spec.tier }}] [{{ .spec.nothing }}] [{{ .spec.deep.deeper }}]", "tier [] [] []"},
		{`tier {{ .spec.tier | default "standard" | upper }}`, "tier STANDARD"},
		{"{{ if gt .spec.replicas 10.0 }}too many{{ else }}fine{{ end }}", "too many"},
		// Reading below a null is an execution error: the raw text is used.
		{"broken {{ .spec.nothing.x }}", "broken {{ .spec.nothing.x }}"},
		// So is a message that renders to nothing.
		{" {{ .spec.deep.deeper }} ", " {{ .spec.deep.deeper }} "},
	}
	for _, tt := range tests {
		set := compileOne(t, katalog.Rule{Test: shorthand("spec.absent", "exists", true), Message: tt.msg})
		res := set.Evaluate(Input{Object: obj})
		if len(res) != 1 || res[0].Message != tt.want {
			t.Errorf("message %q rendered %+v, want %q", tt.msg, res, tt.want)
		}
	}
}

func TestTemplateFieldPath(t *testing.T) {
	// The field to check is named by the object itself.
	set := compileOne(t, katalog.Rule{
		Test:    shorthand(`spec.limits["{{ .spec.profile }}"]`, "lte", int64(4)),
		Message: "limit for {{ .spec.profile }} too high",
	})
	obj := decode(t, `{"spec": {"profile": "cpu.large", "limits": {"cpu.large": 8, "cpu.small": 2}}}`)
	want := []Result{{Field: `spec.limits["cpu.large"]`, Message: "limit for cpu.large too high", Value: 8.0}}
	if got := set.Evaluate(Input{Object: obj}); !reflect.DeepEqual(got, want) {
		t.Errorf("Evaluate = %+v, want %+v", got, want)
	}
	obj = decode(t, `{"spec": {"profile": "cpu.small", "limits": {"cpu.large": 8, "cpu.small": 2}}}`)
	if got := set.Evaluate(Input{Object: obj}); got != nil {
		t.Errorf("Evaluate = %+v, want nil", got)
	}

	// A template that renders to a bad path names no field: absent.
	req := compileOne(t, katalog.Rule{Test: shorthand("spec.{{ .spec.which }}", "exists", true), Message: "missing"})
	got := req.Evaluate(Input{Object: decode(t, `{"spec": {"which": "a b"}}`)})
	if len(got) != 1 || got[0].Field != "spec.a b" || got[0].Value != nil {
		t.Errorf("bad rendered path: %+v", got)
	}
	got = req.Evaluate(Input{Object: decode(t, `{"spec": {"which": "x", "x": 1}}`)})
	if got != nil {
		t.Errorf("good rendered path: %+v", got)
	}
}
