package rules

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"text/template/parse"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/tmpl"
)

// kind is an operator with its negation folded out: notEquals is equals, negated.
type kind uint8

const (
	opExists kind = iota
	opEquals
	opContains
	opPrefix
	opSuffix
	opRegex
	opGt
	opGte
	opLt
	opLte
	opBetween
	opIn
	opTypeString
	opTypeNumber
	opTypeBool
	opTypeList
	opTypeMap
	opTypeNull
)

// operators maps every operator name to its kind and negation.
var operators = map[string]struct {
	kind kind
	neg  bool
}{
	"exists": {opExists, false}, "notExists": {opExists, true},
	"equals": {opEquals, false}, "notEquals": {opEquals, true},
	"contains": {opContains, false}, "notContains": {opContains, true},
	"prefix": {opPrefix, false}, "notPrefix": {opPrefix, true},
	"suffix": {opSuffix, false}, "notSuffix": {opSuffix, true},
	"regex": {opRegex, false},
	"gt":    {opGt, false}, "gte": {opGte, false}, "lt": {opLt, false}, "lte": {opLte, false},
	"between": {opBetween, false}, "notBetween": {opBetween, true},
	"in": {opIn, false}, "notIn": {opIn, true},
	"typeString": {opTypeString, false}, "typeNumber": {opTypeNumber, false},
	"typeBool": {opTypeBool, false}, "typeList": {opTypeList, false},
	"typeMap": {opTypeMap, false}, "typeNull": {opTypeNull, false},
}

func (k kind) isType() bool { return k >= opTypeString }

func (k kind) isNumeric() bool { return k >= opGt && k <= opBetween }

// outcome is the result of an operator on one value.
type outcome uint8

const (
	holds    outcome = iota // the operator holds
	fails                   // it does not
	absent                  // the field is absent: only exists decides
	mismatch                // the value has the wrong type for the operator
)

// field is a compiled field path: static, or a template rendered per object.
type field struct {
	path Path
	tmpl *tmpl.Template // non-nil: render, then parse
	raw  string
	root root // what a static path reads; path is then relative to it
	wild bool // the static path holds [*]
}

// root is what a condition's path reads.
type root uint8

const (
	rootObject    root = iota // the object under admission
	rootOldObject             // oldObject.: the object before an UPDATE
	rootRequest               // request.: operation and userInfo
)

func (r root) String() string {
	switch r {
	case rootOldObject:
		return "old object"
	case rootRequest:
		return "request"
	}
	return "object"
}

// splitRoot tells which root a path reads: oldObject.x reads x of the old
// object, request.userInfo.username the request; everything else the
// object. msg says why a request path reads nothing the rules know.
func splitRoot(p Path) (r root, rest Path, msg string) {
	if len(p.segs) == 0 || !p.segs[0].isKey() {
		return rootObject, p, ""
	}
	switch p.segs[0].key {
	case "oldObject":
		r = rootOldObject
	case "request":
		r = rootRequest
	default:
		return rootObject, p, ""
	}
	rest = Path{segs: p.segs[1:]}
	rest.text = rest.format()
	if r == rootRequest {
		if len(rest.segs) == 0 || !rest.segs[0].isKey() || (rest.segs[0].key != "userInfo" && rest.segs[0].key != "operation") {
			return r, rest, fmt.Sprintf("%s: conditions read request.operation and request.userInfo, nothing else of the request", p.text)
		}
	}
	return r, rest, ""
}

// data returns what a path of root r reads in in; nil when there is none
// (no old object on CREATE).
func (r root) data(in *Input) map[string]any {
	switch r {
	case rootOldObject:
		return in.OldObject
	case rootRequest:
		return requestData(in)
	}
	return in.Object
}

// requestData is the part of the AdmissionRequest conditions may read,
// shaped as in the request: operation and userInfo.
func requestData(in *Input) map[string]any {
	u := in.UserInfo
	groups := make([]any, len(u.Groups))
	for i, g := range u.Groups {
		groups[i] = g
	}
	user := map[string]any{"username": u.Username, "groups": groups}
	if u.UID != "" {
		user["uid"] = u.UID
	}
	if u.Extra != nil {
		extra := make(map[string]any, len(u.Extra))
		for k, vs := range u.Extra {
			l := make([]any, len(vs))
			for i, v := range vs {
				l[i] = v
			}
			extra[k] = l
		}
		user["extra"] = extra
	}
	return map[string]any{"operation": in.Operation, "userInfo": user}
}

