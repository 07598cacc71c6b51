package rules

import (
	"fmt"
	"strconv"
	"strings"
)

// celEach is Path.Each in CEL: it walks the elements a path with [*]
// selects under root r, and gives body, for each, the CEL of the indexes
// chosen (int expressions, one per [*]), whether the value below them is
// present and the value. A [*] over anything but a list selects nothing, as
// does a key missing above a [*]. With all, the walk is a bool expression,
// true when body holds for every element; else body gives lists, and the
// walk is their concatenation, in element order.
func celEach(s paths, r root, p Path, all bool, body func(idx []string, present, v string) (string, error)) (string, error) {
	var groups [][]segment // the segments between the [*]s
	start := 0
	for i, seg := range p.segs {
		if seg.isWildcard() {
			groups = append(groups, p.segs[start:i])
			start = i + 1
		}
	}
	groups = append(groups, p.segs[start:])
	var level func(k int, cur string, idx []string) (string, error)
	level = func(k int, cur string, idx []string) (string, error) {
		g := Path{segs: groups[k]}
		var present, v string
		if k == 0 {
			present, v = s.path(r, g)
		} else {
			present, v = celPath(cur, g)
		}
		if k == len(groups)-1 {
			return body(idx, present, v)
		}
		i, e := fmt.Sprintf("wi%d", k), fmt.Sprintf("we%d", k)
		inner, err := level(k+1, e, append(idx[:len(idx):len(idx)], i))
		if err != nil {
			return "", err
		}
		list := fmt.Sprintf("((%s && type(%s) == list) ? %s : [])", present, v, v)
		if all {
			return fmt.Sprintf("%s.all(%s, %s, %s)", list, i, e, inner), nil
		}
		return fmt.Sprintf("%s.transformList(%s, %s, %s).flatten()", list, i, e, inner), nil
	}
	return level(0, "", nil)
}

// celText is the CEL string of the path's text with its [*] segments
// replaced, in order, by the index expressions idx: Concrete in CEL.
func (p Path) celText(idx []string) string {
	if len(idx) == 0 {
		return CELString(p.text)
	}
	// Format the path with placeholder indexes no key holds, then put the
	// index expressions in their place.
	base := maxIndex + 1
	for {
		ix := make([]int, len(idx))
		for i := range ix {
			ix[i] = base + i
		}
		text := p.Concrete(ix).text
		marks := make([]string, len(idx))
		clash := false
		for i := range ix {
			marks[i] = "[" + strconv.Itoa(ix[i]) + "]"
			clash = clash || strings.Count(text, marks[i]) != 1
		}
		if clash {
			base += len(idx) + 7
			continue
		}
		var parts []string
		rest := text
		for i, m := range marks {
			before, after, _ := strings.Cut(rest, m)
			parts = append(parts, CELString(before+"["), "string("+idx[i]+")")
			rest = "]" + after
		}
		parts = append(parts, CELString(rest))
		return "(" + strings.Join(parts, " + ") + ")"
	}
}

// celOperandValue is a template operand in CEL: has is whether there is
// one (operand's ok), x its value (valid only when has).
type celOperandValue struct{ has, x string }

// celOperand compiles the test's template operand against the object: a
// one-field template gives the field's value, any other its rendering, a
// number when that is one (numeral).
func (t *test) celOperand(s paths) (celOperandValue, error) {
	if t.opField != nil {
		p := Path{segs: make([]segment, len(t.opField))}
		for i, k := range t.opField {
			p.segs[i] = segment{key: k, index: -1}
		}
		present, v := s.path(rootObject, p)
		return celOperandValue{has: s.shared(fmt.Sprintf("%s && %s != null", present, v)), x: s.shared(fmt.Sprintf("%s ? %s : null", present, v))}, nil
	}
	ct, err := templateCEL(t.opTmpl, s.at(rootObject))
	if err != nil {
		return celOperandValue{}, fmt.Errorf("value %s: %w", t.opRaw, err)
	}
	text := s.shared(ct.text)
	has := s.shared(fmt.Sprintf("%s && %s.trim() != ''", ct.ok, text))
	tr := text + ".trim()"
	x := s.shared(fmt.Sprintf("%s.matches(%s) ? dyn(int(%s)) : %s.matches(%s) ? dyn(double(%s)) : dyn(%s)",
		tr, CELString(integerSyntax), tr, tr, CELString(numberSyntax), tr, text))
	return celOperandValue{has: has, x: x}, nil
}

