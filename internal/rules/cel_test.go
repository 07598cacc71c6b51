package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// The CEL the compiler writes is evaluated here with cel-go, configured like
// the API server's admission policy environment (the libraries and options
// of Kubernetes 1.37), and compared with the Go evaluation on generated
// rules and objects. The e2e suite runs the same comparison through a real
// API server.

func celEnv(t testing.TB) *cel.Env {
	t.Helper()
	env, err := cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		cel.ASTValidators(cel.ValidateRegexLiterals(), cel.ValidateHomogeneousAggregateLiterals()),
		ext.Strings(ext.StringsVersion(2)),
		ext.Sets(),
		ext.TwoVarComprehensions(),
		ext.Lists(ext.ListsVersion(3)),
		cel.Variable("object", cel.DynType),
		cel.Variable("oldObject", cel.DynType),
		cel.Variable("request", cel.DynType),
		cel.Variable("variables", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("v", cel.DynType),
	)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// celEvaluator compiles and evaluates expressions; a compile or run-time
// error fails the test (the compiled CEL must never fail).
type celEvaluator struct {
	env   *cel.Env
	progs map[string]cel.Program
	vars  map[string]any // variables.*
	act   celAct         // object, oldObject and request
}

// celAct binds object, oldObject and request as a policy sees them.
type celAct struct {
	object, oldObject any
	request           map[string]any
}

func newCELEvaluator(t testing.TB) *celEvaluator {
	e := &celEvaluator{env: celEnv(t), progs: map[string]cel.Program{}, vars: map[string]any{}}
	for _, h := range CELHelpers() {
		e.vars[h.Name] = e.eval(t, h.Expression, nil).Value()
	}
	return e
}

// apiRequest is the part of an AdmissionRequest the rules read, as its
// JSON form has it (empty fields omitted).
func apiRequest(in Input) map[string]any {
	op := in.Operation
	if op == "" {
		op = "CREATE"
	}
	u := map[string]any{}
	if in.UserInfo.Username != "" {
		u["username"] = in.UserInfo.Username
	}
	if in.UserInfo.UID != "" {
		u["uid"] = in.UserInfo.UID
	}
	if len(in.UserInfo.Groups) > 0 {
		g := make([]any, len(in.UserInfo.Groups))
		for i, x := range in.UserInfo.Groups {
			g[i] = x
		}
		u["groups"] = g
	}
	if len(in.UserInfo.Extra) > 0 {
		x := map[string]any{}
		for k, vs := range in.UserInfo.Extra {
			l := make([]any, len(vs))
			for i, v := range vs {
				l[i] = v
			}
			x[k] = l
		}
		u["extra"] = x
	}
	return map[string]any{"operation": op, "userInfo": u}
}

// with returns an evaluator for the request in (objects as the API server
// hands them to CEL).
func (e *celEvaluator) with(t testing.TB, in Input) *celEvaluator {
	out := *e
	out.act = celAct{request: apiRequest(in)}
	if in.Object != nil {
		out.act.object = apiObject(t, in.Object)
	}
	if in.OldObject != nil {
		out.act.oldObject = apiObject(t, in.OldObject)
	}
	return &out
}

func (e *celEvaluator) eval(t testing.TB, expr string, object any) ref.Val {
	t.Helper()
	return e.evalWith(t, expr, object, nil)
}

// scoped evaluates a scope's variables for the evaluator's request, in
// order, as a policy does, and returns an evaluator that reads them.
func (e *celEvaluator) scoped(t testing.TB, scope *CELScope) *celEvaluator {
	t.Helper()
	vars := map[string]any{}
	for k, v := range e.vars {
		vars[k] = v
	}
	out := *e
	out.vars = vars
	for _, v := range scope.Variables() {
		vars[v.Name] = out.evalWith(t, v.Expression, e.act.object, nil)
	}
	return &out
}

// evalWith evaluates expr with object (nil: the evaluator's) and the
// variable v set (a value computed by another expression), as a policy's
// variables pass values around.
func (e *celEvaluator) evalWith(t testing.TB, expr string, object, v any) ref.Val {
	t.Helper()
	prg, ok := e.progs[expr]
	if !ok {
		ast, iss := e.env.Compile(expr)
		if iss.Err() != nil {
			t.Fatalf("compiling %s:\n%v", clip(expr), iss.Err())
		}
		var err error
		if prg, err = e.env.Program(ast); err != nil {
			t.Fatal(err)
		}
		e.progs[expr] = prg
	}
	if object == nil {
		object = e.act.object
	}
	req := e.act.request
	if req == nil {
		req = apiRequest(Input{})
	}
	out, _, err := prg.Eval(map[string]any{"object": object, "oldObject": e.act.oldObject, "request": req, "variables": e.vars, "v": v})
	if err != nil {
		t.Fatalf("evaluating %s on %s: %v", clip(expr), mustJSON(object), err)
	}
	return out
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// apiObject is obj as the API server hands it to CEL: integers as int64.
func apiObject(t testing.TB, obj map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out map[string]any
	if err := d.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return ints(out).(map[string]any)
}

func ints(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = ints(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = ints(x[k])
		}
	}
	return v
}

// webhookObject is obj as the webhook engine decodes it: numbers as float64.
func webhookObject(t testing.TB, obj map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// valueString is the webhook engine's rendering of an offending value.
func valueString(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > maxValueBytes {
		n := maxValueBytes
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		return string(b[:n]) + "...(truncated)"
	}
	return string(b)
}

// webhookCause is what the webhook engine reports for one failed rule: a
// cause (deny) or a warning (warn).
func webhookCause(r Result) string {
	msg := r.Message
	action := "deny "
	if r.Warn {
		action = "warn "
	}
	if r.Audit {
		action = "audit-" + action
	}
	if r.Value != nil && !r.Warn {
		msg = "Invalid value: " + valueString(r.Value) + ": " + msg
	}
	return action + r.Field + ": " + msg
}

// nativeCauses evaluates the compiled rules the way the native engine's
// policies compose them.
func nativeCauses(t testing.TB, e *celEvaluator, scope *CELScope, rs []CELRule, in Input) []string {
	t.Helper()
	e = e.with(t, in).scoped(t, scope)
	var out []string
	for _, r := range rs {
		recs := celNative(e.eval(t, r.Failures, nil)).([]any)
		// The pass test a policy decides with agrees with the failures.
		if r.Passes != "" {
			if passes := e.eval(t, r.Passes, nil).Value().(bool); passes != (len(recs) == 0) {
				t.Errorf("rule %s: Passes is %t with %d failures", r.Field, passes, len(recs))
			}
		} else if !r.Each {
			t.Errorf("rule %s: no Passes expression on a path without [*]", r.Field)
		}
		for _, rec := range recs {
			f := rec.([]any)
			field, value, msg := f[0].(string), f[1], f[2].(string)
			action := "deny "
			if r.Warn {
				action = "warn "
			}
			if r.Audit {
				action = "audit-" + action
			}
			if value != nil && !r.Warn {
				msg = "Invalid value: " + e.evalWith(t, CELValueString("v"), nil, e.evalWith(t, "v", nil, value)).Value().(string) + ": " + msg
			}
			out = append(out, action+field+": "+msg)
		}
	}
	return out
}

func compileRules(t testing.TB, src string) *ValidationSet {
	t.Helper()
	var rs []katalog.Rule
	if err := decodeYAML(src, &rs); err != nil {
		t.Fatal(err)
	}
	set, probs := CompileValidation(rs)
	if len(probs) > 0 {
		t.Fatalf("compile: %+v", probs)
	}
	return set
}

// checkSame compares both engines on one object.
func checkSame(t testing.TB, e *celEvaluator, set *ValidationSet, scope *CELScope, rs []CELRule, obj map[string]any, what string) {
	t.Helper()
	checkSameIn(t, e, set, scope, rs, Input{Object: obj}, what)
}

// checkSameIn compares both engines on one request.
func checkSameIn(t testing.TB, e *celEvaluator, set *ValidationSet, scope *CELScope, rs []CELRule, in Input, what string) {
	t.Helper()
	obj := in.Object
	win := in
	win.Object = webhookObject(t, in.Object)
	if in.OldObject != nil {
		win.OldObject = webhookObject(t, in.OldObject)
	}
	var want []string
	for _, r := range set.Evaluate(win) {
		want = append(want, webhookCause(r))
	}
	got := nativeCauses(t, e, scope, rs, in)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s\nobject %s\nold object %s\nrequest %s\nwebhook engine:\n  %s\nnative engine:\n  %s", what, mustJSON(obj), mustJSON(in.OldObject), mustJSON(apiRequest(in)),
			strings.Join(want, "\n  "), strings.Join(got, "\n  "))
	}
}