// resolve returns the path for obj and its text. The error says why a
// template path did not render to a valid path; text is then what it
// rendered, or the raw template.
func (f *field) resolve(obj map[string]any) (p Path, text string, err error) {
	if f.tmpl == nil {
		return f.path, f.path.text, nil
	}
	s, err := render(f.tmpl, obj)
	if err != nil {
		return Path{}, f.raw, fmt.Errorf("field %s: %v", f.raw, err)
	}
	if p, err = ParsePath(s); err != nil {
		if s == "" {
			s = f.raw
		}
		return Path{}, s, fmt.Errorf("field %s rendered to a bad path: %v", f.raw, err)
	}
	return p, p.text, nil
}

// lookup returns the field's text and value in in. A template path that
// does not resolve names no field, so its value is absent; so is every
// oldObject. path when there is no old object.
func (f *field) lookup(in *Input) (text string, v any, present bool) {
	if f.tmpl == nil && f.root != rootObject {
		data := f.root.data(in)
		if data == nil {
			return f.raw, nil, false
		}
		if len(f.path.segs) == 0 {
			return f.raw, data, true
		}
		v, present = f.path.Lookup(data)
		return f.raw, v, present
	}
	p, text, err := f.resolve(in.Object)
	if err != nil {
		return text, nil, false
	}
	v, present = p.Lookup(in.Object)
	return text, v, present
}

// test is one compiled field test.
type test struct {
	field field
	name  string // operator as written
	kind  kind
	neg   bool

	want bool   // exists, typeX: the expected answer
	str  string // prefix, suffix
	val  any    // equals, contains
	list []any  // in, notIn
	re   *regexp.Regexp
	lo   float64 // the bound of gt, gte, lt, lte; between: [lo, hi]
	hi   float64

	// An operand given as a template, rendered against the object for each
	// evaluation (lte: "{{ .spec.maxReplicas }}").
	opTmpl  *tmpl.Template
	opField []string // the template only prints this field: its value, typed
	opRaw   string
	opPath  string // where the operand is written, relative to the rule list
}

// compileTest compiles a test at base ("[2]", "[0].when[1]"), adding
// problems to c; condition is true for when/or conditions.
func (c *compiler) compileTest(base string, t *katalog.Test, condition bool) test {
	var ts test
	c.compileField(&ts.field, base, t.Field, "K08", condition)

	shorthands := t.Shorthands()
	var value *katalog.Value
	var valuePath string
	switch {
	case t.Operator == "" && len(shorthands) == 0:
		c.add("K08", base, "no operator; a test needs exactly one",
			"add one of "+strings.Join(katalog.Operators, ", ")+`, e.g. "exists: true", or "operator:" with "value:"`)
		return ts
	case t.Operator != "" && len(shorthands) > 0:
		c.add("K08", base+"."+shorthands[0].Operator,
			fmt.Sprintf("two operators: operator: %s and %s", t.Operator, shorthands[0].Operator),
			"keep exactly one operator per test; split the test into two rules")
		return ts
	case len(shorthands) > 1:
		c.add("K08", base+"."+shorthands[1].Operator,
			fmt.Sprintf("two operators: %s and %s", shorthands[0].Operator, shorthands[1].Operator),
			"keep exactly one operator per test; split the test into two rules")
		return ts
	case t.Operator != "":
		ts.name, value, valuePath = t.Operator, t.Value, base+".value"
		if _, known := operators[ts.name]; !known {
			c.add("K08", base+".operator", fmt.Sprintf("unknown operator %q", ts.name), suggest(ts.name, katalog.Operators))
			return ts
		}
	default:
		ts.name, value, valuePath = shorthands[0].Operator, shorthands[0].Value, base+"."+shorthands[0].Operator
		if t.Value != nil {
			c.add("K08", base+".value", "value: is only read with operator:",
				fmt.Sprintf("drop value: and give the operand to %s: directly", ts.name))
		}
	}
	op := operators[ts.name]
	ts.kind, ts.neg = op.kind, op.neg
	if value != nil {
		if s, ok := value.V.(string); ok && strings.Contains(s, "{{") {
			c.compileOperandTemplate(&ts, valuePath, s)
			return ts
		}
	}
	if msg, hint := ts.compileOperand(value); msg != "" {
		c.add("K09", valuePath, msg, hint)
	}
	return ts
}

