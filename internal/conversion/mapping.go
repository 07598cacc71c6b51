package conversion

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"text/template/parse"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
	"github.com/orkspace/orkestra-gateway/internal/tmpl"
)

// target is one compiled entry of a path's spec mapping.
type target struct {
	path   []string // below spec
	name   string   // spec.a.b, for messages
	static any      // the value when tmpl is nil
	tmpl   *tmpl.Template
	// typed is set when the template is one action (white space around it
	// aside): it prints the action's value as JSON, so the value keeps its
	// type. Nil for templates that mix text and actions: they give strings.
	typed *tmpl.Template
	// field is set when that one action only reads a field ({{ .spec.size }}):
	// the value is then looked up directly, without running the template.
	field  []string
	schema *node // of the target field; nil when unknown
}

// leg converts between two versions in one step: a declared path, or the
// identity (apiVersion only) when none is declared.
type leg struct {
	from, to string
	targets  []target
	// moved are the spec fields the templates read, relative to spec; they are
	// not carried over. An empty path means the whole spec.
	moved  [][]string
	schema *node // of the target version; nil when unknown
}

func (l *leg) String() string { return l.from + " -> " + l.to }

// compileLeg compiles a declared path. The check pass has validated it; the
// errors here keep a Policy built some other way from panicking.
func compileLeg(p policy.ConversionPath, toSchema *node) (*leg, error) {
	l := &leg{from: p.From, to: p.To, schema: toSchema}
	flat := map[string]any{}
	if err := flatten(p.Spec, nil, flat); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(flat))
	for n := range flat {
		names = append(names, n)
	}
	sort.Strings(names)
	for i := 0; i+1 < len(names); i++ {
		if strings.HasPrefix(names[i+1], names[i]+".") {
			return nil, fmt.Errorf("spec.%s is inside spec.%s, which is mapped to a value", names[i+1], names[i])
		}
	}
	moved := map[string][]string{}
	for _, n := range names {
		path := strings.Split(n, ".")
		t := target{path: path, name: "spec." + n, static: flat[n]}
		if s, ok := flat[n].(string); ok && strings.Contains(s, "{{") {
			if err := t.compile(s); err != nil {
				return nil, err
			}
			for _, chain := range rules.FieldRefs(t.tmpl.Tree.Root) {
				if len(chain) > 0 && chain[0] == "spec" {
					moved[strings.Join(chain[1:], "\x00")] = chain[1:]
				}
			}
			t.schema = toSchema.at(append([]string{"spec"}, path...))
		}
		l.targets = append(l.targets, t)
	}
	if _, ok := moved[""]; ok {
		l.moved = [][]string{{}}
	} else {
		keys := make([]string, 0, len(moved))
		for k := range moved {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			l.moved = append(l.moved, moved[k])
		}
	}
	return l, nil
}

// flatten turns a mapping into dot paths: nested maps are always paths,
// never static object values.
func flatten(m map[string]any, prefix []string, out map[string]any) error {
	for k, v := range m {
		if k == "" || strings.Contains(k, "..") || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") {
			return fmt.Errorf("target field %q is not a dot path of field names", strings.Join(append(prefix, k), "."))
		}
		path := append(append([]string(nil), prefix...), strings.Split(k, ".")...)
		if sub, ok := v.(map[string]any); ok {
			if err := flatten(sub, path, out); err != nil {
				return err
			}
			continue
		}
		name := strings.Join(path, ".")
		if _, dup := out[name]; dup {
			return fmt.Errorf("target field spec.%s is mapped twice", name)
		}
		out[name] = v
	}
	return nil
}

func (t *target) compile(text string) error {
	var err error
	if t.tmpl, err = rules.ParseTemplate(t.name, text); err != nil {
		return fmt.Errorf("mapping %s: %w", t.name, err)
	}
	// A second, private parse: its tree is edited to print JSON.
	typed, err := rules.ParseTemplate(t.name, text)
	if err != nil {
		return fmt.Errorf("mapping %s: %w", t.name, err)
	}
	act := rules.SingleAction(typed)
	if act == nil {
		return nil
	}
	cmds := act.Pipe.Cmds
	if appendsToString() && len(cmds) > 1 && isIdent(cmds[len(cmds)-1], "toString") {
		cmds = cmds[:len(cmds)-1] // what ParseTemplate appended
	}
	if len(cmds) == 1 && len(cmds[0].Args) == 1 {
		switch n := cmds[0].Args[0].(type) {
		case *parse.FieldNode:
			t.field = n.Ident
		case *parse.VariableNode:
			if len(n.Ident) > 1 && n.Ident[0] == "$" {
				t.field = n.Ident[1:]
			}
		}
	}
	toJSON := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: act.Pipe.Pos,
		Args: []parse.Node{parse.NewIdentifier("toJSON").SetTree(typed.Tree).SetPos(act.Pipe.Pos)}}
	act.Pipe.Cmds = append(cmds[:len(cmds):len(cmds)], toJSON)
	t.typed = typed
	return nil
}

