// Package tmpl runs the Katalog's templates: Go text/template syntax, parsed
// by text/template/parse, executed by an evaluator of its own that spends a
// budget of steps, output bytes and bytes of function results, so a template
// over hostile data (a range over a long list, nested ranges, a replace that
// multiplies its input) stops with an error instead of taking the process's
// CPU or memory.
//
// The semantics are text/template's with the option missingkey=default
// (a missing map key reads as no value), except that methods are never
// called (templates read data; they have no business calling code) and
// ranges over channels and functions are not supported. The evaluator is
// derived from the Go standard library's text/template.
package tmpl

import (
	"cmp"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/template/parse"
)

// Budget bounds one execution of a template.
type Budget struct {
	// Steps counts nodes walked, commands evaluated, fields read and range
	// iterations.
	Steps int
	// Output bounds the bytes written.
	Output int
	// Alloc bounds the bytes of strings that functions return, summed over
	// the execution, so nested string-growing calls stop early.
	Alloc int
}

// DefaultBudget is the budget of Execute: about a millisecond of work for an
// everyday template, far more than any Katalog template needs, and small
// enough that a request cannot buy seconds of CPU or more than a few MiB.
var DefaultBudget = Budget{Steps: 100_000, Output: 4 << 20, Alloc: 16 << 20}

// MaxString bounds one string a function may build (replace checks it
// before allocating).
const MaxString = 4 << 20

func (b Budget) withDefaults() Budget {
	if b.Steps <= 0 {
		b.Steps = DefaultBudget.Steps
	}
	if b.Output <= 0 {
		b.Output = DefaultBudget.Output
	}
	if b.Alloc <= 0 {
		b.Alloc = DefaultBudget.Alloc
	}
	return b
}

// budgetError is an execution stopped by its budget.
type budgetError struct {
	What  string // "steps", "bytes of output", "bytes of function results"
	Limit int
}

// Error names the budget exceeded and its limit.
func (e *budgetError) Error() string {
	return "the template exceeded its budget of " + strconv.Itoa(e.Limit) + " " + e.What
}

// Template is a parsed template and the templates it defines.
type Template struct {
	name string
	// Tree is the parsed template. Callers may edit it after parsing (the
	// Katalog's templates print through toString that way), never while it
	// executes.
	Tree   *parse.Tree
	common *common
}

type common struct {
	tmpl  map[string]*Template
	funcs map[string]reflect.Value
}

// Parse parses text as a template named name that may call funcs and the
// text/template builtins (and, or, not, len, index, slice, eq, ne, lt, le,
// gt, ge, print, printf, println, html, js, urlquery, call). Errors are the
// parser's, e.g. `template: msg:1: function "nope" not defined`. It panics
// when a value of funcs is not a function with one result, or a result and
// an error.
func Parse(name, text string, funcs FuncMap) (*Template, error) {
	fv := map[string]reflect.Value{}
	addValueFuncs(fv, funcs)
	trees, err := parse.Parse(name, text, "", "", map[string]any(funcs), map[string]any(builtins()))
	if err != nil {
		return nil, err
	}
	c := &common{tmpl: map[string]*Template{}, funcs: fv}
	for n, tree := range trees {
		c.tmpl[n] = &Template{name: n, Tree: tree, common: c}
	}
	t := c.tmpl[name]
	if t == nil {
		t = &Template{name: name, common: c}
		c.tmpl[name] = t
	}
	return t, nil
}

// Name is the template's name.
func (t *Template) Name() string { return t.name }

// lookup returns the template name defines or is, nil when there is none.
func (t *Template) lookup(name string) *Template {
	if t.common == nil {
		return nil
	}
	return t.common.tmpl[name]
}

// Templates returns t and the templates it defines, in name order.
func (t *Template) Templates() []*Template {
	if t.common == nil {
		return []*Template{t}
	}
	out := make([]*Template, 0, len(t.common.tmpl))
	for _, x := range t.common.tmpl {
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b *Template) int { return strings.Compare(a.name, b.name) })
	return out
}