// compileOperandTemplate compiles an operand written as a template. Only
// operators with one scalar operand take one: a regex is compiled once,
// never per request, and in lists are written out.
func (c *compiler) compileOperandTemplate(t *test, path, text string) {
	switch t.kind {
	case opEquals, opContains, opPrefix, opSuffix, opGt, opGte, opLt, opLte, opBetween:
	default:
		c.add("K09", path, fmt.Sprintf("%s does not take a template value", t.name),
			"templates are values of equals, contains, prefix, suffix, gt, gte, lt, lte and between (and their not forms); write this value out")
		return
	}
	t.opRaw, t.opPath = text, path
	if t.opTmpl = c.compileTemplate(path, text); t.opTmpl != nil {
		t.opField = fieldOnly(t.opTmpl)
	}
}

// SingleAction returns a template's only action when the template is that
// action and white space ({{ .spec.maxReplicas }}), nil otherwise: such a
// template's value is the action's, before it is printed.
func SingleAction(t *tmpl.Template) *parse.ActionNode {
	if t.Tree == nil || t.Tree.Root == nil {
		return nil
	}
	var act *parse.ActionNode
	for _, n := range t.Tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			if len(bytes.TrimSpace(n.Text)) > 0 {
				return nil
			}
		case *parse.ActionNode:
			if act != nil || len(n.Pipe.Decl) > 0 {
				return nil
			}
			act = n
		default:
			return nil
		}
	}
	return act
}

// fieldOnly returns the field chain a template prints when it is one
// action reading one field ({{ .spec.maxReplicas }}, white space around it
// aside), nil otherwise.
func fieldOnly(t *tmpl.Template) []string {
	act := SingleAction(t)
	if act == nil {
		return nil
	}
	cmds := act.Pipe.Cmds
	// ParseTemplate may print through toString: the value is the field's.
	if len(cmds) == 2 && len(cmds[1].Args) == 1 && isIdentNode(cmds[1].Args[0], "toString") {
		cmds = cmds[:1]
	}
	if len(cmds) != 1 || len(cmds[0].Args) != 1 {
		return nil
	}
	if f, ok := cmds[0].Args[0].(*parse.FieldNode); ok {
		return f.Ident
	}
	return nil
}

// operand computes a template operand for obj. A template that only prints
// a field gives that field's value with its type; any other template gives
// what it renders, a number when that is one number ("3", "2.5"). ok is
// false when there is no operand: the field is missing or null, the
// rendering fails or is blank.
func (t *test) operand(obj map[string]any) (v any, ok bool) {
	if t.opField != nil {
		var cur any = obj
		for _, k := range t.opField {
			m, isMap := cur.(map[string]any)
			if !isMap {
				return nil, false
			}
			if cur, isMap = m[k]; !isMap {
				return nil, false
			}
		}
		return cur, cur != nil
	}
	s, err := render(t.opTmpl, obj)
	trimmed := strings.TrimSpace(s)
	if err != nil || trimmed == "" {
		return nil, false
	}
	if n, ok := numeral(trimmed); ok {
		return n, true
	}
	return s, true
}

// Numbers written as text (a bound such as "2.5", a template rendering
// "10") have one syntax, decided alike by both engines (the native one
// with a regular expression): an optional sign, decimal digits with an
// optional fraction, and an optional exponent of at most two digits. At
// most 200 digits before the point keep every such number finite. Hex,
// underscores, Inf and NaN are not numbers.
const (
	numberSyntax  = `^[+-]?([0-9]{1,200}(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,2})?$`
	integerSyntax = `^[+-]?0*[0-9]{1,18}$` // within int64 whatever the digits
)

var (
	numberText  = regexp.MustCompile(numberSyntax)
	integerText = regexp.MustCompile(integerSyntax)
)

// numeral parses one number written as text (trimmed): an int64 when it
// is a whole number of at most 18 significant digits, else a float64.
func numeral(s string) (any, bool) {
	if integerText.MatchString(s) {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, true
		}
	}
	if !numberText.MatchString(s) {
		return nil, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, false
	}
	return f, true
}

