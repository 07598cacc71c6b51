package conversion

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// PreservedAnnotation holds what a conversion could not carry to the target
// version, so that converting back restores the original exactly.
//
// Its value is a sealed JSON stack of entries, the newest last (see seal.go
// for the seal):
//
//	{"mac":"...","stack":[{"from":"v1","to":"v2","fields":[
//	  {"path":["spec","legacy"],"value":"x"},            set on the way back
//	  {"path":["spec","tier"],"base":"gold"},             removed on the way back
//	  {"path":["spec","name"],"value":"a","base":"a b"}]}]}
//
// An entry is pushed by a conversion from -> to whose way back (to -> from)
// would not reproduce the source; it is popped, and its fields applied, by
// that way back. A field is applied only where the way back still produces
// base (absent base: nothing), so an edit made at the other version wins
// over the preserved value; and only inside the scope of the two versions
// (see scope), never in apiVersion, kind or metadata.
const PreservedAnnotation = "conversion.orkestra.orkspace.io/preserved"

// defaultMaxPreservedBytes bounds the annotation's value. Kubernetes allows
// 256 KiB for all annotations of an object together.
const defaultMaxPreservedBytes = 32 << 10

// entry is one conversion's preserved fields.
type entry struct {
	From   string
	To     string
	Fields []fieldOp
}

// fieldOp restores one field. Without a value it removes the field.
type fieldOp struct {
	Path     []string
	Value    any
	HasValue bool
	Base     any
	HasBase  bool
}

type wireEntry struct {
	From   string      `json:"from"`
	To     string      `json:"to"`
	Fields []wireField `json:"fields"`
}