func TestCELOperators(t *testing.T) {
	e := newCELEvaluator(t)
	set := compileRules(t, `
- {field: spec.replicas, between: "1,10", message: "replicas {{ .spec.replicas }} out of range"}
- {field: spec.replicas, gt: 0, message: positive}
- {field: spec.replicas, lte: 5.5, message: small, action: warn}
- {field: spec.image, regex: "^registry\\.example\\.com/", message: registry}
- {field: spec.image, notPrefix: "docker.io/", message: no docker}
- {field: spec.image, suffix: ":1", message: tag}
- {field: spec.tier, in: [gold, silver, 3, 2.5, null, true], message: tier}
- {field: spec.tier, notIn: [platinum], message: no platinum}
- {field: spec.tier, equals: gold, message: gold}
- {field: spec.tier, notEquals: {a: 1}, message: not a map}
- {field: spec.tags, contains: prod, message: prod tag}
- {field: spec.tags, notContains: 5, message: no five}
- {field: 'metadata.labels["app.kubernetes.io/name"]', exists: true, message: named}
- {field: 'metadata.labels["app.kubernetes.io/name"]', notExists: true, message: unnamed}
- {field: 'spec.list[1].x', typeString: true, message: string}
- {field: spec.n, typeNumber: true, message: number}
- {field: spec.n, typeNull: false, message: not null}
- {field: spec.b, typeBool: true, message: bool}
- {field: spec.m, typeMap: true, message: map}
- {field: spec.tags, typeList: false, message: not list}
- {field: spec.tier, notBetween: [1, 2], message: outside}
- {field: spec.replicas, gte: 1, when: [{field: spec.tier, equals: gold}], or: [{field: spec.x, notExists: true}, {field: spec.y, notEquals: 1}], message: gated}
`)
	scope := NewCELScope("object", "c")
	rs, err := set.CEL(scope)
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range []map[string]any{
		{},
		{"spec": nil},
		{"spec": map[string]any{"replicas": 20, "image": "docker.io/nginx", "tier": "platinum", "tags": []any{"a", 5}, "n": nil}},
		{"spec": map[string]any{"replicas": 3, "image": "registry.example.com/w:1", "tier": "gold", "tags": []any{"prod"}, "n": 1.5, "b": "no", "m": []any{}}},
		{"spec": map[string]any{"replicas": "3", "image": 5, "tier": 2.5, "tags": "prod-x", "list": []any{1, map[string]any{"x": 2}}}},
		{"spec": map[string]any{"replicas": 2.5, "tier": map[string]any{"a": 1}, "tags": map[string]any{"prod": true}, "x": 1, "y": 1}},
		{"metadata": map[string]any{"labels": map[string]any{"app.kubernetes.io/name": "w"}}, "spec": map[string]any{"replicas": 1e6, "tier": []any{1, "a"}, "image": "ünïcödé <&> \"q\" \\ \n\t\x01" + strings.Repeat("é", 80)}},
	} {
		checkSame(t, e, set, scope, rs, obj, "operators")
	}
}

