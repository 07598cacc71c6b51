package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// The native engine: the same rules as CEL text for the API server's
// ValidatingAdmissionPolicies and MutatingAdmissionPolicies. The gateway
// never evaluates this CEL itself (its build links no CEL interpreter): it
// only writes it into the policies it registers. The tests evaluate it with
// cel-go against the Go evaluation, and through a real API server.
//
// Every generated expression is total: it never fails at run time (each
// field read is guarded by type and presence checks, every conversion by
// the syntax it accepts), so a rule decides alone and a policy's
// failurePolicy only covers misconfiguration.

// CELRule is one field rule (not a CEL rule: see Expressions) compiled to
// CEL for the native engine.
type CELRule struct {
	// Index is the rule's position in the entry's list, Name its name.
	Index int
	Name  string
	// Warn is action: warn; Audit is audit mode (action: audit, or the
	// entry's enforcement: audit). Warn keeps what an audited rule would
	// do once enforced.
	Warn, Audit bool
	// Field is the field path as written; Each is set when it holds [*]
	// (the rule may then fail once per element).
	Field string
	Each  bool
	// Message is the rule's message as written: a policy's static
	// fallback.
	Message string
	// Failures is a list expression: the rule's failures in the order the
	// webhook engine reports them (none when it passes or its when/or
	// conditions do not apply), each a list [field, value, message]: the
	// field path with the element's indexes (spec.containers[1].image),
	// the offending value (null when absent or null) and the rendered
	// message, with the reason of a type mismatch in parentheses.
	Failures string
	// Passes is a bool expression, true exactly when Failures is empty,
	// that builds no list: a policy decides with it and renders Failures
	// only for a denial. Empty for a rule on a [*] path.
	Passes string
}

// CEL outcome codes of a test on one value.
const (
	celPass       = 0 // the operator holds
	celFail       = 1 // it does not
	celAbsent     = 2 // the field (or a template operand) is absent: only exists decides
	celMismatch   = 3 // the value has the wrong type for the operator
	celBadOperand = 4 // a template operand is not a valid bound
)

