package rules

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// PatchOp is one RFC 6902 JSONPatch operation. Patch only emits add and
// replace, always with a non-null value.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// MutationSet is a compiled, ordered list of mutation rules.
type MutationSet struct {
	rules []mutation
}

type mutation struct {
	field field
	gate
	value    any
	override bool // override: always set; default: set when absent or empty
}

// ValueTypes are the valueType names a mutation rule may declare.
var ValueTypes = []string{"string", "integer", "number", "bool", "list", "map"}

// CompileMutation compiles mutation rules; it returns every problem found,
// and a nil set when there is any.
func CompileMutation(rs []katalog.MutationRule) (*MutationSet, []Problem) {
	var c compiler
	set := &MutationSet{rules: make([]mutation, 0, len(rs))}
	for i := range rs {
		r := &rs[i]
		base := fmt.Sprintf("[%d]", i)
		var m mutation
		c.compileField(&m.field, base, r.Field, "K11", false)
		m.gate = c.compileGate(base, r.When, r.Or)

		var v *katalog.Value
		key := "default"
		switch {
		case r.Default == nil && r.Override == nil:
			c.add("K11", base, "neither default nor override; a mutation rule sets a value",
				"default: sets the field when it is absent or empty; override: always sets it")
		case r.Default != nil && r.Override != nil:
			c.add("K11", base+".override", "both default and override; a mutation rule has exactly one",
				"keep default (set when absent or empty) or override (always set)")
		case r.Default != nil:
			v = r.Default
		default:
			v, key, m.override = r.Override, "override", true
		}
		if r.ValueType != "" && !slices.Contains(ValueTypes, r.ValueType) {
			c.add("K11", base+".valueType", fmt.Sprintf("valueType %q is not one of %s", r.ValueType, strings.Join(ValueTypes, ", ")),
				suggest(r.ValueType, ValueTypes))
		} else if v != nil {
			val, err := typed(v.V, r.ValueType)
			if err != nil {
				c.add("K11", base+"."+key, fmt.Sprintf("%s: %v", key, err), "write the value in the declared valueType, or change valueType")
			}
			m.value = val
		}
		set.rules = append(set.rules, m)
	}
	if len(c.probs) > 0 {
		return nil, c.probs
	}
	return set, nil
}

// typed checks x against a valueType ("" accepts any non-null value) and
// returns it in the form the patch carries (integers as int64).
func typed(x any, valueType string) (any, error) {
	if x == nil {
		return nil, errors.New("the value is null; a patch cannot set null")
	}
	ok := true
	switch valueType {
	case "string":
		_, ok = x.(string)
	case "integer":
		f, isNum := number(x)
		if ok = isNum && f == math.Trunc(f) && math.Abs(f) < 1<<53; ok {
			if _, isFloat := x.(float64); isFloat {
				x = int64(f)
			}
		}
	case "number":
		_, ok = number(x)
	case "bool":
		_, ok = x.(bool)
	case "list":
		_, ok = x.([]any)
	case "map":
		_, ok = x.(map[string]any)
	}
	if !ok {
		return nil, fmt.Errorf("%s is not a valid %s", describe(x), valueType)
	}
	return x, nil
}

// Patch returns the JSONPatch that applies the rules to in.Object, creating
// missing parents and omitting no-ops. It does not modify in.Object.
//
// Rules apply in order, each to the object as the previous ones left it. A
// rule whose path runs through a list element that does not exist is
// skipped: mutations never create list elements. A path with [*] applies
// to every element present (spec.containers[*].imagePullPolicy sets it in
// each container; none when the list is absent or empty). A path that runs
// through a scalar (spec.tier.name when spec.tier is a string), or a
// template path that does not render, is an error, and no patch is
// returned.
func (s *MutationSet) Patch(in Input) ([]PatchOp, error) {
	if s == nil {
		return nil, nil
	}
	obj := in.Object
	var ops []PatchOp
	for i := range s.rules {
		m := &s.rules[i]
		cur := in
		cur.Object = obj
		if !m.gate.open(&cur) {
			continue
		}
		p, _, err := m.field.resolve(obj)
		if err != nil {
			return nil, fmt.Errorf("mutation rule %d: %w", i, err)
		}
		paths := []Path{p}
		if p.Wildcard() {
			paths = p.expand(obj)
		}
		for j, p := range paths {
			op, n, err := m.plan(obj, p)
			if err != nil {
				return nil, fmt.Errorf("mutation rule %d: %s: %w", i, p, err)
			}
			if n == 0 {
				continue
			}
			ops = append(ops, op)
			if i < len(s.rules)-1 || j < len(paths)-1 {
				obj = setIn(obj, p.segs[:n], op.Value).(map[string]any)
			}
		}
	}
	return ops, nil
}

