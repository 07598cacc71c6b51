package rules

import (
	"fmt"
	"strings"
)

// The native engine: the same rules as CEL text for the API server's
// ValidatingAdmissionPolicies and MutatingAdmissionPolicies. The gateway
// never evaluates this CEL itself (its build links no CEL interpreter): it
// only writes it into the policies it registers. The tests evaluate it with
// cel-go against the Go evaluation, and through a real API server.
//
// Every generated expression is total: it never fails at run time (each
// field read is guarded by type and presence checks), so a rule decides
// alone and a policy's failurePolicy only covers misconfiguration.

// CELRule is one validation rule compiled to CEL expressions over a root
// object expression (the object under admission).
type CELRule struct {
	// Warn is action: warn.
	Warn bool
	// Field is the field path as causes and warnings name it.
	Field string
	// Outcome is an int expression: 0 when the rule passes or its when/or
	// conditions do not apply, 1 when it fails, 3 when it fails because the
	// value has the wrong type (the message then gets Detail).
	Outcome string
	// Value is the offending value (null when the field is absent).
	Value string
	// Message is a string expression: the rule's message, rendered.
	Message string
	// Detail is a string expression explaining a type mismatch, e.g.
	// "gt needs a number, got string".
	Detail string
}

// CEL outcome codes.
const (
	celPass     = 0
	celFail     = 1
	celAbsent   = 2
	celMismatch = 3
)

// CEL compiles every rule for the native engine, reading the object
// through scope (see CELScope). It fails for what the native engine cannot
// express (see NativeProblems); the check pass reports those before a
// policy is ever built.
func (s *ValidationSet) CEL(scope *CELScope) ([]CELRule, error) {
	if s == nil {
		return nil, nil
	}
	out := make([]CELRule, 0, len(s.rules))
	for i := range s.rules {
		r := &s.rules[i]
		cr, err := r.cel(scope)
		if err != nil {
			return nil, fmt.Errorf("rule %d: %w", i, err)
		}
		out = append(out, cr)
	}
	return out, nil
}

// NativeProblems lists what the native engine cannot compile in s, in the
// check pass's terms (Path relative to the rule list); nil when it compiles.
func (s *ValidationSet) NativeProblems() []Problem {
	if s == nil {
		return nil
	}
	var out []Problem
	for i := range s.rules {
		r := &s.rules[i]
		base := fmt.Sprintf("[%d]", i)
		out = append(out, r.test.nativeProblems(base)...)
		out = append(out, r.gate.nativeProblems(base)...)
		if r.tmpl != nil {
			if _, err := templateCEL(r.tmpl, "object"); err != nil {
				out = append(out, Problem{Check: "K10", Path: base + ".message", Msg: "the native engine cannot compile this message: " + err.Error(),
					Hint: nativeTemplateHint})
			}
		}
	}
	return out
}

const nativeTemplateHint = "native messages support text, field reads (.spec.x, $.spec.x), if/else, not/and/or, index, len and the template functions; " +
	"simplify the message, or use engine: webhook (or auto, which keeps this feature on the webhook)"

func (t *test) nativeProblems(base string) []Problem {
	if t.field.tmpl != nil {
		return []Problem{{Check: "K08", Path: base + ".field", Msg: "the native engine cannot compile a field path that is a template",
			Hint: "name the field directly, or use engine: webhook (or auto, which keeps this feature on the webhook)"}}
	}
	return nil
}

func (g *gate) nativeProblems(base string) []Problem {
	var out []Problem
	for j := range g.when {
		out = append(out, g.when[j].nativeProblems(fmt.Sprintf("%s.when[%d]", base, j))...)
	}
	for j := range g.or {
		out = append(out, g.or[j].nativeProblems(fmt.Sprintf("%s.or[%d]", base, j))...)
	}
	return out
}