// CEL compiles the field rules of s (every rule but the CEL ones, which
// Expressions lists) for the native engine, reading the object and the
// request through scope (see CELScope). It fails for what the native
// engine cannot express (see NativeProblems); the check pass reports those
// before a policy is ever built.
func (s *ValidationSet) CEL(scope *CELScope) ([]CELRule, error) {
	if s == nil {
		return nil, nil
	}
	out := make([]CELRule, 0, len(s.rules))
	for i := range s.rules {
		r := &s.rules[i]
		if r.expr != nil {
			continue
		}
		cr, err := r.cel(scope)
		if err != nil {
			return nil, fmt.Errorf("rule %d: %w", r.index, err)
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
		if r.expr != nil {
			continue // CEL already
		}
		base := fmt.Sprintf("[%d]", i)
		out = append(out, r.test.nativeProblems(base, "K08")...)
		out = append(out, r.gate.nativeProblems(base, "K08")...)
		if r.tmpl != nil {
			if _, err := templateCEL(r.tmpl, "object"); err != nil {
				out = append(out, Problem{Check: "K10", Path: base + ".message", Msg: "the native engine cannot compile this message: " + err.Error(),
					Hint: nativeTemplateHint})
			}
		}
	}
	return out
}

const nativeTemplateHint = "native templates support text, field reads (.spec.x, $.spec.x), if/else, not/and/or, index, len and the template functions; " +
	"simplify the template, or use engine: webhook (or auto, which keeps this feature on the webhook)"

// nativeProblems: a field path that is a template (check is the ID of the
// rule list: K08 validation, K11 mutation), an operand template beyond the
// native subset (K10).
func (t *test) nativeProblems(base, check string) []Problem {
	var out []Problem
	if t.field.tmpl != nil {
		out = append(out, Problem{Check: check, Path: base + ".field", Msg: "the native engine cannot compile a field path that is a template",
			Hint: "name the field directly, or use engine: webhook (or auto, which keeps this feature on the webhook)"})
	}
	if t.opTmpl != nil && t.opField == nil {
		if _, err := templateCEL(t.opTmpl, "object"); err != nil {
			out = append(out, Problem{Check: "K10", Path: t.opPath, Msg: "the native engine cannot compile this value: " + err.Error(),
				Hint: nativeTemplateHint})
		}
	}
	return out
}

func (g *gate) nativeProblems(base, check string) []Problem {
	var out []Problem
	for j := range g.when {
		out = append(out, g.when[j].nativeProblems(fmt.Sprintf("%s.when[%d]", base, j), check)...)
	}
	for j := range g.or {
		out = append(out, g.or[j].nativeProblems(fmt.Sprintf("%s.or[%d]", base, j), check)...)
	}
	return out
}

func (r *rule) cel(s paths) (CELRule, error) {
	if r.field.tmpl != nil {
		return CELRule{}, fmt.Errorf("field %s is a template", r.field.raw)
	}
	gate, err := r.gate.cel(s)
	if err != nil {
		return CELRule{}, err
	}
	msg := CELString(r.msg)
	if r.tmpl != nil {
		t, err := templateCEL(r.tmpl, s.at(rootObject))
		if err != nil {
			return CELRule{}, fmt.Errorf("message: %w", err)
		}
		// A render error, or a message that renders to nothing, falls
		// back to the text as written, as message does.
		msg = s.shared(celLet("m", t.text, fmt.Sprintf("(%s && m.trim() != '') ? m : %s", t.ok, CELString(r.msg))))
	}
	var failures, passes string
	p := r.field.path
	if !r.field.wild {
		present, v := s.path(rootObject, p)
		var o string
		if failures, o, err = r.celRecords(s, present, v, CELString(p.text), msg); err != nil {
			return CELRule{}, err
		}
		passes = fmt.Sprintf("(%s in [%d, %d])", o, celPass, celAbsent)
	} else {
		failures, err = celEach(s, rootObject, p, false, func(idx []string, present, v string) (string, error) {
			recs, _, err := r.celRecords(s, present, v, p.celText(idx), msg)
			return recs, err
		})
		if err != nil {
			return CELRule{}, err
		}
	}
	if gate != "true" {
		failures = fmt.Sprintf("(%s ? %s : [])", gate, failures)
		if passes != "" {
			passes = fmt.Sprintf("(!%s || %s)", gate, passes)
		}
	}
	return CELRule{
		Index: r.index, Name: r.name, Warn: r.warn, Audit: r.audit,
		Field: r.field.raw, Each: r.field.wild, Message: r.msg, Failures: failures, Passes: passes,
	}, nil
}

// celRecords is the failures of the rule on one value (none, or one
// record [field, value, message]) and the outcome code they come from.
func (r *rule) celRecords(s paths, present, v, field, msg string) (records, outcome string, err error) {
	o, valueDetail, operandDetail, err := r.celOutcome(s, present, v)
	if err != nil {
		return "", "", err
	}
	detail := fmt.Sprintf("(o == %d ? ' (' + %s + ')' : o == %d ? ' (' + %s + ')' : '')", celMismatch, valueDetail, celBadOperand, operandDetail)
	return celLet("o", o, fmt.Sprintf("(o == %d || o == %d) ? [] : [[dyn(%s), dyn(%s ? %s : null), dyn(%s + %s)]]",
		celPass, celAbsent, field, present, v, msg, detail)), o, nil
}

// cel is the gate as one bool expression ("true" without conditions).
func (g *gate) cel(s paths) (string, error) {
	var all []string
	for i := range g.when {
		c, err := g.when[i].celCondition(s)
		if err != nil {
			return "", err
		}
		all = append(all, c)
	}
	if len(g.or) > 0 {
		var any []string
		for i := range g.or {
			c, err := g.or[i].celCondition(s)
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

// celCondition decides a when/or condition as holdsAsCondition does: on a
// path with [*], for every element (true when there is none).
func (t *test) celCondition(s paths) (string, error) {
	if t.field.tmpl != nil {
		return "", fmt.Errorf("condition field %s is a template", t.field.raw)
	}
	if !t.field.wild {
		present, v := s.path(t.field.root, t.field.path)
		return t.celHolds(s, present, v)
	}
	return celEach(s, t.field.root, t.field.path, true, func(_ []string, present, v string) (string, error) {
		return t.celHolds(s, present, v)
	})
}

// celHolds: the operator holds on the value; on an absent one (or no
// template operand) only the negative operators hold; a mismatch does not.
func (t *test) celHolds(s paths, present, v string) (string, error) {
	if t.kind == opExists {
		if t.want {
			return present, nil
		}
		return "!" + present, nil
	}
	if t.opTmpl == nil {
		body, err := t.celBody(v)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("(%s ? %s == %d : %t)", present, body, celPass, t.neg), nil
	}
	o, _, _, err := t.celOutcome(s, present, v)
	if err != nil {
		return "", err
	}
	holds := "o == 0"
	if t.neg {
		holds = "(o == 0 || o == 2)"
	}
	return celLet("o", o, holds), nil
}

// celOutcome is evalIn in CEL: the outcome code of the test on a value
// (present, v), and the string expressions explaining a mismatch of the
// value (valid for outcome 3) and of a template operand (outcome 4).
func (t *test) celOutcome(s paths, present, v string) (outcome, valueDetail, operandDetail string, err error) {
	if t.kind == opExists {
		return fmt.Sprintf("(%s ? %d : %d)", present, result01(t.want), result01(!t.want)), "''", "''", nil
	}
	if t.opTmpl == nil {
		body, err := t.celBody(v)
		if err != nil {
			return "", "", "", err
		}
		return fmt.Sprintf("(%s ? %s : %d)", present, body, celAbsent), t.celDetail(v, ""), "''", nil
	}
	op, err := t.celOperand(s)
	if err != nil {
		return "", "", "", err
	}
	// The operand once (a variable where there are variables).
	body := bind("ox", op.x, func(x string) string {
		b, _ := t.celTemplateBody(s, v, x)
		return b
	})
	_, opDetail := t.celTemplateBody(s, v, op.x)
	outcome = fmt.Sprintf("(%s ? (%s ? %s : %d) : %d)", present, op.has, body, celAbsent, celAbsent)
	return outcome, t.celDetail(v, op.x), opDetail, nil
}

// result01 is the outcome of an exists test: pass when it holds.
func result01(holds bool) int {
	if holds {
		return celPass
	}
	return celFail
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

// celBody is the outcome of the operator, with its operand as written, on
// a present value v: 0 holds, 1 fails, 3 type mismatch (negation folded
// in, mismatch kept).
func (t *test) celBody(v string) (string, error) {
	decide, typed := t.deciders()
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
		return typed(celIsNumber(v), t.celCompare("double("+v+")", celDouble(t.lo), celDouble(t.hi))), nil
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

// deciders: decide(cond) is the outcome of cond with the negation folded
// in; typed(guard, cond) is a mismatch unless guard holds.
func (t *test) deciders() (decide func(cond string) string, typed func(guard, cond string) string) {
	pass, fail := celPass, celFail
	if t.neg {
		pass, fail = fail, pass
	}
	decide = func(cond string) string { return fmt.Sprintf("(%s ? %d : %d)", cond, pass, fail) }
	typed = func(guard, cond string) string {
		return fmt.Sprintf("(%s ? %s : %d)", guard, decide(cond), celMismatch)
	}
	return decide, typed
}

// celCompare is the comparison of the number n (a double expression) with
// the bounds lo and hi.
func (t *test) celCompare(n, lo, hi string) string {
	switch t.kind {
	case opGt:
		return n + " > " + lo
	case opGte:
		return n + " >= " + lo
	case opLt:
		return n + " < " + lo
	case opLte:
		return n + " <= " + lo
	}
	return n + " >= " + lo + " && " + n + " <= " + hi
}

// celDetail is mismatchDetail in CEL; x is the CEL of a template operand
// ("" for an operand as written).
func (t *test) celDetail(v, x string) string {
	need := CELString("a string")
	switch {
	case t.kind.isNumeric():
		need = CELString("a number")
	case t.kind == opContains && x != "":
		need = fmt.Sprintf("(type(%s) == string ? 'a string, list or map' : 'a list')", x)
	case t.kind == opContains:
		need = CELString("a string, list or map")
		if _, ok := t.val.(string); !ok {
			need = CELString("a list")
		}
	}
	return fmt.Sprintf("%s + %s + ', got ' + %s", CELString(t.name+" needs "), need, celTypeName(v))
}

// CELPatch compiles the mutation rules for a MutatingAdmissionPolicy: one
// JSONPatch expression per rule, over root as the previous rules left it
// (mutations of a policy apply in order). Each expression is a list of
// JSONPatch operations: at most one, or one per element for a path with
// [*]; it is empty when the rule does not apply, would change nothing, or
// would have to create a list item or set a field inside a scalar (where
// the webhook engine skips the whole mutation with a warning, the native
// engine skips that rule, or that element, only).
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
		walk, err := m.celWalk(root, m.field.path, 0, nil)
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
		out = append(out, m.gate.nativeProblems(base, "K08")...)
	}
	return out
}

// celWalk is plan in CEL: cur is the container at segment i, ptr the CEL
// string pieces of the JSON pointer of the segments before i. A [*]
// segment walks on in every element of a list (none when cur is not one).
func (m *mutation) celWalk(cur string, p Path, i int, ptr []string) (string, error) {
	s := p.segs[i]
	last := i == len(p.segs)-1
	here := append(ptr[:len(ptr):len(ptr)], pointerPiece(s, i))
	pointer := strings.Join(here, " + ")
	// Absent, or a null parent: set the rest as one nested value (never
	// creating a list element).
	setRest := func(op string) string { return "[]" }
	rest := p.segs[i+1:]
	if !restHasIndex(rest) {
		v, err := CELValue(nest(m.value, rest))
		if err != nil {
			return "", err
		}
		setRest = func(op string) string {
			return "[" + celPatchOp(CELString(op), pointer, v) + "]"
		}
	}
	// at is the patch for the value next at segment i, present.
	at := func(next string) (string, error) {
		if last {
			v, err := CELValue(m.value)
			if err != nil {
				return "", err
			}
			keep := fmt.Sprintf("%s == %s", next, v)
			if !m.override {
				keep = "!" + celEmpty(next) + " || " + keep
			}
			return fmt.Sprintf("((%s) ? [] : [%s])", keep, celPatchOp("'replace'", pointer, v)), nil
		}
		deeper, err := m.celWalk(next, p, i+1, here)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("(%s == null ? %s : (type(%s) == map || type(%s) == list) ? %s : [])", next, setRest("replace"), next, next, deeper), nil
	}
	if s.isWildcard() {
		e := fmt.Sprintf("we%d", i)
		body, err := at(e)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("(type(%s) == list ? %s.transformList(wi%d, %s, %s).flatten() : [])", cur, cur, i, e, body), nil
	}
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
	body, err := at(next)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("(%s ? (%s ? %s : %s) : [])", containerOK, present, body, setRest("add")), nil
}

// pointerPiece is the CEL string of segment s (at position i) of a JSON
// pointer: "/key" escaped, "/N", or the element index of a [*].
func pointerPiece(s segment, i int) string {
	switch {
	case s.isWildcard():
		return fmt.Sprintf("'/' + string(wi%d)", i)
	case s.isIndex():
		return CELString("/" + strconv.Itoa(s.index))
	}
	return CELString("/" + pointerEscaper.Replace(s.key))
}

// celPatchOp writes one JSONPatch operation of a MutatingAdmissionPolicy.
// (The tests, which have no JSONPatch type, write a map instead.)
var celPatchOp = func(op, path, value string) string {
	return fmt.Sprintf("JSONPatch{op: %s, path: %s, value: %s}", op, path, value)
}

// restHasIndex: the segments hold a list index or [*] (a mutation never
// creates list elements).
func restHasIndex(segs []segment) bool {
	for _, s := range segs {
		if s.isIndex() || s.isWildcard() {
			return true
		}
	}
	return false
}
