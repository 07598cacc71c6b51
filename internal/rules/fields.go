package rules

// Fields returns the paths of the object the rules and conditions of s
// read, and whether they are all the rules read: false when a field or an
// operand is a template, which may read anything, or a condition reads the
// old object. A path with [*] is given up to its list (spec.containers for
// spec.containers[*].image). Conditions on the request read no object.
// Messages are left out: they are rendered only for rules that fail. A
// caller may therefore evaluate s against an object holding just these
// paths (with their whole values) and the request; every rule then passes
// or fails as it does against the whole object, but a failure's message
// must be rendered against the whole object, so evaluate again with it.
func (s *ValidationSet) Fields() (paths []Path, complete bool) {
	if s == nil {
		return nil, true
	}
	complete = true
	add := func(t *test) {
		f := &t.field
		switch {
		case f.tmpl != nil || f.root == rootOldObject:
			complete = false
			return
		case f.root == rootRequest:
		case len(f.path.segs) > 0:
			paths = append(paths, f.path.beforeWildcard())
		}
		switch {
		case t.opField != nil:
			p := Path{segs: make([]segment, len(t.opField))}
			for i, k := range t.opField {
				p.segs[i] = segment{key: k, index: -1}
			}
			p.text = p.format()
			paths = append(paths, p)
		case t.opTmpl != nil:
			complete = false
		}
	}
	for i := range s.rules {
		r := &s.rules[i]
		if r.expr != nil {
			continue
		}
		add(&r.test)
		for j := range r.when {
			add(&r.when[j])
		}
		for j := range r.or {
			add(&r.or[j])
		}
	}
	return paths, complete
}

// Segment returns the i-th segment of p (0 <= i < p.Len()): a map key, or
// a list index when index >= 0.
func (p Path) Segment(i int) (key string, index int) {
	s := p.segs[i]
	return s.key, s.index
}
