package rules

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/tmpl"
)

// Problem is a compile error in one rule. Path is relative to the rule list
// ("[2].regex", "[0].when[1].between") so the check pass can position it.
type Problem struct {
	Check string // K08 (rule shape), K09 (values), K10 (templates), K11 (mutation)
	Path  string
	Msg   string
	Hint  string
}

// Input is what a rule set is evaluated against. Rules, templates and
// conditions read Object; conditions may also read OldObject (paths
// starting with oldObject.) and the request (request.operation,
// request.userInfo.*).
type Input struct {
	Object    map[string]any // the object under admission (decoded JSON)
	OldObject map[string]any // nil on CREATE
	Operation string         // CREATE, UPDATE, DELETE, CONNECT
	UserInfo  UserInfo       // the requesting user
}

// UserInfo is the requesting user, as in the AdmissionRequest's userInfo.
type UserInfo struct {
	Username string
	UID      string
	Groups   []string
	Extra    map[string][]string
}

// Result is one failed rule.
type Result struct {
	Field   string // resolved field path, e.g. spec.containers[0].image
	Message string // rendered message
	Warn    bool   // action: warn
	// Audit is set for a rule in audit mode (action: audit, or an entry
	// with enforcement: audit): its failure is recorded, never shown to
	// the user. Warn keeps what the rule would do once enforced.
	Audit bool
	Value any // the offending value (nil when absent)
	// Rule is the index of the rule in the entry's list, Name its name
	// ("" when unnamed); RuleID combines them.
	Rule int
	Name string
}

// RuleID names a rule in metrics, logs and reports: its name, or its
// index in the entry's rule list when it has none.
func RuleID(index int, name string) string {
	if name != "" {
		return name
	}
	return strconv.Itoa(index)
}

// ValidationSet is a compiled, ordered list of validation rules.
type ValidationSet struct {
	rules []rule
}

type rule struct {
	test
	gate
	msg   string
	tmpl  *tmpl.Template // nil for a message without {{
	warn  bool
	audit bool
	index int    // position in the entry's rule list
	name  string // "" when unnamed
	// expr is set for a CEL rule: the webhook engine never evaluates it.
	expr *Expression
}

// gate holds the conditions that decide whether a rule applies.
type gate struct {
	when []test // all must hold
	or   []test // at least one must hold
}

func (g *gate) open(in *Input) bool {
	for i := range g.when {
		if !g.when[i].holdsAsCondition(in) {
			return false
		}
	}
	for i := range g.or {
		if g.or[i].holdsAsCondition(in) {
			return true
		}
	}
	return len(g.or) == 0
}

// Expression is a CEL rule (expression: in the Katalog). The webhook
// engine does not evaluate it: the API server does (native engine), with
// the variables of a ValidatingAdmissionPolicy (object, oldObject,
// request, namespaceObject); `ork gateway eval` evaluates it locally.
type Expression struct {
	Index             int    // position in the entry's rule list
	Name              string // the rule's name; "" when unnamed
	Expression        string // CEL, evaluating to a bool: true means valid
	Message           string // shown when it is false (literal text)
	MessageExpression string // CEL evaluating to a string; wins over Message
	Warn              bool   // action: warn
	// Audit: the rule is in audit mode (action: audit, or the entry's
	// enforcement: audit); a ValidatingAdmissionPolicy records it with
	// validationActions [Audit] and never denies or warns.
	Audit bool
}

// CompileValidation compiles rules; it returns every problem found, and a
// nil set when there is any.
func CompileValidation(rs []katalog.Rule) (*ValidationSet, []Problem) {
	var c compiler
	set := &ValidationSet{rules: make([]rule, 0, len(rs))}
	names := map[string]int{}
	for i := range rs {
		r := &rs[i]
		base := fmt.Sprintf("[%d]", i)
		cr := rule{msg: r.Message, warn: r.Action == "warn", audit: r.Action == "audit", index: i, name: r.Name}
		c.compileName(base, i, r.Name, names)
		if r.Expression != "" || r.MessageExpression != "" {
			cr.expr = c.compileExpression(base, i, r, cr.warn)
			cr.expr.Name, cr.expr.Audit = r.Name, cr.audit
		} else {
			cr.test = c.compileTest(base, &r.Test, false)
			cr.gate = c.compileGate(base, r.When, r.Or)
			switch {
			case r.Message == "":
				c.add("K08", base+".message", "message is required",
					"say what is wrong and how to fix it; it may use templates like {{ .spec.replicas }}")
			case strings.Contains(r.Message, "{{"):
				cr.tmpl = c.compileTemplate(base+".message", r.Message)
			}
		}
		switch r.Action {
		case "", "deny", "warn", "audit":
		default:
			c.add("K08", base+".action", fmt.Sprintf("action %q is not deny, warn or audit", r.Action), suggest(r.Action, []string{"deny", "warn", "audit"}))
		}
		set.rules = append(set.rules, cr)
	}
	if len(c.probs) > 0 {
		return nil, c.probs
	}
	return set, nil
}