type wireField struct {
	Path  []string        `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
	Base  json.RawMessage `json:"base,omitempty"`
}

// encodeValue encodes an object value (see value.go).
func encodeValue(v any) ([]byte, error) { return appendJSON(nil, v) }

// marshal encodes a Go value without HTML escaping, so values read as written.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func (f fieldOp) wire() (wireField, error) {
	w := wireField{Path: f.Path}
	var err error
	if f.HasValue {
		if w.Value, err = encodeValue(f.Value); err != nil {
			return w, err
		}
	}
	if f.HasBase {
		if w.Base, err = encodeValue(f.Base); err != nil {
			return w, err
		}
	}
	return w, nil
}

func encodeStack(stack []entry) ([]byte, error) {
	out := make([]wireEntry, len(stack))
	for i, e := range stack {
		out[i] = wireEntry{From: e.From, To: e.To, Fields: make([]wireField, len(e.Fields))}
		for j, f := range e.Fields {
			w, err := f.wire()
			if err != nil {
				return nil, err
			}
			out[i].Fields[j] = w
		}
	}
	return marshal(out)
}

func decodeStack(s string) ([]entry, error) {
	var in []wireEntry
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("unexpected data after the JSON value")
	}
	stack := make([]entry, len(in))
	for i, w := range in {
		if w.From == "" || w.To == "" {
			return nil, fmt.Errorf("entry %d has no from or to version", i)
		}
		e := entry{From: w.From, To: w.To, Fields: make([]fieldOp, len(w.Fields))}
		for j, wf := range w.Fields {
			if len(wf.Path) == 0 {
				return nil, fmt.Errorf("entry %d, field %d has an empty path", i, j)
			}
			f := fieldOp{Path: wf.Path}
			var err error
			if len(wf.Value) > 0 {
				f.HasValue = true
				if f.Value, err = decodeValue(wf.Value); err != nil {
					return nil, fmt.Errorf("entry %d, field %d: %v", i, j, err)
				}
			}
			if len(wf.Base) > 0 {
				f.HasBase = true
				if f.Base, err = decodeValue(wf.Base); err != nil {
					return nil, fmt.Errorf("entry %d, field %d: %v", i, j, err)
				}
			}
			e.Fields[j] = f
		}
		stack[i] = e
	}
	return stack, nil
}

// takeStack removes the annotation from obj and unseals it with key for
// id. obj's metadata and annotations maps are replaced by copies, so the
// caller's maps are not modified. err (an *unsealError) reports an
// annotation that is ignored: malformed, or not authenticated for this
// object; the stack is then empty.
func takeStack(obj map[string]any, key []byte, id identity) (stack []entry, err error) {
	meta, _ := obj["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	raw, ok := ann[PreservedAnnotation]
	if !ok {
		return nil, nil
	}
	meta = shallow(meta)
	ann = shallow(ann)
	delete(ann, PreservedAnnotation)
	// Undo what putStack created: the API server never sends empty maps here
	// (the fields are omitempty).
	if len(ann) == 0 {
		delete(meta, "annotations")
	} else {
		meta["annotations"] = ann
	}
	if len(meta) == 0 {
		delete(obj, "metadata")
	} else {
		obj["metadata"] = meta
	}
	s, ok := raw.(string)
	if !ok {
		return nil, &unsealError{reasonMalformed, fmt.Errorf("the value is a %s, not a string", typeName(raw))}
	}
	return unseal(s, key, id)
}

func shallow(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// putStack stores the encoded stack in obj's annotations; an empty stack
// stores nothing. obj's metadata and annotations are the converter's own.
func putStack(obj map[string]any, value []byte) error {
	if len(value) == 0 {
		return nil
	}
	meta, isMap := obj["metadata"].(map[string]any)
	switch {
	case obj["metadata"] == nil:
		meta = map[string]any{}
		obj["metadata"] = meta
	case !isMap:
		return fmt.Errorf("metadata is a %s, not an object", typeName(obj["metadata"]))
	}
	ann, isMap := meta["annotations"].(map[string]any)
	switch {
	case meta["annotations"] == nil:
		ann = map[string]any{}
		meta["annotations"] = ann
	case !isMap:
		return fmt.Errorf("metadata.annotations is a %s, not an object", typeName(meta["annotations"]))
	}
	ann[PreservedAnnotation] = string(value)
	return nil
}

// diff lists what turns have into want, in key order. path is the
// position of want and have; it is copied into each field, never kept.
func diff(want, have map[string]any, path []string, out []fieldOp) []fieldOp {
	if len(want) == len(have) && sameEntries(want, have) {
		return out // the common case, without sorting keys
	}
	keys := make([]string, 0, len(want)+len(have))
	for k := range want {
		keys = append(keys, k)
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = diffKey(want, have, path, k, out)
	}
	return out
}

// sameEntries reports whether every entry of want is in have, equal.
func sameEntries(want, have map[string]any) bool {
	for k, w := range want {
		h, ok := have[k]
		if !ok || !rules.Equal(w, h) {
			return false
		}
	}
	return true
}

func diffKey(want, have map[string]any, path []string, k string, out []fieldOp) []fieldOp {
	w, inWant := want[k]
	h, inHave := have[k]
	at := func() []string { return append(append(make([]string, 0, len(path)+1), path...), k) }
	switch {
	case !inHave:
		return append(out, fieldOp{Path: at(), Value: deepCopy(w), HasValue: true})
	case !inWant:
		return append(out, fieldOp{Path: at(), Base: deepCopy(h), HasBase: true})
	}
	wm, wIsMap := w.(map[string]any)
	hm, hIsMap := h.(map[string]any)
	switch {
	case wIsMap && hIsMap:
		return diff(wm, hm, append(path, k), out)
	case !rules.Equal(w, h):
		return append(out, fieldOp{Path: at(), Value: deepCopy(w), HasValue: true, Base: deepCopy(h), HasBase: true})
	}
	return out
}

// restore applies fields to obj where obj still holds their base, and
// returns those it refused: outside the scope.
func restore(obj map[string]any, fields []fieldOp, sc *scope) (refused []fieldOp) {
	for _, f := range fields {
		if !sc.allows(f) {
			refused = append(refused, f)
			continue
		}
		cur, ok := lookup(obj, f.Path)
		if ok != f.HasBase || (ok && !rules.Equal(cur, f.Base)) {
			continue // changed at the other version since: the change wins
		}
		if f.HasValue {
			_ = set(obj, f.Path, deepCopy(f.Value)) // a parent edited into a scalar: the edit wins
			continue
		}
		parent, _ := lookup(obj, f.Path[:len(f.Path)-1])
		if m, isMap := parent.(map[string]any); isMap {
			delete(m, f.Path[len(f.Path)-1])
		}
	}
	return refused
}

// bound encodes stack within max bytes, dropping what does not fit: the
// largest fields of the newest entry first, then the next entry's. It
// returns the encoding (nil for an empty stack) and the dropped fields.
func bound(stack []entry, max int) (encoded []byte, dropped []fieldOp, err error) {
	for len(stack) > 0 {
		encoded, err = encodeStack(stack)
		if err != nil {
			return nil, dropped, err
		}
		excess := len(encoded) - max
		if excess <= 0 {
			return encoded, dropped, nil
		}
		newest := &stack[len(stack)-1]
		order := make([]int, len(newest.Fields))
		size := make([]int, len(newest.Fields))
		for i, f := range newest.Fields {
			w, err := f.wire()
			if err != nil {
				return nil, dropped, err
			}
			b, err := marshal(w)
			if err != nil {
				return nil, dropped, err
			}
			order[i], size[i] = i, len(b)+1 // and its comma
		}
		sort.SliceStable(order, func(a, b int) bool { return size[order[a]] > size[order[b]] })
		drop := make([]bool, len(newest.Fields))
		for _, i := range order {
			if excess <= 0 {
				break
			}
			drop[i] = true
			excess -= size[i]
		}
		var keep []fieldOp
		for i, f := range newest.Fields {
			if drop[i] {
				dropped = append(dropped, f)
			} else {
				keep = append(keep, f)
			}
		}
		if len(keep) == 0 {
			stack = stack[:len(stack)-1]
		} else {
			newest.Fields = keep
		}
	}
	return nil, dropped, nil
}
