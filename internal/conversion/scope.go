package conversion

import (
	"slices"

	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// scope is what a preserved entry of a pair of versions may restore: the
// fields the conversions between them actually drop. Converting A -> B and
// back loses only
//
//   - spec fields a template of either route reads (moved) or a mapping of
//     either route sets (a moved field the way back does not rebuild, a field
//     the way back adds or types differently);
//   - fields the schema of a version on either route prunes (undeclared, or
//     null where the schema allows none).
//
// Nothing else can legitimately differ, so nothing else is restored, and
// never apiVersion, kind or metadata: the MAC proves who wrote an
// annotation, the scope bounds what even a genuine one can do (a mapping
// edited since it was written, a bug).
type scope struct {
	roots   [][]string // paths from the root: spec fields moved or set by a leg
	schemas []*node    // of every version the routes pass through; unknown ones omitted
}

// scopeOf is the scope of the pair {a, b}, built from the routes both ways.
func (pl *plan) scopeOf(a, b string) *scope {
	s := &scope{}
	for _, route := range [][]*leg{pl.routes[[2]string{a, b}], pl.routes[[2]string{b, a}]} {
		for _, l := range route {
			for _, m := range l.moved {
				s.addRoot(append([]string{"spec"}, m...))
			}
			for _, t := range l.targets {
				s.addRoot(append([]string{"spec"}, t.path...))
			}
			if l.schema != nil && !slices.Contains(s.schemas, l.schema) {
				s.schemas = append(s.schemas, l.schema)
			}
		}
	}
	return s
}

func (s *scope) addRoot(p []string) {
	if !slices.ContainsFunc(s.roots, func(r []string) bool { return slices.Equal(r, p) }) {
		s.roots = append(s.roots, p)
	}
}

// allows reports whether restoring f changes the object only where the
// scope says it may.
func (s *scope) allows(f fieldOp) bool {
	if len(f.Path) == 0 || metaFields[f.Path[0]] {
		return false
	}
	return s.change(slices.Clip(f.Path), f.Base, f.HasBase, f.Value, f.HasValue)
}

// change reports whether replacing old by new at path (either may be
// absent) stays inside the scope: the whole subtree when path itself is
// dropped, else each difference below it.
func (s *scope) change(path []string, old any, hasOld bool, new any, hasNew bool) bool {
	if hasOld == hasNew && (!hasOld || rules.Equal(old, new)) {
		return true
	}
	if s.under(path) || s.pruned(path, (hasOld && old == nil) || (hasNew && new == nil)) {
		return true
	}
	om, oldMap := old.(map[string]any)
	nm, newMap := new.(map[string]any)
	if (hasOld && !oldMap) || (hasNew && !newMap) {
		// A scalar or list here: only lists of one length can differ in
		// their elements alone.
		ol, oldList := old.([]any)
		nl, newList := new.([]any)
		if !hasOld || !hasNew || !oldList || !newList || len(ol) != len(nl) {
			return false
		}
		item := append(path, itemStep)
		for i := range ol {
			if !s.change(item, ol[i], true, nl[i], true) {
				return false
			}
		}
		return true
	}
	if len(om) == 0 && len(nm) == 0 {
		// An empty object added or removed: the parent of a dropped field.
		return s.above(path)
	}
	for k, ov := range om {
		nv, ok := nm[k]
		if !s.change(append(path[:len(path):len(path)], k), ov, true, nv, ok) {
			return false
		}
	}
	for k, nv := range nm {
		if _, ok := om[k]; !ok && !s.change(append(path[:len(path):len(path)], k), nil, false, nv, true) {
			return false
		}
	}
	return true
}

// under reports whether path is a root or below one.
func (s *scope) under(path []string) bool {
	for _, r := range s.roots {
		if len(path) >= len(r) && slices.Equal(path[:len(r)], r) {
			return true
		}
	}
	return false
}

// above reports whether path is a parent of a root: a move removes the
// parents it leaves empty.
func (s *scope) above(path []string) bool {
	for _, r := range s.roots {
		if len(path) < len(r) && slices.Equal(r[:len(path)], path) {
			return true
		}
	}
	return false
}

// pruned reports whether a schema of the scope drops a value at path: a
// probe object holding only that value (null when null is what differs) is
// pruned exactly as conversion prunes, and the value checked for.
func (s *scope) pruned(path []string, null bool) bool {
	for _, sch := range s.schemas {
		var leaf any = true
		if null {
			leaf = nil
		}
		for i := len(path) - 1; i >= 1; i-- {
			if path[i] == itemStep {
				leaf = []any{leaf}
			} else {
				leaf = map[string]any{path[i]: leaf}
			}
		}
		probe := map[string]any{path[0]: leaf}
		prune(probe, sch)
		if !holds(probe, path) {
			return true
		}
	}
	return false
}

// itemStep stands for "an element of the list" in a path. Keys decoded
// from JSON are valid UTF-8, so no key is ever equal to it.
const itemStep = "\xff[]"

// holds reports whether obj still has a value at path (itemStep: the first
// element of a list).
func holds(obj map[string]any, path []string) bool {
	var cur any = obj
	for _, k := range path {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[k]
			if !ok {
				return false
			}
			cur = v
		case []any:
			if k != itemStep || len(x) == 0 {
				return false
			}
			cur = x[0]
		default:
			return false
		}
	}
	return true
}
