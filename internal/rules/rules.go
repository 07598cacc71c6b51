package rules

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// Problem is a compile error in one rule. Path is relative to the rule list
// ("[2].regex", "[0].when[1].between") so the check pass can position it.
type Problem struct {
	Check string // K08 (rule shape), K09 (values), K10 (templates), K11 (mutation)
	Path  string
	Msg   string
	Hint  string
}

// Input is what a rule set is evaluated against. Rules, conditions and
// templates read Object; OldObject and Operation travel with it for callers.
type Input struct {
	Object    map[string]any // the object under admission (decoded JSON)
	OldObject map[string]any // nil on CREATE
	Operation string         // CREATE, UPDATE, DELETE, CONNECT
}

// Result is one failed rule.
type Result struct {
	Field   string // resolved field path, e.g. spec.containers[0].image
	Message string // rendered message
	Warn    bool   // action: warn
	Value   any    // the offending value (nil when absent)
}

// ValidationSet is a compiled, ordered list of validation rules.
type ValidationSet struct {
	rules []rule
}

type rule struct {
	test
	gate
	msg  string
	tmpl *template.Template // nil for a message without {{
	warn bool
}

// gate holds the conditions that decide whether a rule applies.
type gate struct {
	when []test // all must hold
	or   []test // at least one must hold
}

func (g *gate) open(obj map[string]any) bool {
	for i := range g.when {
		if !g.when[i].holdsAsCondition(obj) {
			return false
		}
	}
	for i := range g.or {
		if g.or[i].holdsAsCondition(obj) {
			return true
		}
	}
	return len(g.or) == 0
}

// CompileValidation compiles rules; it returns every problem found, and a
// nil set when there is any.
func CompileValidation(rs []katalog.Rule) (*ValidationSet, []Problem) {
	var c compiler
	set := &ValidationSet{rules: make([]rule, 0, len(rs))}
	for i := range rs {
		r := &rs[i]
		base := fmt.Sprintf("[%d]", i)
		cr := rule{msg: r.Message}
		cr.test = c.compileTest(base, &r.Test)
		cr.gate = c.compileGate(base, r.When, r.Or)
		switch {
		case r.Message == "":
			c.add("K08", base+".message", "message is required",
				"say what is wrong and how to fix it; it may use templates like {{ .spec.replicas }}")
		case strings.Contains(r.Message, "{{"):
			cr.tmpl = c.compileTemplate(base+".message", r.Message)
		}
		switch r.Action {
		case "", "deny":
		case "warn":
			cr.warn = true
		default:
			c.add("K08", base+".action", fmt.Sprintf("action %q is not deny or warn", r.Action), suggest(r.Action, []string{"deny", "warn"}))
		}
		set.rules = append(set.rules, cr)
	}
	if len(c.probs) > 0 {
		return nil, c.probs
	}
	return set, nil
}

// Evaluate runs every rule (not first-failure) and returns the failures in
// rule order; nil when every rule passes. A nil set has no rules.
func (s *ValidationSet) Evaluate(in Input) []Result {
	if s == nil {
		return nil
	}
	var out []Result
	for i := range s.rules {
		r := &s.rules[i]
		if !r.gate.open(in.Object) {
			continue
		}
		text, v, present := r.field.lookup(in.Object)
		o := r.eval(v, present)
		if o == holds || o == absent {
			continue
		}
		msg := r.message(in.Object)
		if o == mismatch {
			msg += " (" + r.mismatchDetail(v) + ")"
		}
		out = append(out, Result{Field: text, Message: msg, Warn: r.warn, Value: v})
	}
	return out
}

// MessageAt is the message of rule i as written ("" out of range).
func (s *ValidationSet) MessageAt(i int) string {
	if s == nil || i < 0 || i >= len(s.rules) {
		return ""
	}
	return s.rules[i].msg
}

// message renders the rule's message. A render error, or a message that
// renders to nothing, falls back to the text as written: a denial always
// says something.
func (r *rule) message(obj map[string]any) string {
	if r.tmpl == nil {
		return r.msg
	}
	s, err := render(r.tmpl, obj)
	if err != nil || strings.TrimSpace(s) == "" {
		return r.msg
	}
	return s
}

// compiler collects the problems of one rule list.
type compiler struct {
	probs []Problem
}

func (c *compiler) add(check, path, msg, hint string) {
	c.probs = append(c.probs, Problem{Check: check, Path: path, Msg: msg, Hint: hint})
}

// compileField compiles base.field; check is the ID for a missing or malformed path.
func (c *compiler) compileField(f *field, base, text, check string) {
	path := base + ".field"
	f.raw = text
	switch {
	case text == "":
		c.add(check, path, "field is required", `name the field, e.g. spec.replicas or metadata.labels["app.kubernetes.io/name"]`)
		return
	case strings.Contains(text, "{{"):
		f.tmpl = c.compileTemplate(path, text)
		return
	}
	p, err := ParsePath(text)
	if err != nil {
		c.add(check, path, err.Error(), `dot path with list indexes, e.g. spec.containers[0].image; quote keys holding dots or slashes: metadata.annotations["example.com/owner"]`)
		return
	}
	f.path = p
}

// compileTemplate parses a template at path (K10); nil on error.
func (c *compiler) compileTemplate(path, text string) *template.Template {
	t, err := ParseTemplate(path, text)
	if err != nil {
		c.add("K10", path, err.Error(), "allowed functions: "+strings.Join(Functions, ", ")+" and the text/template builtins")
		return nil
	}
	return t
}

func (c *compiler) compileGate(base string, when, or []katalog.Condition) gate {
	var g gate
	for j := range when {
		t := c.compileTest(fmt.Sprintf("%s.when[%d]", base, j), &when[j].Test)
		g.when = append(g.when, t)
	}
	for j := range or {
		t := c.compileTest(fmt.Sprintf("%s.or[%d]", base, j), &or[j].Test)
		g.or = append(g.or, t)
	}
	return g
}
