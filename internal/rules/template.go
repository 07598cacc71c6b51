package rules

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/template/parse"

	"github.com/orkspace/orkestra-gateway/internal/tmpl"
)

// Functions is the function set templates may call, besides text/template's
// builtins (and, or, not, len, index, slice, eq, ne, lt, le, gt, ge, print,
// printf, println). Argument order follows Sprig, so the value comes last
// and pipes: {{ .spec.tier | default "standard" | upper }}.
//
//	default D V       V, or D when V is empty (missing, null, "", [] or {})
//	empty V           whether V is empty in that sense
//	lower S, upper S  case mapping
//	trim S            strip leading and trailing white space
//	trimPrefix P S    S without the prefix P
//	trimSuffix X S    S without the suffix X
//	replace OLD NEW S every OLD in S replaced by NEW
//	quote S           S as a double-quoted string
//	join SEP LIST     the list's items joined by SEP
//	toString V        V as text (what {{ V }} prints)
//	toJSON V          V as compact JSON
//
// Non-string arguments are formatted with toString first, so {{ upper .spec.replicas }} works.
var Functions = []string{
	"default", "empty", "lower", "upper", "trim", "trimPrefix", "trimSuffix",
	"replace", "quote", "join", "toString", "toJSON",
}

var funcs = tmpl.FuncMap{
	"default": func(d, v any) any {
		if isEmpty(v) {
			return d
		}
		return v
	},
	"empty":      isEmpty,
	"lower":      func(v any) string { return strings.ToLower(toString(v)) },
	"upper":      func(v any) string { return strings.ToUpper(toString(v)) },
	"trim":       func(v any) string { return strings.TrimSpace(toString(v)) },
	"trimPrefix": func(p, v any) string { return strings.TrimPrefix(toString(v), toString(p)) },
	"trimSuffix": func(x, v any) string { return strings.TrimSuffix(toString(v), toString(x)) },
	"replace":    replace,
	"quote":      func(v any) string { return strconv.Quote(toString(v)) },
	"join": func(sep string, v any) string {
		switch l := v.(type) {
		case []any:
			parts := make([]string, len(l))
			for i, x := range l {
				parts[i] = toString(x)
			}
			return strings.Join(parts, sep)
		case []string:
			return strings.Join(l, sep)
		}
		return toString(v)
	},
	"toString": toString,
	"toJSON": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

// ParseTemplate parses a template with the allowed function set (K10). It
// runs in the bounded evaluator of package tmpl: Execute spends at most
// tmpl.DefaultBudget, ExecuteBudget a budget of the caller's.
//
// Missing keys are not errors (missingkey=default): {{ .spec.absent }} and
// {{ .spec.absent.deeper }} print nothing, and `default` sees them as empty.
// Reading a key of a null or of a scalar is an execution error. Every
// {{ action }} prints through toString, so numbers decoded as float64 print
// as 1000000 rather than 1e+06, and null prints nothing rather than "<nil>".
func ParseTemplate(name, text string) (*tmpl.Template, error) {
	t, err := tmpl.Parse(name, text, funcs)
	if err != nil {
		return nil, err
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			printThroughToString(tt.Tree, tt.Tree.Root)
		}
	}
	return t, nil
}

// printThroughToString appends "| toString" to every printing action, so the
// template prints our formatting instead of fmt's defaults.
func printThroughToString(tree *parse.Tree, n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			printThroughToString(tree, c)
		}
	case *parse.ActionNode:
		if len(n.Pipe.Decl) > 0 {
			return // declares a variable, prints nothing
		}
		id := parse.NewIdentifier("toString").SetTree(tree).SetPos(n.Pipe.Pos)
		n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pipe.Pos, Args: []parse.Node{id}})
	case *parse.IfNode:
		printThroughToString(tree, n.List)
		printThroughToString(tree, n.ElseList)
	case *parse.RangeNode:
		printThroughToString(tree, n.List)
		printThroughToString(tree, n.ElseList)
	case *parse.WithNode:
		printThroughToString(tree, n.List)
		printThroughToString(tree, n.ElseList)
	}
}

// replace is strings.ReplaceAll with the value last, refusing a result
// larger than tmpl.MaxString before building it.
func replace(old, new, v any) (string, error) {
	s, o, n := toString(v), toString(old), toString(new)
	if grow := len(n) - len(o); grow > 0 {
		count := strings.Count(s, o)
		if count > 0 && (count > tmpl.MaxString/grow || len(s)+count*grow > tmpl.MaxString) {
			return "", fmt.Errorf("the result would be larger than %d bytes", tmpl.MaxString)
		}
	}
	return strings.ReplaceAll(s, o, n), nil
}

// render executes t against data within tmpl.DefaultBudget.
func render(t *tmpl.Template, data any) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}
