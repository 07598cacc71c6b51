package rules

import (
	"fmt"
	"strings"
)

// paths reads field paths in CEL: of the object, the old object and the
// request, as conditions see them.
type paths interface {
	// at is the CEL expression of what a path of root r reads: the
	// object, the old object (null on CREATE), or the request's operation
	// and userInfo shaped as the webhook engine shapes them (requestData).
	at(r root) string
	// path returns whether p (relative to root r) is present and its value
	// (valid only when present), as Path.Lookup decides.
	path(r root, p Path) (present, value string)
	// shared is an expression with the value of expr, which reads nothing
	// but object, oldObject, request and variables: a policy variable
	// (computed once per request, when first read) where there are
	// variables, expr itself where not.
	shared(expr string) string
}

// celRequestData is requestData in CEL: a map of the request's operation
// and userInfo, with uid and extra only when set (the request's JSON omits
// them when empty, and reading an absent field is an error).
var celRequestData = func() string {
	u := "request.userInfo"
	base := fmt.Sprintf("'username': dyn(has(%s.username) ? %s.username : ''), 'groups': dyn(has(%s.groups) ? %s.groups : [])", u, u, u, u)
	uid := fmt.Sprintf("'uid': dyn(%s.uid)", u)
	extra := fmt.Sprintf("'extra': dyn(%s.extra)", u)
	hasUID := fmt.Sprintf("(has(%s.uid) && %s.uid != '')", u, u)
	hasExtra := fmt.Sprintf("has(%s.extra)", u)
	user := fmt.Sprintf("(%s ? (%s ? {%s, %s, %s} : {%s, %s}) : (%s ? {%s, %s} : {%s}))",
		hasUID, hasExtra, base, uid, extra, base, uid, hasExtra, base, extra, base)
	return fmt.Sprintf("{'operation': dyn(request.operation), 'userInfo': dyn(%s)}", user)
}()

// inline reads paths from root expressions, every step checked in place:
// for expressions that cannot share variables (a mutation sees the object
// as the previous mutations left it).
type inline string

func (r inline) at(ro root) string {
	switch ro {
	case rootOldObject:
		return "oldObject"
	case rootRequest:
		return celRequestData
	}
	return string(r)
}

func (r inline) path(ro root, p Path) (present, value string) { return celPath(r.at(ro), p) }

func (r inline) shared(expr string) string { return "(" + expr + ")" }

// CELScope reads field paths through policy variables, one per container
// a path runs through (spec, spec.containers, ...): each is the container
// when it has the type the next step needs, else null, computed once per
// request and shared by every rule and condition that reads under it. The
// API server evaluates a policy's variables lazily and at most once per
// request, so a rule set costs about what the same rules written by hand
// do.
type CELScope struct {
	obj    string
	prefix string
	vars   []CELVariable
	names  map[string]string // root, container path and kind -> variable name
}

// NewCELScope reads the object at root (an expression: object, or a
// variable holding the object under admission); its variables are named
// prefix0, prefix1, ... and prefixreq (CEL identifiers, unique in the
// policy).
func NewCELScope(root, prefix string) *CELScope {
	return &CELScope{obj: root, prefix: prefix, names: map[string]string{}}
}

// Variables are the scope's variables in dependency order: declare them in
// the policy before every variable that holds a compiled rule.
func (s *CELScope) Variables() []CELVariable { return s.vars }

func (s *CELScope) at(r root) string {
	switch r {
	case rootOldObject:
		return "oldObject"
	case rootRequest:
		key := "request"
		if name, ok := s.names[key]; ok {
			return "variables." + name
		}
		name := s.prefix + "req"
		s.vars = append(s.vars, CELVariable{Name: name, Expression: celRequestData})
		s.names[key] = name
		return "variables." + name
	}
	return s.obj
}

func (s *CELScope) shared(expr string) string {
	key := "expr|" + expr
	if name, ok := s.names[key]; ok {
		return "variables." + name
	}
	name := fmt.Sprintf("%s%d", s.prefix, len(s.vars))
	s.vars = append(s.vars, CELVariable{Name: name, Expression: expr})
	s.names[key] = name
	return "variables." + name
}

// path: the container of the last segment, then one step.
func (s *CELScope) path(r root, p Path) (present, value string) {
	if len(p.segs) == 0 {
		return "true", s.at(r)
	}
	c := s.container(r, p.segs[:len(p.segs)-1], p.segs[len(p.segs)-1].isIndex())
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

// container returns the variable holding the value at prefix (under root
// r) when it is a list (list true) or a map, null otherwise.
func (s *CELScope) container(r root, prefix []segment, list bool) string {
	kind := "map"
	if list {
		kind = "list"
	}
	key := r.String() + "|" + Path{segs: prefix}.format() + "|" + kind
	if name, ok := s.names[key]; ok {
		return "variables." + name
	}
	var expr string
	if len(prefix) == 0 {
		// dyn: a typed root (the request's map) and null have no common type.
		root := "dyn(" + s.at(r) + ")"
		expr = fmt.Sprintf("type(%s) == %s ? %s : null", root, kind, root)
	} else {
		parent := s.container(r, prefix[:len(prefix)-1], prefix[len(prefix)-1].isIndex())
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
