package rules

import (
	"fmt"
	"strings"
	"text/template/parse"

	"github.com/orkspace/orkestra-gateway/internal/tmpl"
)

// celTemplate is a template compiled to CEL: text renders it, ok is false
// when text/template would stop with an execution error (the caller then
// falls back to the text as written). Both are total.
type celTemplate struct {
	ok, text string
}

// templateCEL compiles a template parsed by ParseTemplate (whose printing
// actions end in toString) into CEL over the data root. The subset: text,
// actions, if/else, field reads from the root (.a.b, $.a.b, .), string,
// number, bool and nil literals, parenthesized pipelines, the Functions set
// and the builtins index (literal keys), len, not, and, or. Anything else
// (range, with, variables, define/template, printf, comparisons...) is an
// error naming it.
func templateCEL(t *tmpl.Template, root string) (celTemplate, error) {
	if t == nil || t.Tree == nil {
		return celTemplate{}, fmt.Errorf("no template")
	}
	if len(t.Templates()) > 1 {
		return celTemplate{}, fmt.Errorf("define and template are not supported")
	}
	c := &tcompiler{root: root}
	v, err := c.list(t.Tree.Root)
	if err != nil {
		return celTemplate{}, err
	}
	return celTemplate{ok: "!" + v.err, text: v.v}, nil
}

// tval is a compiled template value: v is its CEL expression (null for a
// missing value), err is a bool expression, true when text/template would
// fail computing it. Neither ever fails in CEL.
type tval struct {
	v, err string
	// str: v is statically a string (never null), so toString is v itself.
	str bool
}

const noErr = "false"