// evalIn applies the test to a value of in, rendering a template operand
// against the object first; detail explains a mismatch.
func (t *test) evalIn(in *Input, v any, present bool) (o outcome, detail string) {
	if t.opTmpl == nil {
		if o = t.eval(v, present); o == mismatch {
			detail = t.mismatchDetail(v)
		}
		return o, detail
	}
	if !present {
		return absent, ""
	}
	x, ok := t.operand(in.Object)
	if !ok {
		return absent, "" // nothing to compare with: as an absent field
	}
	tt := *t
	switch t.kind {
	case opEquals, opContains:
		tt.val = x
	case opPrefix, opSuffix:
		tt.str = toString(x)
	case opBetween:
		lo, hi, msg := betweenBounds(x)
		if msg != "" {
			return mismatch, fmt.Sprintf("%s %s: %s", t.name, t.opRaw, msg)
		}
		tt.lo, tt.hi = lo, hi
	default: // gt, gte, lt, lte
		f, msg := bound(x)
		if msg != "" {
			return mismatch, fmt.Sprintf("%s %s: %s", t.name, t.opRaw, msg)
		}
		tt.lo = f
	}
	if o = tt.eval(v, present); o == mismatch {
		detail = tt.mismatchDetail(v)
	}
	return o, detail
}

// compileOperand checks and pre-parses the operand; it returns a message and
// hint for a bad one. v is nil when no value was given (long form without value:).
func (t *test) compileOperand(v *katalog.Value) (msg, hint string) {
	var x any
	if v != nil {
		x = v.V
	}
	if t.kind == opExists || t.kind.isType() {
		// exists: true, typeString: false ...; a bare "operator: exists"
		// (or "exists:" with no value) means true.
		t.want = true
		if x != nil {
			b, ok := x.(bool)
			if !ok {
				return fmt.Sprintf("%s takes true or false, not %s", t.name, describe(x)), ""
			}
			t.want = b
		}
		if t.kind == opExists && t.neg {
			t.want, t.neg = !t.want, false // notExists: true is exists: false
		}
		return "", ""
	}
	if x == nil {
		hint := ""
		if t.kind == opEquals {
			hint = "use typeNull: true to test for null"
		}
		return fmt.Sprintf("%s needs a value", t.name), hint
	}
	switch t.kind {
	case opEquals, opContains:
		t.val = x
	case opPrefix, opSuffix, opRegex:
		s, ok := x.(string)
		if !ok {
			return fmt.Sprintf("%s needs a string, not %s", t.name, describe(x)), "quote the value"
		}
		t.str = s
		if t.kind == opRegex {
			re, err := regexp.Compile(s)
			if err != nil {
				return fmt.Sprintf("regex %q does not compile: %v", s, err),
					`Go RE2 syntax (no lookaround or backreferences); in YAML double quotes write \\ for a backslash`
			}
			t.re = re
		}
	case opGt, opGte, opLt, opLte:
		f, msg := bound(x)
		if msg != "" {
			return fmt.Sprintf("%s: %s", t.name, msg), `write a number, e.g. 10 or "2.5"`
		}
		t.lo = f
	case opBetween:
		lo, hi, msg := betweenBounds(x)
		if msg != "" {
			return fmt.Sprintf("%s: %s", t.name, msg), `write "lo,hi" (inclusive) or a two-item list, e.g. "1,10" or [1, 10]`
		}
		t.lo, t.hi = lo, hi
	case opIn:
		l, ok := x.([]any)
		if !ok {
			return fmt.Sprintf("%s needs a list, not %s", t.name, describe(x)), "write a YAML list, e.g. [a, b]"
		}
		if len(l) == 0 {
			return fmt.Sprintf("%s needs a non-empty list", t.name), "list the allowed values"
		}
		t.list = l
	}
	return "", ""
}

// bound parses a numeric bound (a number, or a string holding one); msg
// says why x is not one.
func bound(x any) (f float64, msg string) {
	if f, ok := number(x); ok {
		return f, ""
	}
	s, ok := x.(string)
	if !ok {
		return 0, fmt.Sprintf("bound must be a number, not %s", describe(x))
	}
	n, ok := numeral(strings.TrimSpace(s))
	if !ok {
		return 0, fmt.Sprintf("bound %q is not a number", s)
	}
	f, _ = number(n)
	return f, ""
}

func betweenBounds(x any) (lo, hi float64, msg string) {
	var parts []any
	switch v := x.(type) {
	case string:
		ss := strings.Split(v, ",")
		if len(ss) != 2 {
			return 0, 0, fmt.Sprintf("%q is not \"lo,hi\"", v)
		}
		parts = []any{ss[0], ss[1]}
	case []any:
		if len(v) != 2 {
			return 0, 0, fmt.Sprintf("list has %d items, want 2 (lo and hi)", len(v))
		}
		parts = v
	default:
		return 0, 0, fmt.Sprintf("bounds must be \"lo,hi\" or a two-item list, not %s", describe(x))
	}
	var m string
	if lo, m = bound(parts[0]); m != "" {
		return 0, 0, "lower " + m
	}
	if hi, m = bound(parts[1]); m != "" {
		return 0, 0, "upper " + m
	}
	if lo > hi {
		return 0, 0, fmt.Sprintf("lower bound %s is above upper bound %s", formatFloat(lo), formatFloat(hi))
	}
	return lo, hi, ""
}