// maxRuleName bounds a rule name: it is a metric label value and part of
// report names.
const maxRuleName = 63

// compileName checks a rule's optional name: a DNS-1123 label (it names
// the rule in metrics, logs and reports), unique in the list, and not a
// number (an unnamed rule is named by its index).
func (c *compiler) compileName(base string, index int, name string, seen map[string]int) {
	if name == "" {
		return
	}
	const hint = "name rules with lowercase letters, digits and '-', starting with a letter, e.g. replicas-range"
	switch {
	case len(name) > maxRuleName:
		c.add("K08", base+".name", fmt.Sprintf("rule name %q is longer than %d characters", clipName(name), maxRuleName), hint)
		return
	case !isRuleName(name):
		c.add("K08", base+".name", fmt.Sprintf("rule name %q is not a DNS-1123 label starting with a letter", clipName(name)), hint)
		return
	}
	if first, dup := seen[name]; dup {
		c.add("K08", base+".name", fmt.Sprintf("rule name %q is also the name of rule %d", name, first), "give every rule of an entry its own name")
		return
	}
	seen[name] = index
}

// isRuleName: lowercase letters, digits and '-', starting with a letter
// and not ending with '-'.
func isRuleName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-') {
			return false
		}
	}
	return true
}

func clipName(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// compileExpression checks the shape of a CEL rule (K08). The CEL itself
// is type-checked by the toolchain (ork validate), not here: the gateway
// links no CEL library.
func (c *compiler) compileExpression(base string, index int, r *katalog.Rule, warn bool) *Expression {
	e := &Expression{Index: index, Expression: r.Expression, Message: r.Message, MessageExpression: r.MessageExpression, Warn: warn}
	const hint = "an expression rule is the CEL expression and its message; write conditions in the expression (a || b)"
	switch {
	case r.Expression == "":
		c.add("K08", base+".messageExpression", "messageExpression without expression",
			"add expression: the CEL that must hold, or drop messageExpression")
	case strings.TrimSpace(r.Expression) == "":
		c.add("K08", base+".expression", "expression is blank", "write the CEL that must hold, e.g. object.spec.replicas <= 10")
	}
	if r.Field != "" {
		c.add("K08", base+".field", "expression and field: a rule is either a CEL expression or a field test", hint)
	}
	if r.Operator != "" || r.Value != nil || len(r.Shorthands()) > 0 {
		c.add("K08", base, "expression and an operator: a rule is either a CEL expression or a field test", hint)
	}
	if len(r.When) > 0 || len(r.Or) > 0 {
		c.add("K08", c.firstCondition(base, r), "when/or on an expression rule", hint)
	}
	switch {
	case r.Message == "" && r.MessageExpression == "":
		c.add("K08", base+".message", "message or messageExpression is required",
			"say what is wrong and how to fix it; messageExpression may compute it: 'replicas ' + string(object.spec.replicas) + ' is too many'")
	case strings.Contains(r.Message, "{{"):
		c.add("K08", base+".message", "the message of an expression rule is literal text, not a template",
			"use messageExpression to put values in the message")
	}
	return e
}

func (c *compiler) firstCondition(base string, r *katalog.Rule) string {
	if len(r.When) > 0 {
		return base + ".when"
	}
	return base + ".or"
}

// Expressions returns the CEL rules of s, in rule order; nil when none.
func (s *ValidationSet) Expressions() []Expression {
	if s == nil {
		return nil
	}
	var out []Expression
	for i := range s.rules {
		if e := s.rules[i].expr; e != nil {
			out = append(out, *e)
		}
	}
	return out
}

// Audit puts every rule of s in audit mode (an entry with enforcement:
// audit). It is called once, at compile time.
func (s *ValidationSet) Audit() {
	if s == nil {
		return
	}
	for i := range s.rules {
		s.rules[i].audit = true
		if e := s.rules[i].expr; e != nil {
			e.Audit = true
		}
	}
}

// RuleInfo describes one rule of a set, for metrics and reports.
type RuleInfo struct {
	Index int
	Name  string
	Warn  bool
	Audit bool
	// Expression is set for a CEL rule (evaluated by the API server).
	Expression bool
}

// ID is RuleID of the rule.
func (r RuleInfo) ID() string { return RuleID(r.Index, r.Name) }

// Rules lists the rules of s in order; nil for a nil set.
func (s *ValidationSet) Rules() []RuleInfo {
	if s == nil {
		return nil
	}
	out := make([]RuleInfo, len(s.rules))
	for i := range s.rules {
		r := &s.rules[i]
		out[i] = RuleInfo{Index: r.index, Name: r.name, Warn: r.warn, Audit: r.audit, Expression: r.expr != nil}
	}
	return out
}

// HasFieldRules reports whether s has a rule the webhook engine evaluates
// (any rule but a CEL one).
func (s *ValidationSet) HasFieldRules() bool {
	if s == nil {
		return false
	}
	for i := range s.rules {
		if s.rules[i].expr == nil {
			return true
		}
	}
	return false
}

// Evaluate runs every rule (not first-failure) and returns the failures in
// rule order; nil when every rule passes. A nil set has no rules. A rule
// on a path with [*] fails once per failing element, with the element's
// index in Field. CEL rules (Expressions) are not evaluated here.
func (s *ValidationSet) Evaluate(in Input) []Result {
	if s == nil {
		return nil
	}
	var out []Result
	for i := range s.rules {
		r := &s.rules[i]
		if r.expr != nil || !r.gate.open(&in) {
			continue
		}
		if r.field.tmpl == nil && r.field.wild {
			out = r.evaluateEach(&in, out)
			continue
		}
		text, v, present := r.field.lookup(&in)
		if res, failed := r.verdict(&in, v, present); failed {
			res.Field = text
			out = append(out, res)
		}
	}
	return out
}

// evaluateEach applies the rule to every element its [*] path selects: one
// failure per failing element, named by its index.
func (r *rule) evaluateEach(in *Input, out []Result) []Result {
	r.field.path.Each(in.Object, func(indexes []int, v any, present bool) bool {
		if res, failed := r.verdict(in, v, present); failed {
			res.Field = r.field.path.Concrete(indexes).text
			out = append(out, res)
		}
		return true
	})
	return out
}

// verdict returns the failure of the rule on one value (Field unset), and
// whether it fails.
func (r *rule) verdict(in *Input, v any, present bool) (Result, bool) {
	o, detail := r.evalIn(in, v, present)
	if o == holds || o == absent {
		return Result{}, false
	}
	msg := r.message(in.Object)
	if detail != "" {
		msg += " (" + detail + ")"
	}
	return Result{Message: msg, Warn: r.warn, Audit: r.audit, Value: v, Rule: r.index, Name: r.name}, true
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

// compileField compiles base.field; check is the ID for a missing or
// malformed path. Conditions (condition true) may read oldObject. and
// request. paths; rules and mutations read the object only.
func (c *compiler) compileField(f *field, base, text, check string, condition bool) {
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
		c.add(check, path, err.Error(), `dot path with list indexes or [*], e.g. spec.containers[*].image; quote keys holding dots or slashes: metadata.annotations["example.com/owner"]`)
		return
	}
	f.path, f.wild = p, p.Wildcard()
	root, rest, msg := splitRoot(p)
	switch {
	case root == rootObject:
	case !condition:
		c.add(check, path, fmt.Sprintf("%s reads the %s; only when/or conditions may", text, root),
			"test the object's own fields here, and put conditions on oldObject. or request. in when:")
	case msg != "":
		c.add(check, path, msg, "read request.operation or request.userInfo.username, .uid, .groups or .extra")
	default:
		f.root, f.path, f.wild = root, rest, rest.Wildcard()
	}
}

// compileTemplate parses a template at path (K10); nil on error.
func (c *compiler) compileTemplate(path, text string) *tmpl.Template {
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
		t := c.compileTest(fmt.Sprintf("%s.when[%d]", base, j), &when[j].Test, true)
		g.when = append(g.when, t)
	}
	for j := range or {
		t := c.compileTest(fmt.Sprintf("%s.or[%d]", base, j), &or[j].Test, true)
		g.or = append(g.or, t)
	}
	return g
}