func (r *rule) cel(scope paths) (CELRule, error) {
	if r.field.tmpl != nil {
		return CELRule{}, fmt.Errorf("field %s is a template", r.field.raw)
	}
	gate, err := r.gate.cel(scope)
	if err != nil {
		return CELRule{}, err
	}
	present, v := scope.path(r.field.path)
	var outcome string
	if r.kind == opExists {
		outcome = fmt.Sprintf("(%s ? %d : %d)", present, result01(r.want), result01(!r.want))
	} else {
		body, err := r.celBody(v)
		if err != nil {
			return CELRule{}, err
		}
		outcome = fmt.Sprintf("(%s ? %s : %d)", present, body, celPass)
	}
	if gate != "true" {
		outcome = fmt.Sprintf("(%s ? %s : %d)", gate, outcome, celPass)
	}
	msg := CELString(r.msg)
	if r.tmpl != nil {
		t, err := templateCEL(r.tmpl, scope.root())
		if err != nil {
			return CELRule{}, fmt.Errorf("message: %w", err)
		}
		// A render error, or a message that renders to nothing, falls
		// back to the text as written, as message does.
		msg = celLet("m", t.text, fmt.Sprintf("(%s && m.trim() != '') ? m : %s", t.ok, CELString(r.msg)))
	}
	return CELRule{
		Warn:    r.warn,
		Field:   r.field.path.text,
		Outcome: outcome,
		Value:   fmt.Sprintf("(%s ? %s : null)", present, v),
		Message: msg,
		Detail:  r.celDetail(v),
	}, nil
}

// result01 is the outcome of an exists test: pass when it holds.
func result01(holds bool) int {
	if holds {
		return celPass
	}
	return celFail
}

// cel is the gate as one bool expression ("true" without conditions).
func (g *gate) cel(scope paths) (string, error) {
	var all []string
	for i := range g.when {
		c, err := g.when[i].celCondition(scope)
		if err != nil {
			return "", err
		}
		all = append(all, c)
	}
	if len(g.or) > 0 {
		var any []string
		for i := range g.or {
			c, err := g.or[i].celCondition(scope)
			if err != nil {
				return "", err
			}
			any = append(any, c)
		}
		all = append(all, "("+strings.Join(any, " || ")+")")
	}
	if len(all) == 0 {
		return "true", nil
	}
	return "(" + strings.Join(all, " && ") + ")", nil
}

// celCondition decides a when/or condition as holdsAsCondition does.
func (t *test) celCondition(scope paths) (string, error) {
	if t.field.tmpl != nil {
		return "", fmt.Errorf("condition field %s is a template", t.field.raw)
	}
	present, v := scope.path(t.field.path)
	if t.kind == opExists {
		if t.want {
			return present, nil
		}
		return "!" + present, nil
	}
	body, err := t.celBody(v)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("(%s ? %s == %d : %t)", present, body, celPass, t.neg), nil
}

// celPath returns the CEL expressions of whether p is present under root
// and of its value (valid only when present), as Path.Lookup decides:
// every step checks the container's type and the key or index.
func celPath(root string, p Path) (present, value string) {
	guards := make([]string, 0, len(p.segs))
	cur := root
	for _, s := range p.segs {
		if s.isIndex() {
			guards = append(guards, fmt.Sprintf("type(%s) == list && size(%s) > %d", cur, cur, s.index))
			cur = fmt.Sprintf("%s[%d]", cur, s.index)
			continue
		}
		k := CELString(s.key)
		guards = append(guards, fmt.Sprintf("type(%s) == map && %s in %s", cur, k, cur))
		cur = fmt.Sprintf("%s[%s]", cur, k)
	}
	if len(guards) == 0 {
		return "true", root
	}
	return "(" + strings.Join(guards, " && ") + ")", cur
}