// describe names a Katalog value for messages: `the string "x"`, `a list`.
func describe(x any) string {
	switch v := x.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("the %s %s", TypeName(x), toString(x))
}

// eval applies the operator to the field's value.
func (t *test) eval(v any, present bool) outcome {
	if t.kind == opExists {
		return result(present == t.want)
	}
	if !present {
		return absent
	}
	var o outcome
	switch t.kind {
	case opEquals:
		o = result(Equal(v, t.val))
	case opContains:
		o = t.contains(v)
	case opPrefix, opSuffix, opRegex:
		s, ok := v.(string)
		if !ok {
			return mismatch
		}
		switch t.kind {
		case opPrefix:
			o = result(strings.HasPrefix(s, t.str))
		case opSuffix:
			o = result(strings.HasSuffix(s, t.str))
		default:
			o = result(t.re.MatchString(s))
		}
	case opGt, opGte, opLt, opLte, opBetween:
		f, ok := number(v)
		if !ok {
			return mismatch
		}
		o = result(t.compare(f))
	case opIn:
		o = fails
		for _, x := range t.list {
			if Equal(v, x) {
				o = holds
				break
			}
		}
	default: // type checks
		o = result(t.isType(v) == t.want)
	}
	if t.neg && o != mismatch {
		o = result(o == fails)
	}
	return o
}

func result(b bool) outcome {
	if b {
		return holds
	}
	return fails
}

// contains: a substring of a string, an item of a list, a key of a map.
func (t *test) contains(v any) outcome {
	switch x := v.(type) {
	case string:
		if s, ok := t.val.(string); ok {
			return result(strings.Contains(x, s))
		}
	case []any:
		for _, item := range x {
			if Equal(item, t.val) {
				return holds
			}
		}
		return fails
	case map[string]any:
		if s, ok := t.val.(string); ok {
			_, found := x[s]
			return result(found)
		}
	}
	return mismatch
}

func (t *test) compare(f float64) bool {
	switch t.kind {
	case opGt:
		return f > t.lo
	case opGte:
		return f >= t.lo
	case opLt:
		return f < t.lo
	case opLte:
		return f <= t.lo
	}
	return f >= t.lo && f <= t.hi // between
}

func (t *test) isType(v any) bool {
	switch t.kind {
	case opTypeString:
		_, ok := v.(string)
		return ok
	case opTypeNumber:
		_, ok := number(v)
		return ok
	case opTypeBool:
		_, ok := v.(bool)
		return ok
	case opTypeList:
		_, ok := v.([]any)
		return ok
	case opTypeMap:
		_, ok := v.(map[string]any)
		return ok
	}
	return v == nil // typeNull
}

// mismatchDetail explains a type mismatch: "gt needs a number, got string".
func (t *test) mismatchDetail(v any) string {
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
	return fmt.Sprintf("%s needs %s, got %s", t.name, need, TypeName(v))
}

// holdsAsCondition decides a when/or condition: the operator must hold. On an
// absent field the negative operators (notEquals, notIn...) hold and the
// others do not; a type mismatch does not hold. On a path with [*] it must
// hold for every element (so it holds when there is none).
func (t *test) holdsAsCondition(in *Input) bool {
	if t.field.tmpl == nil && t.field.wild {
		data := t.field.root.data(in)
		if data == nil {
			return true // no old object: no elements
		}
		all := true
		t.field.path.Each(data, func(_ []int, v any, present bool) bool {
			all = t.conditionOn(in, v, present)
			return all
		})
		return all
	}
	_, v, present := t.field.lookup(in)
	return t.conditionOn(in, v, present)
}

func (t *test) conditionOn(in *Input, v any, present bool) bool {
	switch o, _ := t.evalIn(in, v, present); o {
	case holds:
		return true
	case absent:
		return t.neg
	}
	return false
}

// suggest returns a "did you mean" hint for a misspelt name, else the list
// of valid names.
func suggest(name string, options []string) string {
	if h := katalog.Suggest(name, options); h != "" {
		return h
	}
	return "one of " + strings.Join(options, ", ")
}