// Execute runs t against data within DefaultBudget, writing to w. Partial
// output may have been written when it fails.
func (t *Template) Execute(w io.Writer, data any) error {
	return t.execute(w, data, DefaultBudget)
}

// ExecuteBudget is Execute within b (zero fields take DefaultBudget's).
func (t *Template) ExecuteBudget(w io.Writer, data any, b Budget) error {
	return t.execute(w, data, b)
}

// Render runs t against data within b and returns the text.
func (t *Template) Render(data any, b Budget) (string, error) {
	var sb strings.Builder
	if err := t.execute(&sb, data, b); err != nil {
		return "", err
	}
	return sb.String(), nil
}

// limitWriter fails a write that would pass the output budget; nothing of
// that write is written.
type limitWriter struct {
	w     io.Writer
	left  int
	limit int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.left {
		return 0, &budgetError{What: "bytes of output", Limit: l.limit}
	}
	l.left -= len(p)
	return l.w.Write(p)
}

// checkPrint refuses printf formats whose width or precision would build a
// string larger than what is left of the budget (fmt allocates the padding
// before anything is written).
func (s *state) checkPrint(name string, argv []reflect.Value) error {
	if name != "printf" || len(argv) == 0 || argv[0].Kind() != reflect.String {
		return nil
	}
	format := argv[0].String()
	n := 0
	for i := 0; i <= len(format); i++ {
		if i < len(format) && format[i] >= '0' && format[i] <= '9' {
			n = n*10 + int(format[i]-'0')
			if n > s.alloc {
				return fmt.Errorf("a width or precision in the format exceeds the template's budget of %d bytes", s.b.Alloc)
			}
			continue
		}
		n = 0
	}
	if strings.IndexByte(format, '*') < 0 {
		return nil
	}
	for _, a := range argv[1:] {
		a = indirectInterface(a)
		var x int64
		switch a.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			x = a.Int()
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			x = int64(min(a.Uint(), uint64(1<<62)))
		default:
			continue
		}
		if x > int64(s.alloc) || -x > int64(s.alloc) {
			return fmt.Errorf("a * width or precision of %d exceeds the template's budget of %d bytes", x, s.b.Alloc)
		}
	}
	return nil
}

// mapEntry is one key and value of a map, for a sorted range.
type mapEntry struct{ Key, Value reflect.Value }

// sortedMap returns the entries of a map in key order, as text/template
// ranges over maps: numbers, strings and booleans by value, anything else
// by its printed form.
func sortedMap(m reflect.Value) []mapEntry {
	out := make([]mapEntry, 0, m.Len())
	it := m.MapRange()
	for it.Next() {
		out = append(out, mapEntry{it.Key(), it.Value()})
	}
	slices.SortStableFunc(out, func(a, b mapEntry) int { return compareKeys(a.Key, b.Key) })
	return out
}

func compareKeys(a, b reflect.Value) int {
	a, b = indirectInterface(a), indirectInterface(b)
	if a.Kind() == b.Kind() {
		switch a.Kind() {
		case reflect.String:
			return strings.Compare(a.String(), b.String())
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return cmp.Compare(a.Int(), b.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			return cmp.Compare(a.Uint(), b.Uint())
		case reflect.Float32, reflect.Float64:
			return cmp.Compare(a.Float(), b.Float())
		case reflect.Bool:
			switch {
			case a.Bool() == b.Bool():
				return 0
			case !a.Bool():
				return -1
			}
			return 1
		}
	}
	return strings.Compare(fmt.Sprint(valueOrNil(a)), fmt.Sprint(valueOrNil(b)))
}

func valueOrNil(v reflect.Value) any {
	if !v.IsValid() || !v.CanInterface() {
		return nil
	}
	return v.Interface()
}
