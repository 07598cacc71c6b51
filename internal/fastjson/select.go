package fastjson

import "strconv"

// Selection is a set of paths into a JSON object (map keys and list
// indexes). DecodeSelected builds only what lies on them, which is what a
// rule set reading a handful of fields needs from an object of kilobytes.
type Selection struct {
	keys  map[string]*Selection
	index map[int]*Selection
	whole bool // decode the whole value here
}

// NewSelection returns an empty selection.
func NewSelection() *Selection { return &Selection{} }

// Segment is one step of a path: a map key, or a list index when Index >= 0.
type Segment struct {
	Key   string
	Index int
}

// Add selects the value at path, with everything below it.
func (s *Selection) Add(path []Segment) {
	cur := s
	for _, seg := range path {
		if cur.whole {
			return // an ancestor is already decoded whole
		}
		var next *Selection
		if seg.Index >= 0 {
			if cur.index == nil {
				cur.index = map[int]*Selection{}
			}
			if next = cur.index[seg.Index]; next == nil {
				next = &Selection{}
				cur.index[seg.Index] = next
			}
		} else {
			if cur.keys == nil {
				cur.keys = map[string]*Selection{}
			}
			if next = cur.keys[seg.Key]; next == nil {
				next = &Selection{}
				cur.keys[seg.Key] = next
			}
		}
		cur = next
	}
	cur.whole, cur.keys, cur.index = true, nil, nil
}

// DecodeSelected decodes data, a JSON object, keeping only the selected
// values: every map on a selected path holds exactly the selected keys the
// object has, every list on one has its full length (unselected items are
// nil), and every selected value is decoded whole. Looking up a selected
// path therefore gives what it gives in the whole object.
//
// ok is false exactly when json.Unmarshal of data into a map[string]any
// would fail, or for a document this package leaves to encoding/json; the
// unselected parts are validated (numbers out of float64 range included),
// not built.
func DecodeSelected(data []byte, sel *Selection) (m map[string]any, ok bool) {
	d := NewDecoder(data)
	d.checkRange = true
	if d.Peek() != '{' {
		return nil, false
	}
	m, _ = d.selected(sel).(map[string]any)
	if !d.End() {
		return nil, false
	}
	return m, true
}

func (d *Decoder) selected(sel *Selection) any {
	switch c := d.Peek(); {
	case sel.whole:
		return d.Value()
	case c == '{' && sel.keys != nil:
		d.Object()
		out := map[string]any{}
		var started bool
		for {
			k, more := d.Member(&started)
			if !more {
				break
			}
			if next := sel.keys[string(k)]; next != nil {
				out[string(k)] = d.selected(next)
			} else {
				d.skip()
			}
		}
		if d.failed {
			return nil
		}
		return out
	case c == '[' && sel.index != nil:
		d.Array()
		out := []any{}
		var started bool
		for i := 0; d.Element(&started); i++ {
			if next := sel.index[i]; next != nil {
				out = append(out, d.selected(next))
			} else {
				d.skip()
				out = append(out, nil)
			}
		}
		if d.failed {
			return nil
		}
		return out
	case c == '{' || c == '[':
		// A map where a list is selected, or the reverse: nothing below
		// is selected, the value itself is still there.
		d.skip()
		if c == '{' {
			return map[string]any{}
		}
		return []any{}
	}
	return d.Value() // a scalar where a path goes on: the path is absent
}

// rangeOK reports whether a number token decodes to a float64 without
// error, as encoding/json requires of every number it decodes into an any.
// Only a number with an exponent or of more than 300 bytes can fail.
func rangeOK(lit []byte) bool {
	if len(lit) <= 300 {
		exp := false
		for _, c := range lit {
			if c == 'e' || c == 'E' {
				exp = true
				break
			}
		}
		if !exp {
			return true
		}
	}
	_, err := strconv.ParseFloat(string(lit), 64)
	return err == nil
}