func orErr(errs ...string) string {
	var out []string
	for _, e := range errs {
		if e != noErr && e != "" {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return noErr
	}
	return "(" + strings.Join(out, " || ") + ")"
}

type tcompiler struct {
	root string
	n    int // fresh comprehension variables
}

func (c *tcompiler) fresh() string {
	c.n++
	return fmt.Sprintf("t%d", c.n)
}

// list renders a list of nodes as one string.
func (c *tcompiler) list(l *parse.ListNode) (tval, error) {
	if l == nil || len(l.Nodes) == 0 {
		return tval{v: "''", err: noErr, str: true}, nil
	}
	var parts, errs []string
	for _, n := range l.Nodes {
		v, err := c.node(n)
		if err != nil {
			return tval{}, err
		}
		parts = append(parts, v.v)
		errs = append(errs, v.err)
	}
	return tval{v: "(" + strings.Join(parts, " + ") + ")", err: orErr(errs...), str: true}, nil
}

func (c *tcompiler) node(n parse.Node) (tval, error) {
	switch n := n.(type) {
	case *parse.TextNode:
		return tval{v: CELString(string(n.Text)), err: noErr, str: true}, nil
	case *parse.ActionNode:
		if len(n.Pipe.Decl) > 0 {
			return tval{}, fmt.Errorf("variables are not supported")
		}
		v, err := c.pipe(n.Pipe)
		if err != nil {
			return tval{}, err
		}
		// ParseTemplate ends every printing action in toString: v is a string.
		return v, nil
	case *parse.IfNode:
		if len(n.Pipe.Decl) > 0 {
			return tval{}, fmt.Errorf("variables are not supported")
		}
		cond, err := c.pipe(n.Pipe)
		if err != nil {
			return tval{}, err
		}
		then, err := c.list(n.List)
		if err != nil {
			return tval{}, err
		}
		els, err := c.list(n.ElseList)
		if err != nil {
			return tval{}, err
		}
		truth := celTruth(cond.v)
		return tval{
			v:   fmt.Sprintf("(%s ? %s : %s)", truth, then.v, els.v),
			err: orErr(cond.err, fmt.Sprintf("(%s ? %s : %s)", truth, then.err, els.err)),
		}, nil
	case *parse.RangeNode:
		return tval{}, fmt.Errorf("range is not supported")
	case *parse.WithNode:
		return tval{}, fmt.Errorf("with is not supported")
	case *parse.TemplateNode:
		return tval{}, fmt.Errorf("template is not supported")
	case *parse.CommentNode:
		return tval{v: "''", err: noErr}, nil
	}
	return tval{}, fmt.Errorf("%s is not supported", n.String())
}

// pipe evaluates a pipeline: each command after the first is a function
// call that gets the previous value as its last argument.
func (c *tcompiler) pipe(p *parse.PipeNode) (tval, error) {
	if p == nil || len(p.Cmds) == 0 {
		return tval{}, fmt.Errorf("empty pipeline")
	}
	if len(p.Decl) > 0 {
		return tval{}, fmt.Errorf("variables are not supported")
	}
	var prev *tval
	for _, cmd := range p.Cmds {
		v, err := c.command(cmd, prev)
		if err != nil {
			return tval{}, err
		}
		prev = &v
	}
	return *prev, nil
}

func (c *tcompiler) command(cmd *parse.CommandNode, final *tval) (tval, error) {
	if len(cmd.Args) == 0 {
		return tval{}, fmt.Errorf("empty command")
	}
	if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok {
		var args []tval
		for _, a := range cmd.Args[1:] {
			v, err := c.arg(a)
			if err != nil {
				return tval{}, err
			}
			args = append(args, v)
		}
		if final != nil {
			args = append(args, *final)
		}
		return c.call(id.Ident, cmd.Args[1:], args)
	}
	if len(cmd.Args) > 1 || final != nil {
		return tval{}, fmt.Errorf("%s is not a function and takes no arguments", cmd.Args[0])
	}
	if _, ok := cmd.Args[0].(*parse.NilNode); ok {
		return tval{}, fmt.Errorf("nil is not a command")
	}
	return c.arg(cmd.Args[0])
}

// arg compiles one operand.
func (c *tcompiler) arg(n parse.Node) (tval, error) {
	switch n := n.(type) {
	case *parse.FieldNode:
		return c.chain(n.Ident), nil
	case *parse.VariableNode:
		if len(n.Ident) == 0 || n.Ident[0] != "$" {
			return tval{}, fmt.Errorf("variables are not supported")
		}
		return c.chain(n.Ident[1:]), nil
	case *parse.DotNode:
		return tval{v: c.root, err: noErr}, nil
	case *parse.StringNode:
		return tval{v: CELString(n.Text), err: noErr, str: true}, nil
	case *parse.BoolNode:
		return tval{v: fmt.Sprint(n.True), err: noErr}, nil
	case *parse.NilNode:
		return tval{v: "null", err: noErr}, nil
	case *parse.NumberNode:
		// As text/template's idealConstant: a float when written as one.
		switch {
		case n.IsFloat && strings.ContainsAny(n.Text, ".eEpP") && !strings.HasPrefix(n.Text, "0x") && !strings.HasPrefix(n.Text, "'"):
			return tval{v: celDouble(n.Float64), err: noErr}, nil
		case n.IsInt && !strings.HasPrefix(n.Text, "'"):
			return tval{v: fmt.Sprint(n.Int64), err: noErr}, nil
		}
		return tval{}, fmt.Errorf("number %s is not supported", n.Text)
	case *parse.PipeNode:
		return c.pipe(n)
	case *parse.IdentifierNode:
		// A niladic function used as an argument.
		return c.call(n.Ident, nil, nil)
	}
	return tval{}, fmt.Errorf("%s is not supported", n)
}

// chain reads keys from the root as text/template does on maps: a missing
// key gives a missing value (printed as nothing), and reading on through a
// missing value stays missing; reading a key of null, of a scalar or of a
// list is an execution error.
func (c *tcompiler) chain(keys []string) tval {
	if len(keys) == 0 {
		return tval{v: c.root, err: noErr}
	}
	var errs []string
	found := fmt.Sprintf("type(%s) == map", c.root) // the container at each step is a map
	cur := c.root
	for i, k := range keys {
		if i > 0 {
			// cur is present (every earlier key was found): it must be a map.
			errs = append(errs, fmt.Sprintf("(%s && type(%s) != map)", found, cur))
			found = fmt.Sprintf("%s && type(%s) == map", found, cur)
		}
		found = fmt.Sprintf("%s && %s in %s", found, CELString(k), cur)
		cur = fmt.Sprintf("%s[%s]", cur, CELString(k))
	}
	return tval{v: fmt.Sprintf("((%s) ? %s : null)", found, cur), err: orErr(errs...)}
}

// celTruth is text/template's truth: false, 0, null, missing and empty
// strings, lists and maps are false.
func celTruth(x string) string {
	return bind("tr", x, func(x string) string {
		return fmt.Sprintf("(%s != null && (type(%s) == bool ? %s == true : type(%s) == string ? %s != '' : "+
			"(type(%s) == list || type(%s) == map) ? size(%s) > 0 : %s ? double(%s) != 0.0 : true))",
			x, x, x, x, x, x, x, x, celIsNumber(x), x)
	})
}

// call compiles a function call; raw are the argument nodes (for literal
// checks), args their values, the pipeline's value last.
func (c *tcompiler) call(name string, raw []parse.Node, args []tval) (tval, error) {
	want := map[string]int{
		"default": 2, "empty": 1, "lower": 1, "upper": 1, "trim": 1, "trimPrefix": 2, "trimSuffix": 2,
		"replace": 3, "quote": 1, "join": 2, "toString": 1, "toJSON": 1, "len": 1, "not": 1,
	}
	if n, ok := want[name]; ok && len(args) != n {
		return tval{}, fmt.Errorf("%s takes %d arguments, not %d", name, n, len(args))
	}
	errs := func() string {
		var e []string
		for _, a := range args {
			e = append(e, a.err)
		}
		return orErr(e...)
	}
	str := func(i int) string {
		if args[i].str {
			return args[i].v
		}
		return celToString(args[i].v)
	}
	let := func(x string, body func(v string) string) string {
		v := c.fresh()
		return celLet(v, x, body(v))
	}
	switch name {
	case "default":
		return tval{v: let(args[1].v, func(v string) string {
			return fmt.Sprintf("(%s ? dyn(%s) : %s)", celEmpty(v), args[0].v, v)
		}), err: errs()}, nil
	case "empty":
		return tval{v: celEmpty(args[0].v), err: errs()}, nil
	case "lower":
		return tval{v: str(0) + ".lowerAscii()", err: errs(), str: true}, nil
	case "upper":
		return tval{v: str(0) + ".upperAscii()", err: errs(), str: true}, nil
	case "trim":
		return tval{v: str(0) + ".trim()", err: errs(), str: true}, nil
	case "trimPrefix":
		return tval{v: let(str(1), func(s string) string {
			return let(str(0), func(p string) string {
				return fmt.Sprintf("(%s.startsWith(%s) ? %s.substring(size(%s)) : %s)", s, p, s, p, s)
			})
		}), err: errs(), str: true}, nil
	case "trimSuffix":
		return tval{v: let(str(1), func(s string) string {
			return let(str(0), func(x string) string {
				return fmt.Sprintf("(%s.endsWith(%s) ? %s.substring(0, size(%s) - size(%s)) : %s)", s, x, s, s, x, s)
			})
		}), err: errs(), str: true}, nil
	case "replace":
		return tval{v: fmt.Sprintf("%s.replace(%s, %s)", str(2), str(0), str(1)), err: errs(), str: true}, nil
	case "quote":
		return tval{v: celGoQuote(str(0)), err: errs(), str: true}, nil
	case "join":
		sepErr := noErr
		if _, lit := raw[0].(*parse.StringNode); !lit {
			sepErr = fmt.Sprintf("type(%s) != string", args[0].v)
		}
		sep := fmt.Sprintf("(type(%s) == string ? string(%s) : '')", args[0].v, args[0].v)
		return tval{v: let(args[1].v, func(v string) string {
			e := c.fresh()
			return fmt.Sprintf("(type(%s) == list ? %s.map(%s, %s).join(%s) : %s)", v, v, e, celToString(e), sep, celToString(v))
		}), err: orErr(errs(), sepErr), str: true}, nil
	case "toString":
		return tval{v: str(0), err: errs(), str: true}, nil
	case "toJSON":
		return tval{v: celJSON(args[0].v), err: errs(), str: true}, nil
	case "len":
		return tval{
			v: let(args[0].v, func(x string) string {
				return fmt.Sprintf("(type(%s) == string ? bytes(string(%s)).size() : (type(%s) == list || type(%s) == map) ? size(%s) : 0)", x, x, x, x, x)
			}),
			err: orErr(errs(), bind("ln", args[0].v, func(x string) string {
				return fmt.Sprintf("!(type(%s) == string || type(%s) == list || type(%s) == map)", x, x, x)
			})),
		}, nil
	case "not":
		return tval{v: "!" + celTruth(args[0].v), err: errs()}, nil
	case "and", "or":
		if len(args) == 0 {
			return tval{}, fmt.Errorf("%s needs arguments", name)
		}
		// Short-circuit: the first falsy (and) or truthy (or) argument, else
		// the last; later arguments are not evaluated, so neither are their
		// errors.
		v, e := "dyn("+args[len(args)-1].v+")", args[len(args)-1].err
		for i := len(args) - 2; i >= 0; i-- {
			truth := celTruth(args[i].v)
			if name == "and" {
				v = fmt.Sprintf("(%s ? %s : dyn(%s))", truth, v, args[i].v)
				e = orErr(args[i].err, fmt.Sprintf("(%s && %s)", truth, e))
			} else {
				v = fmt.Sprintf("(%s ? dyn(%s) : %s)", truth, args[i].v, v)
				e = orErr(args[i].err, fmt.Sprintf("(!%s && %s)", truth, e))
			}
		}
		return tval{v: v, err: e}, nil
	case "index":
		return c.index(raw, args)
	}
	return tval{}, fmt.Errorf("function %s is not supported", name)
}

// index reads literal keys and indexes as text/template's index does: a
// missing map key gives null; indexing null or a scalar, or a list out of
// range, is an error.
func (c *tcompiler) index(raw []parse.Node, args []tval) (tval, error) {
	if len(args) == 0 {
		return tval{}, fmt.Errorf("index needs arguments")
	}
	if len(raw) != len(args) {
		return tval{}, fmt.Errorf("index in a pipeline is not supported")
	}
	cur, errs := "dyn("+args[0].v+")", []string{args[0].err}
	if len(raw) == 1 {
		errs = append(errs, cur+" == null") // index of untyped nil
	}
	for _, k := range raw[1:] {
		var step, bad string
		switch k := k.(type) {
		case *parse.StringNode:
			key := CELString(k.Text)
			bad = fmt.Sprintf("type(%s) != map", cur)
			step = fmt.Sprintf("((type(%s) == map && %s in %s) ? %s[%s] : null)", cur, key, cur, cur, key)
		case *parse.NumberNode:
			if !k.IsInt || k.Int64 < 0 || strings.ContainsAny(k.Text, ".eEpP'") {
				return tval{}, fmt.Errorf("index %s is not supported", k.Text)
			}
			bad = fmt.Sprintf("!(type(%s) == list && size(%s) > %d)", cur, cur, k.Int64)
			step = fmt.Sprintf("((type(%s) == list && size(%s) > %d) ? %s[%d] : null)", cur, cur, k.Int64, cur, k.Int64)
		default:
			return tval{}, fmt.Errorf("index with a computed key is not supported")
		}
		// An error at an earlier step stops there: later checks only count
		// while no earlier one failed, which orErr's "||" gives.
		errs = append(errs, bad)
		cur = step
	}
	return tval{v: cur, err: orErr(errs...)}, nil
}

// goQuoteEscapes are strconv.Quote's escapes for ASCII, backslash first.
var goQuoteEscapes = func() [][2]string {
	out := [][2]string{{`\`, `\\`}, {`"`, `\"`}}
	named := map[rune]string{'\a': `\a`, '\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`, '\v': `\v`}
	for c := rune(0); c < 0x20; c++ {
		if s, ok := named[c]; ok {
			out = append(out, [2]string{string(c), s})
		} else {
			out = append(out, [2]string{string(c), fmt.Sprintf(`\x%02x`, c)})
		}
	}
	return append(out, [2]string{"\x7f", `\x7f`})
}()

// celGoQuote is strconv.Quote for text whose only unprintable characters
// are ASCII controls (other unprintable runes stay as they are).
func celGoQuote(s string) string {
	return bind("gq", s, celGoQuoteOf)
}

func celGoQuoteOf(s string) string {
	var b strings.Builder
	b.WriteString(s)
	for _, e := range goQuoteEscapes {
		fmt.Fprintf(&b, ".replace(%s, %s)", CELString(e[0]), CELString(e[1]))
	}
	return `('"' + ` + b.String() + ` + '"')`
}
