package rules

import (
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

func TestRuleNames(t *testing.T) {
	named := func(name string) katalog.Rule {
		return katalog.Rule{Test: shorthand("spec.x", "exists", true), Message: "m", Name: name}
	}
	for _, tc := range []struct {
		name  string
		rules []katalog.Rule
		msg   string // "" = compiles
	}{
		{"unnamed", []katalog.Rule{named(""), named("")}, ""},
		{"named", []katalog.Rule{named("replicas-range"), named("tier2")}, ""},
		{"upper case", []katalog.Rule{named("Replicas")}, `rule name "Replicas" is not a DNS-1123 label starting with a letter`},
		{"starts with a digit", []katalog.Rule{named("1st")}, "is not a DNS-1123 label"},
		{"a number", []katalog.Rule{named("3")}, "is not a DNS-1123 label"},
		{"trailing dash", []katalog.Rule{named("a-")}, "is not a DNS-1123 label"},
		{"slash", []katalog.Rule{named("a/b")}, "is not a DNS-1123 label"},
		{"too long", []katalog.Rule{named(strings.Repeat("a", 64))}, "longer than 63 characters"},
		{"duplicate", []katalog.Rule{named("a"), named("b"), named("a")}, `rule name "a" is also the name of rule 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, probs := CompileValidation(tc.rules)
			if tc.msg == "" {
				if len(probs) > 0 || set == nil {
					t.Fatalf("problems %+v", probs)
				}
				return
			}
			if len(probs) != 1 || probs[0].Check != "K08" || !strings.HasSuffix(probs[0].Path, ".name") || !strings.Contains(probs[0].Msg, tc.msg) {
				t.Fatalf("problems %+v, want one K08 at .name with %q", probs, tc.msg)
			}
		})
	}
}

func TestAuditRules(t *testing.T) {
	rs := []katalog.Rule{
		{Test: shorthand("spec.replicas", "lte", int64(10)), Message: "at most 10", Name: "max"},
		{Test: shorthand("spec.image", "prefix", "r/"), Message: "from r/", Action: "warn"},
		{Test: shorthand("spec.tier", "in", []any{"a"}), Message: "tier a", Action: "audit", Name: "tier"},
		{Expression: "object.spec.replicas > 0", Message: "positive", Action: "audit"},
	}
	set, probs := CompileValidation(rs)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	obj := map[string]any{"spec": map[string]any{"replicas": int64(20), "image": "x", "tier": "b"}}
	got := set.Evaluate(Input{Object: obj})
	if len(got) != 3 {
		t.Fatalf("results %+v", got)
	}
	want := []struct {
		rule        int
		name        string
		warn, audit bool
	}{{0, "max", false, false}, {1, "", true, false}, {2, "tier", false, true}}
	for i, w := range want {
		r := got[i]
		if r.Rule != w.rule || r.Name != w.name || r.Warn != w.warn || r.Audit != w.audit {
			t.Errorf("result %d = %+v, want rule %d %q warn %t audit %t", i, r, w.rule, w.name, w.warn, w.audit)
		}
	}
	if ids := []string{RuleID(0, "max"), RuleID(1, "")}; ids[0] != "max" || ids[1] != "1" {
		t.Errorf("RuleID %q", ids)
	}
	exprs := set.Expressions()
	if len(exprs) != 1 || !exprs[0].Audit || exprs[0].Index != 3 {
		t.Errorf("expressions %+v", exprs)
	}

	// enforcement: audit puts every rule, warn rules and CEL rules
	// included, in audit mode; a warn rule keeps Warn (what it would do).
	set.Audit()
	got = set.Evaluate(Input{Object: obj})
	for _, r := range got {
		if !r.Audit {
			t.Errorf("after Audit, result %+v is not audited", r)
		}
	}
	if !got[1].Warn || got[0].Warn {
		t.Errorf("Warn changed by Audit: %+v", got)
	}
	infos := set.Rules()
	if len(infos) != 4 || !infos[3].Expression || !infos[0].Audit || infos[0].ID() != "max" || infos[3].ID() != "3" {
		t.Errorf("rules %+v", infos)
	}
	if !set.Expressions()[0].Audit {
		t.Error("CEL rule not audited")
	}
	var nilSet *ValidationSet
	nilSet.Audit()
	if nilSet.Rules() != nil {
		t.Error("nil set lists rules")
	}
}