// genValue returns a random JSON value (as encoding/json decodes it, with
// int64 for integral numbers so both engines see integers).
func genValue(r *rand.Rand, depth int) any {
	switch n := r.IntN(10); {
	case n == 0:
		return nil
	case n == 1:
		return r.IntN(2) == 0
	case n == 2:
		return int64(r.IntN(21) - 5)
	case n == 3:
		return []float64{0.5, 2.5, -1.25, 1e6, 3}[r.IntN(5)]
	case n <= 6 || depth <= 0:
		return genString(r)
	case n <= 8:
		l := make([]any, r.IntN(4))
		for i := range l {
			l[i] = genValue(r, depth-1)
		}
		return l
	default:
		m := map[string]any{}
		for range r.IntN(4) {
			m[genKey(r)] = genValue(r, depth-1)
		}
		return m
	}
}

var genStrings = []string{"", "a", "gold", "prod", "registry.example.com/x:1", "x/y", "~0", "a~b/c", " sp ", "<b>&", "line\nbreak", "\x01", "tab\t", `q"uote\`, "5", "true", "null", "é"}

func genString(r *rand.Rand) string {
	s := genStrings[r.IntN(len(genStrings))]
	if r.IntN(8) == 0 {
		s = strings.Repeat(s+"é", 1+r.IntN(40))
	}
	return s
}

var genKeys = []string{"a", "b", "c", "tier", "x/y", "a~b", "app.kubernetes.io/name"}

func genKey(r *rand.Rand) string { return genKeys[r.IntN(len(genKeys))] }

// genPath returns a field path over genKeys with list indexes.
func genPath(r *rand.Rand) string {
	p := Path{}
	p.segs = append(p.segs, segment{key: []string{"spec", "metadata", "a"}[r.IntN(3)], index: -1})
	for range r.IntN(3) {
		if r.IntN(4) == 0 {
			p.segs = append(p.segs, segment{index: r.IntN(3)})
		} else {
			p.segs = append(p.segs, segment{key: genKey(r), index: -1})
		}
	}
	return p.format()
}

// genObject builds an object whose paths the generated rules read. Its
// values nest at most celJSONDepth deep, the depth to which the native
// engine prints lists and maps in full (deeper ones print as [...] and
// {...}: a documented difference, not compared here).
func genObject(r *rand.Rand) map[string]any {
	obj := map[string]any{}
	for _, top := range []string{"spec", "metadata", "a"} {
		if r.IntN(5) > 0 {
			obj[top] = genTree(r, celJSONDepth-1)
		}
	}
	return obj
}

func genTree(r *rand.Rand, depth int) any {
	if depth == 0 || r.IntN(4) == 0 {
		return genValue(r, 1)
	}
	if r.IntN(4) == 0 {
		l := make([]any, r.IntN(4))
		for i := range l {
			l[i] = genTree(r, depth-1)
		}
		return l
	}
	m := map[string]any{}
	for _, k := range genKeys {
		if r.IntN(3) == 0 {
			m[k] = genTree(r, depth-1)
		}
	}
	return m
}

// genTest writes one test (a rule or condition body) in YAML flow style.
func genTest(r *rand.Rand) string {
	op := katalog.Operators[r.IntN(len(katalog.Operators))]
	var operand any
	switch op {
	case "exists", "notExists", "typeString", "typeNumber", "typeBool", "typeList", "typeMap", "typeNull":
		operand = r.IntN(3) > 0
	case "gt", "gte", "lt", "lte":
		operand = []any{int64(0), int64(3), 2.5, "-1"}[r.IntN(4)]
	case "between", "notBetween":
		operand = []any{"1,10", []any{int64(-2), 2.5}, "0,0"}[r.IntN(3)]
	case "in", "notIn":
		l := make([]any, 1+r.IntN(3))
		for i := range l {
			l[i] = genValue(r, 1)
		}
		operand = l
	case "prefix", "notPrefix", "suffix", "notSuffix":
		operand = genString(r)
	case "regex":
		operand = []string{"^a", "o", `\d`, "^$", "(?i)GOLD", "é+"}[r.IntN(6)]
	case "equals", "notEquals":
		operand = genValue(r, 2)
		if operand == nil {
			operand = "x"
		}
	default: // contains, notContains
		operand = genValue(r, 1)
		if operand == nil || r.IntN(2) == 0 {
			operand = genString(r)
		}
	}
	return fmt.Sprintf("field: %s, %s: %s", mustJSON(genPath(r)), op, mustJSON(operand))
}

// TestCELProperty generates rule sets and objects and holds the two
// engines' results equal (verdict, field, message, offending value).
func TestCELProperty(t *testing.T) {
	seed := uint64(20260714)
	r := rand.New(rand.NewPCG(seed, 1))
	e := newCELEvaluator(t)
	const sets, objects = 60, 8
	for i := range sets {
		var b strings.Builder
		for j := range 1 + r.IntN(4) {
			fmt.Fprintf(&b, "- {%s, message: %s", genTest(r), mustJSON(genMessage(r, j)))
			if r.IntN(3) == 0 {
				b.WriteString(", action: warn")
			}
			if r.IntN(3) == 0 {
				fmt.Fprintf(&b, ", when: [{%s}]", genTest(r))
			}
			if r.IntN(4) == 0 {
				fmt.Fprintf(&b, ", or: [{%s}, {%s}]", genTest(r), genTest(r))
			}
			b.WriteString("}\n")
		}
		set, scope, crs := compileGenerated(t, fmt.Sprintf("seed %d set %d", seed, i), b.String())
		if set == nil {
			continue
		}
		for range objects {
			checkSame(t, e, set, scope, crs, genObject(r), fmt.Sprintf("seed %d set %d:\n%s", seed, i, b.String()))
		}
		if t.Failed() {
			return
		}
	}
}

// compileGenerated compiles a generated rule list for both engines; a nil
// set when the compiler refuses a generated operand (an empty in list...).
func compileGenerated(t *testing.T, what, src string) (*ValidationSet, *CELScope, []CELRule) {
	t.Helper()
	var rs []katalog.Rule
	if err := decodeYAML(src, &rs); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, src)
	}
	set, probs := CompileValidation(rs)
	if len(probs) > 0 {
		return nil, nil, nil
	}
	if probs := set.NativeProblems(); len(probs) > 0 {
		t.Fatalf("%s: the native engine refuses %+v\n%s", what, probs, src)
	}
	scope := NewCELScope("object", "c")
	crs, err := set.CEL(scope)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return set, scope, crs
}

func genMessage(r *rand.Rand, j int) string {
	if r.IntN(2) == 0 {
		return fmt.Sprintf("rule %d", j)
	}
	return genTemplate(r)
}

// genTemplate writes a template from the native subset.
func genTemplate(r *rand.Rand) string {
	operand := func() string {
		switch r.IntN(6) {
		case 0:
			return "." + []string{"spec", "metadata", "a"}[r.IntN(3)] + "." + []string{"a", "b", "c", "tier"}[r.IntN(4)]
		case 1:
			return "$.spec.tier"
		case 2:
			return "." + []string{"spec", "metadata", "a"}[r.IntN(3)]
		case 3:
			return mustJSON(genString(r))
		case 4:
			return []string{"3", "2.5", "true", "nil"}[r.IntN(4)]
		}
		return "(index .spec " + []string{`"a"`, `"x/y"`, `"tier"`}[r.IntN(3)] + ")"
	}
	value := func() string {
		o := operand()
		for o == "nil" {
			o = operand()
		}
		switch r.IntN(9) {
		case 0:
			return o + " | default " + mustJSON(genString(r))
		case 1:
			// ASCII only: upper and lower map other letters in the
			// webhook engine only (see TestCELCaseMapping).
			return "upper (replace \"é\" \"e\" " + o + ")"
		case 2:
			return o + " | trimPrefix \"g\" | trimSuffix \"d\""
		case 3:
			return "replace \"a\" \"<A>\" " + o
		case 4:
			return "quote " + o
		case 5:
			return "join \", \" " + o
		case 6:
			return "toJSON " + o
		case 7:
			return "len " + o
		}
		return o
	}
	var b strings.Builder
	for range 1 + r.IntN(3) {
		switch r.IntN(4) {
		case 0:
			b.WriteString(genString(r))
		case 1:
			fmt.Fprintf(&b, "{{ if %s }}yes {{ %s }}{{ else }}no{{ end }}", []string{value(), "not " + operand(), "and " + operand() + " " + operand(), "or " + operand() + " " + operand(), "empty " + operand()}[r.IntN(5)], value())
		default:
			fmt.Fprintf(&b, "{{ %s }}", value())
		}
		b.WriteString(" ")
	}
	return b.String()
}

// nativeMessage is the message of a failing rule's first failure.
func nativeMessage(t testing.TB, e *celEvaluator, scope *CELScope, r CELRule, obj map[string]any) string {
	t.Helper()
	recs := celNative(e.with(t, Input{Object: obj}).scoped(t, scope).eval(t, r.Failures, nil)).([]any)
	if len(recs) == 0 {
		t.Fatalf("rule %s passes on %s", r.Field, mustJSON(obj))
	}
	return recs[0].([]any)[2].(string)
}

// Templates: the native rendering equals text/template's, fallback included.
func TestCELTemplates(t *testing.T) {
	seed := uint64(77)
	r := rand.New(rand.NewPCG(seed, 2))
	e := newCELEvaluator(t)
	for i := range 40 {
		text := genTemplate(r)
		set := compileRules(t, "- {field: spec.zzz, exists: true, message: "+mustJSON(text)+"}")
		scope := NewCELScope("object", "c")
		rs, err := set.CEL(scope)
		if err != nil {
			t.Fatalf("seed %d template %d %q: %v", seed, i, text, err)
		}
		for range 6 {
			obj := genObject(r)
			want := set.rules[0].message(webhookObject(t, obj))
			got := nativeMessage(t, e, scope, rs[0], obj)
			if got != want {
				t.Fatalf("seed %d template %d %q\nobject %s\ntext/template: %q\nnative:        %q", seed, i, text, mustJSON(obj), want, got)
			}
		}
	}
}

// mutationSame applies both engines' mutations to obj and compares.
func mutationSame(t testing.TB, e *celEvaluator, set *MutationSet, patches []string, obj map[string]any, what string) {
	t.Helper()
	mutationSameIn(t, e, set, patches, Input{Object: obj}, what)
}

// mutationSameIn applies both engines' mutations to the request's object.
func mutationSameIn(t testing.TB, e *celEvaluator, set *MutationSet, patches []string, in Input, what string) {
	t.Helper()
	obj := in.Object
	win := in
	win.Object = webhookObject(t, obj)
	if in.OldObject != nil {
		win.OldObject = webhookObject(t, in.OldObject)
	}
	ops, err := set.Patch(win)
	want := mustJSON(obj)
	if err == nil && len(ops) > 0 {
		b, _ := json.Marshal(ops)
		p, perr := jsonpatch.DecodePatch(b)
		if perr != nil {
			t.Fatal(perr)
		}
		out, aerr := p.Apply([]byte(want))
		if aerr != nil {
			t.Fatalf("%s: the webhook patch %s does not apply: %v", what, b, aerr)
		}
		want = normJSON(t, out)
	}
	if err != nil {
		// The webhook engine skips the whole mutation; the native one
		// skips the failing rule only: not compared.
		return
	}
	cur := obj
	for _, p := range patches {
		step := in
		step.Object = cur
		v := e.with(t, step).eval(t, jsonPatchAsMaps(p), nil).Value()
		b, _ := json.Marshal(celNative(v))
		if string(b) == "[]" || string(b) == "null" {
			continue
		}
		jp, perr := jsonpatch.DecodePatch(b)
		if perr != nil {
			t.Fatalf("%s: native patch %s: %v", what, b, perr)
		}
		out, aerr := jp.Apply([]byte(mustJSON(cur)))
		if aerr != nil {
			t.Fatalf("%s: native patch %s does not apply to %s: %v", what, b, mustJSON(cur), aerr)
		}
		cur = nil
		if err := json.Unmarshal(out, &cur); err != nil {
			t.Fatal(err)
		}
	}
	if got := normJSON(t, []byte(mustJSON(cur))); got != want {
		t.Errorf("%s\nobject %s\nwebhook engine: %s\nnative engine:  %s", what, mustJSON(obj), want, got)
	}
}

func normJSON(t testing.TB, b []byte) string {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return mustJSON(v)
}

// jsonPatchAsMaps: outside a MutatingAdmissionPolicy there is no JSONPatch
// type, so the tests compile mutations with maps (see TestMain).
func jsonPatchAsMaps(expr string) string { return expr }

func TestMain(m *testing.M) {
	celPatchOp = func(op, path, value string) string {
		return fmt.Sprintf("{'op': dyn(%s), 'path': dyn(%s), 'value': dyn(%s)}", op, path, value)
	}
	os.Exit(m.Run())
}

// celNative converts CEL's answer (lists and maps of ref.Val) to plain Go.
func celNative(v any) any {
	switch x := v.(type) {
	case ref.Val:
		if x.Type() == types.NullType {
			return nil
		}
		return celNative(x.Value())
	case structpb.NullValue:
		return nil
	case []ref.Val:
		out := make([]any, len(x))
		for i := range x {
			out[i] = celNative(x[i])
		}
		return out
	case map[ref.Val]ref.Val:
		out := map[string]any{}
		for k, val := range x {
			out[fmt.Sprint(k.Value())] = celNative(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = celNative(x[i])
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			out[k] = celNative(val)
		}
		return out
	}
	return v
}

func TestCELMutationProperty(t *testing.T) {
	seed := uint64(4242)
	r := rand.New(rand.NewPCG(seed, 3))
	e := newCELEvaluator(t)
	for i := range 200 {
		var b strings.Builder
		for range 1 + r.IntN(4) {
			key := "default"
			if r.IntN(2) == 0 {
				key = "override"
			}
			v := genValue(r, 2)
			if v == nil {
				v = "x"
			}
			fmt.Fprintf(&b, "- {field: %s, %s: %s", mustJSON(genPath(r)), key, mustJSON(v))
			if r.IntN(4) == 0 {
				fmt.Fprintf(&b, ", when: [{%s}]", genTest(r))
			}
			b.WriteString("}\n")
		}
		var ms []katalog.MutationRule
		if err := decodeYAML(b.String(), &ms); err != nil {
			t.Fatal(err)
		}
		set, probs := CompileMutation(ms)
		if len(probs) > 0 {
			t.Fatalf("%+v\n%s", probs, b.String())
		}
		patches, err := set.CELPatch("object")
		if err != nil {
			t.Fatal(err)
		}
		for range 6 {
			mutationSame(t, e, set, patches, genObject(r), fmt.Sprintf("seed %d set %d:\n%s", seed, i, b.String()))
		}
		if t.Failed() {
			return
		}
	}
}

// decodeYAML reads a YAML list of validation (*[]katalog.Rule) or
// mutation (*[]katalog.MutationRule) rules with the Katalog's own loader.
func decodeYAML(src string, out any) error {
	block := "validation"
	if _, ok := out.(*[]katalog.MutationRule); ok {
		block = "mutation"
	}
	var b strings.Builder
	b.WriteString("apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: t}\nspec:\n  crds:\n    w:\n" +
		"      apiTypes: {group: g.example.com, version: v1, kind: W, plural: ws}\n      " + block + ":\n        rules:\n")
	for _, line := range strings.Split(strings.TrimRight(src, "\n"), "\n") {
		b.WriteString("          " + line + "\n")
	}
	f, errs := katalog.Parse("rules.yaml", []byte(b.String()))
	if len(errs) > 0 {
		return fmt.Errorf("%v\n%s", errs[0], b.String())
	}
	c := f.Katalog.Spec.CRDs["w"]
	switch o := out.(type) {
	case *[]katalog.Rule:
		*o = c.Validation.Rules
	case *[]katalog.MutationRule:
		*o = c.Mutation.Rules
	}
	return nil
}

// upper and lower map ASCII letters alike in both engines; the native
// engine leaves other letters as they are (CEL has ASCII case mapping only).
func TestCELCaseMapping(t *testing.T) {
	e := newCELEvaluator(t)
	set := compileRules(t, `- {field: spec.zzz, exists: true, message: "{{ upper .spec.a }} {{ lower .spec.b }}"}`)
	scope := NewCELScope("object", "c")
	rs, err := set.CEL(scope)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		a, b, native string
	}{
		{"gold-1", "SILVER", "GOLD-1 silver"},
		{"é", "É", "é É"},
	} {
		obj := map[string]any{"spec": map[string]any{"a": tc.a, "b": tc.b}}
		if got := nativeMessage(t, e, scope, rs[0], obj); got != tc.native {
			t.Errorf("%q %q: native %q, want %q", tc.a, tc.b, got, tc.native)
		}
		if tc.a == "gold-1" {
			if want := set.rules[0].message(obj); want != tc.native {
				t.Errorf("webhook engine %q, native %q", want, tc.native)
			}
		}
	}
}

// FuzzTemplateCEL: any template text ParseTemplate accepts either is
// refused by the native compiler with a reason, or compiles to CEL that
// renders it exactly as text/template does (fallback included) on a fixed
// object. Seeds: testdata/fuzz/FuzzTemplateCEL.
func FuzzTemplateCEL(f *testing.F) {
	for _, s := range []string{"{{ .spec.a }}", `{{ .spec.b | default "x" | upper }}`, "{{ if .spec.c }}y{{ else }}n{{ end }}",
		`{{ index .spec.t "x/y" }}`, "{{ len .spec.l }}", "{{ range .spec.l }}{{ . }}{{ end }}", `{{ join "," .spec.l }}`} {
		f.Add(s)
	}
	e := newCELEvaluator(f)
	// Nested no deeper than celJSONDepth, so even {{ . }} prints in full.
	obj := map[string]any{"spec": map[string]any{"a": "gold", "b": nil, "c": int64(3), "t": map[string]any{"x/y": "v"}, "l": []any{"a", 2.5, true}}}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 200 || !utf8.ValidString(text) {
			return // a Katalog is UTF-8 (YAML)
		}
		tmpl, err := ParseTemplate("m", text)
		if err != nil {
			return
		}
		ct, err := templateCEL(tmpl, "object")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("refused without a reason")
			}
			return
		}
		r := &rule{msg: text, tmpl: tmpl}
		want := r.message(webhookObject(t, obj))
		got := e.eval(t, celLet("m", ct.text, fmt.Sprintf("(%s && m.trim() != '') ? m : %s", ct.ok, CELString(text))), apiObject(t, obj)).Value().(string)
		if got != want {
			t.Fatalf("%q: text/template %q, native %q", text, want, got)
		}
	})
}