// celTemplateBody is the outcome of the operator on a present value v with
// the template operand x (present): 0 holds, 1 fails, 3 value mismatch, 4
// the operand is not a valid bound; opDetail explains 4.
func (t *test) celTemplateBody(s paths, v, x string) (body, opDetail string) {
	decide, typed := t.deciders()
	prefix := CELString(t.name + " " + t.opRaw + ": ")
	switch t.kind {
	case opEquals:
		return decide(fmt.Sprintf("%s == %s", v, x)), "''"
	case opContains:
		str := fmt.Sprintf("(type(%s) == string ? %s : %d)", x, decide(fmt.Sprintf("string(%s).contains(string(%s))", v, x)), celMismatch)
		obj := fmt.Sprintf("(type(%s) == string ? %s : %d)", x, decide(fmt.Sprintf("string(%s) in %s", x, v)), celMismatch)
		list := decide(fmt.Sprintf("%s.exists(e, e == %s)", v, x))
		return fmt.Sprintf("(type(%s) == string ? %s : type(%s) == list ? %s : type(%s) == map ? %s : %d)",
			v, str, v, list, v, obj, celMismatch), "''"
	case opPrefix, opSuffix:
		fn := "startsWith"
		if t.kind == opSuffix {
			fn = "endsWith"
		}
		return typed(fmt.Sprintf("type(%s) == string", v), fmt.Sprintf("string(%s).%s(%s)", v, fn, celToString(x))), "''"
	case opBetween:
		bb := s.shared(celBetween(x))
		body = bind("bb", bb, func(b string) string {
			return fmt.Sprintf("(%s[0] != '' ? %d : %s)", b, celBadOperand, typed(celIsNumber(v), t.celCompare("double("+v+")", b+"[1]", b+"[2]")))
		})
		return body, prefix + " + string(" + bb + "[0])"
	}
	// gt, gte, lt, lte
	body = bind("bx", x, func(x string) string {
		return fmt.Sprintf("(%s ? %s : %d)", celIsBound(x), typed(celIsNumber(v), t.celCompare("double("+v+")", celBoundValue(x), "")), celBadOperand)
	})
	return body, prefix + " + " + celBoundMessage(x)
}

// celIsBound: x is a bound (as bound accepts it): a number, or a string
// holding one.
func celIsBound(x string) string {
	return bind("bv", x, func(x string) string {
		return fmt.Sprintf("(%s || (type(%s) == string && (string(%s).trim().matches(%s) || string(%s).trim().matches(%s))))",
			celIsNumber(x), x, x, CELString(integerSyntax), x, CELString(numberSyntax))
	})
}

// celBoundValue is the bound x as a double (valid when celIsBound).
func celBoundValue(x string) string {
	return bind("bv", x, func(x string) string {
		return fmt.Sprintf("(type(%s) == string ? double(string(%s).trim()) : double(%s))", x, x, x)
	})
}

// celBoundMessage is bound's message for x when it is not a bound.
func celBoundMessage(x string) string {
	return bind("bm", x, func(x string) string {
		return fmt.Sprintf("(type(%s) == string ? 'bound ' + %s + ' is not a number' : 'bound must be a number, not ' + %s)",
			x, celGoQuote("string("+x+")"), celDescribe(x))
	})
}

// celDescribe is describe in CEL.
func celDescribe(x string) string {
	return bind("ds", x, func(x string) string {
		return fmt.Sprintf("(%s == null ? 'null' : type(%s) == string ? 'the string ' + %s : type(%s) == list ? 'a list' : type(%s) == map ? 'a map' : "+
			"'the ' + %s + ' ' + %s)", x, x, celGoQuote("string("+x+")"), x, x, celTypeName(x), celToString(x))
	})
}

// celBetween is betweenBounds in CEL: a list [message, lo, hi], the
// message empty when x gives valid bounds.
func celBetween(x string) string {
	return bind("bt", x, func(x string) string {
		pair := func(a, b string) string {
			return fmt.Sprintf("(!%s ? [dyn('lower ' + %s), dyn(0.0), dyn(0.0)] : !%s ? [dyn('upper ' + %s), dyn(0.0), dyn(0.0)] : "+
				"%s > %s ? [dyn('lower bound ' + %s + ' is above upper bound ' + %s), dyn(0.0), dyn(0.0)] : [dyn(''), dyn(%s), dyn(%s)])",
				celIsBound(a), celBoundMessage(a), celIsBound(b), celBoundMessage(b),
				celBoundValue(a), celBoundValue(b), celNumberText(celBoundValue(a)), celNumberText(celBoundValue(b)),
				celBoundValue(a), celBoundValue(b))
		}
		str := celLet("sp", fmt.Sprintf("string(%s).split(',')", x), fmt.Sprintf("(size(sp) != 2 ? [dyn(%s + ' is not \"lo,hi\"'), dyn(0.0), dyn(0.0)] : %s)",
			celGoQuote("string("+x+")"), pair("sp[0]", "sp[1]")))
		list := fmt.Sprintf("(size(%s) != 2 ? [dyn('list has ' + string(size(%s)) + ' items, want 2 (lo and hi)'), dyn(0.0), dyn(0.0)] : %s)",
			x, x, pair(x+"[0]", x+"[1]"))
		return fmt.Sprintf("(type(%s) == string ? %s : type(%s) == list ? %s : [dyn('bounds must be \"lo,hi\" or a two-item list, not ' + %s), dyn(0.0), dyn(0.0)])",
			x, str, x, list, celDescribe(x))
	})
}
