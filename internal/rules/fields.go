package rules

// Fields returns the paths the rules and conditions of s read, and whether
// they are all the rules read: false when a field is a template, which may
// read anything. Messages are left out: they are rendered only for rules
// that fail. A caller may therefore evaluate s against an object holding
// just these paths (with their whole values); every rule then passes or
// fails as it does against the whole object, but a failure's message must
// be rendered against the whole object, so evaluate again with it.
func (s *ValidationSet) Fields() (paths []Path, complete bool) {
	if s == nil {
		return nil, true
	}
	complete = true
	add := func(f *field) {
		if f.tmpl != nil {
			complete = false
			return
		}
		if len(f.path.segs) > 0 {
			paths = append(paths, f.path)
		}
	}
	for i := range s.rules {
		r := &s.rules[i]
		add(&r.field)
		for j := range r.when {
			add(&r.when[j].field)
		}
		for j := range r.or {
			add(&r.or[j].field)
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