// celBody is the outcome of the operator on a present value v: 0 holds,
// 1 fails, 3 type mismatch (negation folded in, mismatch kept).
func (t *test) celBody(v string) (string, error) {
	pass, fail := celPass, celFail
	if t.neg {
		pass, fail = fail, pass
	}
	decide := func(cond string) string { return fmt.Sprintf("(%s ? %d : %d)", cond, pass, fail) }
	typed := func(guard, cond string) string {
		return fmt.Sprintf("(%s ? %s : %d)", guard, decide(cond), celMismatch)
	}
	switch t.kind {
	case opEquals:
		lit, err := CELValue(t.val)
		if err != nil {
			return "", err
		}
		return decide(fmt.Sprintf("%s == %s", v, lit)), nil
	case opContains:
		lit, err := CELValue(t.val)
		if err != nil {
			return "", err
		}
		list := decide(fmt.Sprintf("%s.exists(e, e == %s)", v, lit))
		str, obj := fmt.Sprint(celMismatch), fmt.Sprint(celMismatch)
		if s, ok := t.val.(string); ok {
			str = decide(fmt.Sprintf("string(%s).contains(%s)", v, CELString(s)))
			obj = decide(fmt.Sprintf("%s in %s", CELString(s), v))
		}
		return fmt.Sprintf("(type(%s) == string ? %s : type(%s) == list ? %s : type(%s) == map ? %s : %d)",
			v, str, v, list, v, obj, celMismatch), nil
	case opPrefix:
		return typed(fmt.Sprintf("type(%s) == string", v), fmt.Sprintf("string(%s).startsWith(%s)", v, CELString(t.str))), nil
	case opSuffix:
		return typed(fmt.Sprintf("type(%s) == string", v), fmt.Sprintf("string(%s).endsWith(%s)", v, CELString(t.str))), nil
	case opRegex:
		return typed(fmt.Sprintf("type(%s) == string", v), fmt.Sprintf("string(%s).matches(%s)", v, CELString(t.str))), nil
	case opGt, opGte, opLt, opLte, opBetween:
		n := "double(" + v + ")"
		var cond string
		switch t.kind {
		case opGt:
			cond = n + " > " + celDouble(t.lo)
		case opGte:
			cond = n + " >= " + celDouble(t.lo)
		case opLt:
			cond = n + " < " + celDouble(t.lo)
		case opLte:
			cond = n + " <= " + celDouble(t.lo)
		default:
			cond = n + " >= " + celDouble(t.lo) + " && " + n + " <= " + celDouble(t.hi)
		}
		return typed(celIsNumber(v), cond), nil
	case opIn:
		lit, err := CELValue(t.list)
		if err != nil {
			return "", err
		}
		return decide(fmt.Sprintf("%s in %s", v, lit)), nil
	case opTypeString, opTypeNumber, opTypeBool, opTypeList, opTypeMap, opTypeNull:
		var is string
		switch t.kind {
		case opTypeString:
			is = fmt.Sprintf("type(%s) == string", v)
		case opTypeNumber:
			is = celIsNumber(v)
		case opTypeBool:
			is = fmt.Sprintf("type(%s) == bool", v)
		case opTypeList:
			is = fmt.Sprintf("type(%s) == list", v)
		case opTypeMap:
			is = fmt.Sprintf("type(%s) == map", v)
		default:
			is = v + " == null"
		}
		if !t.want {
			is = "!(" + is + ")"
		}
		return decide(is), nil
	}
	return "", fmt.Errorf("operator %s has no CEL form", t.name)
}

// celDetail is mismatchDetail in CEL.
func (t *test) celDetail(v string) string {
	need := "a string"
	switch {
	case t.kind.isNumeric():
		need = "a number"
	case t.kind == opContains:
		need = "a string, list or map"
		if _, ok := t.val.(string); !ok {
			need = "a list"
		}
	}
	return fmt.Sprintf("%s + %s", CELString(fmt.Sprintf("%s needs %s, got ", t.name, need)), celTypeName(v))
}