// expand lists the concrete paths of a path with [*], one per combination
// of the list elements present in obj, in index order.
func (p Path) expand(obj map[string]any) []Path {
	last := -1
	for i, s := range p.segs {
		if s.isWildcard() {
			last = i
		}
	}
	if last < 0 {
		return []Path{p}
	}
	var out []Path
	Path{segs: p.segs[:last+1]}.Each(obj, func(indexes []int, _ any, present bool) bool {
		if present {
			out = append(out, p.Concrete(indexes))
		}
		return true
	})
	return out
}

// plan returns the operation for one rule and the number of path segments it
// addresses; n == 0 means nothing to do.
func (m *mutation) plan(root map[string]any, p Path) (op PatchOp, n int, err error) {
	var cur any = root
	for i, s := range p.segs {
		var next any
		var present bool
		switch c := cur.(type) {
		case map[string]any:
			if s.isIndex() {
				return op, 0, fmt.Errorf("%s is a map, not a list", Path{segs: p.segs[:i]}.format())
			}
			next, present = c[s.key]
		case []any:
			if !s.isIndex() {
				return op, 0, fmt.Errorf("%s is a list; select an item with [N]", Path{segs: p.segs[:i]}.format())
			}
			if s.index >= len(c) {
				return op, 0, nil // no such item
			}
			next, present = c[s.index], true
		}
		last := i == len(p.segs)-1
		if !present || (next == nil && !last) {
			// Absent, or a null parent: set the rest as one nested value.
			rest := p.segs[i+1:]
			if slices.ContainsFunc(rest, segment.isIndex) {
				return op, 0, nil // would have to create a list item
			}
			op = PatchOp{Op: "add", Path: p.pointer(i + 1), Value: nest(m.value, rest)}
			if present {
				op.Op = "replace"
			}
			return op, i + 1, nil
		}
		if last {
			if (!m.override && !isEmpty(next)) || Equal(next, m.value) {
				return op, 0, nil
			}
			return PatchOp{Op: "replace", Path: p.pointer(i + 1), Value: m.value}, i + 1, nil
		}
		switch next.(type) {
		case map[string]any, []any:
			cur = next
		default:
			return op, 0, fmt.Errorf("%s is a %s; cannot set a field inside it", Path{segs: p.segs[:i+1]}.format(), TypeName(next))
		}
	}
	return op, 0, nil
}

// nest wraps v in one map per key: nest(v, [a b]) is {a: {b: v}}.
func nest(v any, keys []segment) any {
	for i := len(keys) - 1; i >= 0; i-- {
		v = map[string]any{keys[i].key: v}
	}
	return v
}

// setIn returns cur with v at segs, copying the maps and lists on the way
// rather than changing them: the admission object is never modified.
func setIn(cur any, segs []segment, v any) any {
	if len(segs) == 0 {
		return v
	}
	s := segs[0]
	if s.isIndex() {
		l := slices.Clone(cur.([]any))
		l[s.index] = setIn(l[s.index], segs[1:], v)
		return l
	}
	old, _ := cur.(map[string]any)
	m := make(map[string]any, len(old)+1)
	maps.Copy(m, old)
	m[s.key] = setIn(old[s.key], segs[1:], v)
	return m
}
