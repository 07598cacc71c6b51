package rules

import (
	"fmt"
	"strings"
)

// paths reads field paths of the object in CEL.
type paths interface {
	// path returns whether p is present and its value (valid only when
	// present), as Path.Lookup decides.
	path(p Path) (present, value string)
	// root is the object.
	root() string
}

// inline reads paths from a root expression, every step checked in place:
// for expressions that cannot share variables (a mutation sees the object
// as the previous mutations left it).
type inline string

func (r inline) root() string { return string(r) }

func (r inline) path(p Path) (present, value string) { return celPath(string(r), p) }

// CELScope reads the object's field paths through policy variables, one per
// container a path runs through (spec, spec.containers, ...): each is the
// container when it has the type the next step needs, else null, computed
// once per request and shared by every rule and condition that reads under
// it. The API server evaluates a policy's variables lazily and at most once
// per request, so a rule set costs about what the same rules written by
// hand do.
type CELScope struct {
	obj    string
	prefix string
	vars   []CELVariable
	names  map[string]string // container key -> variable name
}

// NewCELScope reads the object at root; its variables are named
// prefix0, prefix1, ... (CEL identifiers, unique in the policy).
func NewCELScope(root, prefix string) *CELScope {
	return &CELScope{obj: root, prefix: prefix, names: map[string]string{}}
}

// Variables are the scope's variables in dependency order: declare them in
// the policy before every variable that holds a compiled rule.
func (s *CELScope) Variables() []CELVariable { return s.vars }

func (s *CELScope) root() string { return s.obj }

// path: the container of the last segment, then one step.
func (s *CELScope) path(p Path) (present, value string) {
	if len(p.segs) == 0 {
		return "true", s.obj
	}
	c := s.container(p.segs[:len(p.segs)-1], p.segs[len(p.segs)-1].isIndex())
	last := p.segs[len(p.segs)-1]
	has, get := step(c, last)
	return fmt.Sprintf("(%s != null && %s)", c, has), get
}

// step is whether container c (known to be of the right type) has segment
// seg, and its value.
func step(c string, seg segment) (has, get string) {
	if seg.isIndex() {
		return fmt.Sprintf("size(%s) > %d", c, seg.index), fmt.Sprintf("%s[%d]", c, seg.index)
	}
	k := CELString(seg.key)
	return fmt.Sprintf("%s in %s", k, c), fmt.Sprintf("%s[%s]", c, k)
}

// container returns the variable holding the value at prefix when it is a
// list (list true) or a map, null otherwise.
func (s *CELScope) container(prefix []segment, list bool) string {
	kind := "map"
	if list {
		kind = "list"
	}
	key := Path{segs: prefix}.format() + "|" + kind
	if name, ok := s.names[key]; ok {
		return "variables." + name
	}
	var expr string
	if len(prefix) == 0 {
		expr = fmt.Sprintf("type(%s) == %s ? %s : null", s.obj, kind, s.obj)
	} else {
		parent := s.container(prefix[:len(prefix)-1], prefix[len(prefix)-1].isIndex())
		has, get := step(parent, prefix[len(prefix)-1])
		expr = fmt.Sprintf("(%s != null && %s && type(%s) == %s) ? %s : null", parent, has, get, kind, get)
	}
	name := fmt.Sprintf("%s%d", s.prefix, len(s.vars))
	s.vars = append(s.vars, CELVariable{Name: name, Expression: expr})
	s.names[key] = name
	return "variables." + name
}

// String lists the scope's variables, for tests and debugging.
func (s *CELScope) String() string {
	var b strings.Builder
	for _, v := range s.vars {
		fmt.Fprintf(&b, "%s = %s\n", v.Name, v.Expression)
	}
	return b.String()
}