func isIdent(c *parse.CommandNode, name string) bool {
	if len(c.Args) != 1 {
		return false
	}
	id, ok := c.Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == name
}

// appendsToString reports whether rules.ParseTemplate appends "| toString"
// to printing actions (it does today); probed once rather than assumed.
var appendsToString = sync.OnceValue(func() bool {
	t, err := rules.ParseTemplate("probe", "{{ 1 }}")
	if err != nil {
		return false
	}
	act := rules.SingleAction(t)
	return act != nil && len(act.Pipe.Cmds) == 2 && isIdent(act.Pipe.Cmds[1], "toString")
})

// value computes the target's value from the source object. For a
// template, nil means "nothing to set" (it read a missing field).
func (t *target) value(src map[string]any) (any, error) {
	if t.tmpl == nil {
		return deepCopy(t.static), nil
	}
	if t.field != nil {
		v, err := fastField(src, t.field)
		return deepCopy(v), err
	}
	var b strings.Builder
	if t.typed != nil {
		if err := t.typed.Execute(&b, src); err != nil {
			return nil, err
		}
		v, err := decodeValue([]byte(b.String()))
		if err != nil { // toJSON prints JSON: cannot happen
			return nil, fmt.Errorf("template value is not JSON: %v", err)
		}
		return v, nil
	}
	if err := t.tmpl.Execute(&b, src); err != nil {
		return nil, err
	}
	return b.String(), nil
}

// fastField looks a field chain up as text/template would with
// missingkey=default: a missing key gives nil. A step through null or a
// scalar, which the template fails on, is an error naming the field.
func fastField(m map[string]any, chain []string) (any, error) {
	var cur any = m
	for i, k := range chain {
		mm, isMap := cur.(map[string]any)
		if !isMap {
			return nil, fmt.Errorf("reading .%s: %s is %s, not an object", dotted(chain), dotted(chain[:i]), article(cur))
		}
		v, ok := mm[k]
		if !ok {
			return nil, nil
		}
		cur = v
	}
	return cur, nil
}

// article names a value's type with its article: "a string", "null".
func article(v any) string {
	switch n := typeName(v); n {
	case "null":
		return n
	case "object":
		return "an object"
	default:
		return "a " + n
	}
}

// apply converts src (at l.from) to l.to; src is not modified.
func (l *leg) apply(src map[string]any, apiVersion string) (map[string]any, error) {
	out := copyMap(src)
	out["apiVersion"] = apiVersion
	if len(l.targets) > 0 {
		if err := l.mapSpec(src, out); err != nil {
			return nil, err
		}
	}
	prune(out, l.schema)
	return out, nil
}

func (l *leg) mapSpec(src, out map[string]any) error {
	spec, isMap := out["spec"].(map[string]any)
	if !isMap && out["spec"] != nil {
		return fmt.Errorf("spec is a %s, not an object", typeName(out["spec"]))
	}
	for _, m := range l.moved {
		if spec == nil {
			break
		}
		if len(m) == 0 {
			clear(spec)
			break
		}
		remove(out, append([]string{"spec"}, m...))
	}
	for i := range l.targets {
		t := &l.targets[i]
		v, err := t.value(src)
		if err != nil {
			return fmt.Errorf("mapping %s: %v", t.name, err)
		}
		if t.tmpl != nil {
			if v == nil {
				continue // it read a missing field: nothing to set
			}
			if v, err = coerce(v, t.schema); err != nil {
				return fmt.Errorf("mapping %s: the template gives %v as the %s schema declares", t.name, err, l.to)
			}
		}
		if err := set(out, append([]string{"spec"}, t.path...), v); err != nil {
			return fmt.Errorf("mapping %s: %v", t.name, err)
		}
	}
	return nil
}