// CELPatch compiles the mutation rules for a MutatingAdmissionPolicy: one
// JSONPatch expression per rule, over root as the previous rules left it
// (mutations of a policy apply in order). Each expression is a list of at
// most one JSONPatch operation; it is empty when the rule does not apply,
// would change nothing, or would have to create a list item or set a field
// inside a scalar (where the webhook engine skips the whole mutation with a
// warning, the native engine skips that rule only).
func (s *MutationSet) CELPatch(root string) ([]string, error) {
	if s == nil {
		return nil, nil
	}
	out := make([]string, 0, len(s.rules))
	for i := range s.rules {
		m := &s.rules[i]
		if m.field.tmpl != nil {
			return nil, fmt.Errorf("mutation rule %d: field %s is a template", i, m.field.raw)
		}
		gate, err := m.gate.cel(inline(root))
		if err != nil {
			return nil, fmt.Errorf("mutation rule %d: %w", i, err)
		}
		walk, err := m.celWalk(root, m.field.path, 0)
		if err != nil {
			return nil, fmt.Errorf("mutation rule %d: %w", i, err)
		}
		if gate != "true" {
			walk = fmt.Sprintf("(%s ? %s : [])", gate, walk)
		}
		out = append(out, walk)
	}
	return out, nil
}

// NativeProblems lists what the native engine cannot compile in s.
func (s *MutationSet) NativeProblems() []Problem {
	if s == nil {
		return nil
	}
	var out []Problem
	for i := range s.rules {
		m := &s.rules[i]
		base := fmt.Sprintf("[%d]", i)
		if m.field.tmpl != nil {
			out = append(out, Problem{Check: "K11", Path: base + ".field", Msg: "the native engine cannot compile a field path that is a template",
				Hint: "name the field directly, or use engine: webhook (or auto, which keeps mutation on the webhook)"})
		}
		out = append(out, m.gate.nativeProblems(base)...)
	}
	return out
}

// celWalk is plan in CEL: cur is the container at segment i.
func (m *mutation) celWalk(cur string, p Path, i int) (string, error) {
	s := p.segs[i]
	last := i == len(p.segs)-1
	var containerOK, present, next string
	if s.isIndex() {
		containerOK = fmt.Sprintf("type(%s) == list && size(%s) > %d", cur, cur, s.index)
		present = "true"
		next = fmt.Sprintf("%s[%d]", cur, s.index)
	} else {
		k := CELString(s.key)
		containerOK = fmt.Sprintf("type(%s) == map", cur)
		present = fmt.Sprintf("%s in %s", k, cur)
		next = fmt.Sprintf("%s[%s]", cur, k)
	}
	// Absent, or a null parent: set the rest as one nested value.
	setRest := func(op string) string { return "[]" }
	rest := p.segs[i+1:]
	if !restHasIndex(rest) {
		v, err := CELValue(nest(m.value, rest))
		if err != nil {
			return "", err
		}
		setRest = func(op string) string {
			return "[" + celPatchOp(CELString(op), CELString(p.pointer(i+1)), v) + "]"
		}
	}
	add, replace := setRest("add"), setRest("replace")
	var here string
	if last {
		v, err := CELValue(m.value)
		if err != nil {
			return "", err
		}
		keep := fmt.Sprintf("%s == %s", next, v)
		if !m.override {
			keep = "!" + celEmpty(next) + " || " + keep
		}
		here = fmt.Sprintf("((%s) ? [] : [%s])", keep, celPatchOp("'replace'", CELString(p.pointer(i+1)), v))
	} else {
		deeper, err := m.celWalk(next, p, i+1)
		if err != nil {
			return "", err
		}
		here = fmt.Sprintf("(%s == null ? %s : (type(%s) == map || type(%s) == list) ? %s : [])", next, replace, next, next, deeper)
	}
	return fmt.Sprintf("(%s ? (%s ? %s : %s) : [])", containerOK, present, here, add), nil
}

// celPatchOp writes one JSONPatch operation of a MutatingAdmissionPolicy.
// (The tests, which have no JSONPatch type, write a map instead.)
var celPatchOp = func(op, path, value string) string {
	return fmt.Sprintf("JSONPatch{op: %s, path: %s, value: %s}", op, path, value)
}

func restHasIndex(segs []segment) bool {
	for _, s := range segs {
		if s.isIndex() {
			return true
		}
	}
	return false
}
