package katalog

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

const (
	// maxDepth bounds nesting: a Katalog is about ten levels deep, so
	// anything far beyond is hostile or a mistake, and recursion stays small.
	maxDepth = 64
	// maxErrors bounds the report (and the work) on garbage input.
	maxErrors = 100
	// maxNodes bounds the work on huge input: a real Katalog has a few
	// thousand values and must fit in a 1 MiB ConfigMap.
	maxNodes = 1 << 18
)

// YAML tags as yaml.v3 resolves them (Node.ShortTag).
const (
	tagStr       = "!!str"
	tagInt       = "!!int"
	tagFloat     = "!!float"
	tagBool      = "!!bool"
	tagNull      = "!!null"
	tagTimestamp = "!!timestamp"
	tagMerge     = "!!merge"
	tagMap       = "!!map"
	tagSeq       = "!!seq"
)

// decoder fills the Katalog structs from a yaml.Node tree, driven by the
// `yaml` struct tags. It reports every problem and goes on with the rest of
// the tree, and records the position of every key and list item.
type decoder struct {
	file string
	// what the document is, for messages ("Katalog" when empty).
	what    string
	start   string // how a document of this kind starts, for an empty file
	pos     map[string]Pos
	errs    []*SchemaError
	nodes   int  // nodes visited
	stopped bool // too many errors or nodes: stop decoding
}

func (d *decoder) docName() string {
	if d.what == "" {
		return "Katalog"
	}
	return d.what
}

func posOf(n *yaml.Node) Pos { return Pos{Line: max(n.Line, 1), Column: max(n.Column, 1)} }

func (d *decoder) failAt(p Pos, field, hint, format string, args ...any) {
	if d.stopped {
		return
	}
	if len(d.errs) == maxErrors {
		d.errs = append(d.errs, &SchemaError{File: d.file, Pos: p, Field: field, Msg: "too many errors; stopping"})
		d.stopped = true
		return
	}
	d.errs = append(d.errs, &SchemaError{File: d.file, Pos: p, Field: field, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func (d *decoder) fail(n *yaml.Node, field, hint, format string, args ...any) {
	d.failAt(posOf(n), field, hint, format, args...)
}

var valueType = reflect.TypeFor[*Value]()

// decode fills v from n and reports whether n had a usable shape.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, depth int) bool {
	if d.stopped || !d.usable(n, path, depth) {
		return false
	}
	return d.into(n, v, path, depth)
}

// into decodes a usable node; a pointer is only set when its target decoded.
func (d *decoder) into(n *yaml.Node, v reflect.Value, path string, depth int) bool {
	if v.Type() == valueType {
		// Present, even when null or partly wrong: its problems are reported.
		v.Set(reflect.ValueOf(&Value{V: d.valueOf(n, path, depth)}))
		return true
	}
	if isNull(n) {
		// null is "absent" for scalars and lists, but a written block with
		// nothing in it is still a block: its defaults apply.
		if v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.Struct {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return true
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if !d.into(n, p.Elem(), path, depth) {
			return false
		}
		v.Set(p)
		return true
	case reflect.Struct:
		return d.structure(n, v, path, depth)
	case reflect.Map:
		return d.mapping(n, v, path, depth)
	case reflect.Slice:
		return d.sequence(n, v, path, depth)
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Int32:
		return d.scalar(n, v, path)
	}
	d.fail(n, path, "", "%s: cannot decode into %s", d.subject(path), v.Type())
	return false
}

// usable rejects aliases (no expansion, so no billion laughs), unsupported
// tags and excessive nesting.
func (d *decoder) usable(n *yaml.Node, path string, depth int) bool {
	if d.nodes++; d.nodes > maxNodes {
		d.fail(n, path, "", "more than %d values; stopping", maxNodes)
		d.stopped = true
		return false
	}
	if depth > maxDepth {
		d.fail(n, path, "", "%s: nested deeper than %d levels", d.subject(path), maxDepth)
		return false
	}
	if n.Kind == yaml.AliasNode {
		d.fail(n, path, "repeat the value instead of referring to an anchor", "%s: YAML aliases (*%s) are not supported", d.subject(path), clip(n.Value))
		return false
	}
	switch tag := n.ShortTag(); tag {
	case tagStr, tagInt, tagFloat, tagBool, tagNull, tagTimestamp, tagMerge, tagMap, tagSeq:
		return true
	default:
		d.fail(n, path, "", "%s: unsupported YAML tag %s", d.subject(path), clip(tag))
		return false
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string, depth int) bool {
	if n.Kind != yaml.MappingNode {
		if v.Type() == reflect.TypeFor[SecretRef]() && n.Kind == yaml.ScalarNode {
			// Most likely the secret itself: don't repeat it in logs.
			d.fail(n, path, "name where the secret is: {env: VARIABLE} or {file: /path}",
				"%s: expected a mapping, got a string (not shown: it may be a secret)", d.subject(path))
			return false
		}
		d.wrongType(n, path, "a mapping", "")
		return false
	}
	fields := fieldsOf(v.Type())
	d.pairs(n, path, depth, func(k, val *yaml.Node, key, kpath string) {
		index, ok := fields.index[key]
		if !ok {
			hint := ""
			if !d.stopped {
				hint = Suggest(key, fields.names)
			}
			d.fail(k, kpath, hint, "unknown field %q %s", clip(key), where(path))
			return
		}
		d.pos[kpath] = posOf(k)
		d.decode(val, v.FieldByIndex(index), kpath, depth+1)
	})
	return true
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string, depth int) bool {
	if n.Kind != yaml.MappingNode {
		d.wrongType(n, path, "a mapping", "")
		return false
	}
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.fail(n, path, "", "%s: cannot decode into %s", d.subject(path), t)
		return false
	}
	m := reflect.MakeMapWithSize(t, len(n.Content)/2)
	d.pairs(n, path, depth, func(k, val *yaml.Node, key, kpath string) {
		d.pos[kpath] = posOf(k)
		e := reflect.New(t.Elem()).Elem()
		if d.decode(val, e, kpath, depth+1) {
			m.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), e)
		}
	})
	v.Set(m)
	return true
}

// pairs calls fn for each key of a mapping, in order, after rejecting
// non-string keys, merge keys and duplicates (the first one wins).
func (d *decoder) pairs(n *yaml.Node, path string, depth int, fn func(k, v *yaml.Node, key, kpath string)) {
	seen := make(map[string]Pos, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content) && !d.stopped; i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !d.usable(k, path, depth+1) {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "", "%s: mapping keys must be strings, got %s", d.subject(path), describe(k))
			continue
		}
		key := k.Value
		kpath := join(path, key)
		if k.ShortTag() == tagMerge {
			d.fail(k, kpath, "write the keys out", "merge keys (<<) are not supported")
			continue
		}
		if first, dup := seen[key]; dup {
			d.fail(k, kpath, "", "duplicate key %q %s (first at %s)", clip(key), where(path), first)
			continue
		}
		seen[key] = posOf(k)
		fn(k, val, key, kpath)
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string, depth int) bool {
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf("write a one-item list: [%s]", clip(n.Value))
		}
		d.wrongType(n, path, "a list", hint)
		return false
	}
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		if d.stopped {
			break
		}
		ipath := fmt.Sprintf("%s[%d]", path, i)
		d.pos[ipath] = posOf(item)
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(item, e, ipath, depth+1)
		// Kept even when wrong, so item indexes match the file.
		s = reflect.Append(s, e)
	}
	v.Set(s)
	return true
}

// scalar decodes strings, integers and booleans. Only YAML's own types are
// accepted: "yes" is a string, not a bool, and 5 is not a string.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) bool {
	tag := n.ShortTag()
	if n.Kind == yaml.ScalarNode {
		switch v.Kind() {
		case reflect.String:
			if tag == tagStr || tag == tagTimestamp {
				v.SetString(n.Value)
				return true
			}
		case reflect.Bool:
			if tag == tagBool {
				b, ok := parseBool(n.Value)
				if ok {
					v.SetBool(b)
					return true
				}
			}
		default: // integers
			if tag == tagInt {
				i, err := parseInt(n.Value)
				if err != nil || v.OverflowInt(i) {
					d.fail(n, path, "", "%s: integer %s is out of range", d.subject(path), clip(n.Value))
					return false
				}
				v.SetInt(i)
				return true
			}
		}
	}
	want, hint := expected(v.Type()), ""
	switch {
	case n.Kind != yaml.ScalarNode:
	case v.Type() == reflect.TypeFor[Duration]():
		hint = "add a unit: s, m, h, d, w or y"
	case v.Kind() == reflect.String && tag != tagStr:
		hint = fmt.Sprintf("quote it to make it a string: %q", clip(n.Value))
	case v.Kind() == reflect.Bool:
		hint = "use true or false"
	case tag == tagStr && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		if _, err := parseInt(n.Value); err == nil {
			hint = "remove the quotes"
		}
	}
	d.wrongType(n, path, want, hint)
	return false
}

func expected(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[Duration]():
		return "a duration such as 30d, 12h or 90m"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "a boolean"
	default:
		return "an integer"
	}
}

func (d *decoder) wrongType(n *yaml.Node, path, want, hint string) {
	d.fail(n, path, hint, "%s: expected %s, got %s", d.subject(path), want, describe(n))
}

// describe names what a node holds, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch tag := n.ShortTag(); tag {
	case tagStr, tagTimestamp, tagMerge:
		return fmt.Sprintf("string %q", clip(n.Value))
	case tagInt:
		return "integer " + clip(n.Value)
	case tagFloat:
		return "number " + clip(n.Value)
	case tagBool:
		return "boolean " + clip(n.Value)
	case tagNull:
		return "null"
	default:
		return fmt.Sprintf("a value tagged %s", clip(tag))
	}
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == tagNull }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) subject(path string) string {
	if path == "" {
		return "the " + d.docName()
	}
	return fmt.Sprintf("field %q", clip(path))
}

func where(path string) string {
	if path == "" {
		return "at the top level"
	}
	return "in " + clip(path)
}

// clip shortens what a message quotes from the input.
func clip(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && s[cut]&0xC0 == 0x80 { // don't split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "..."
}

// fieldSet is the keys a struct accepts, with ",inline" structs flattened.
type fieldSet struct {
	names []string // in declaration order, for suggestions
	index map[string][]int
}

var fieldSets sync.Map // reflect.Type -> *fieldSet

func fieldsOf(t reflect.Type) *fieldSet {
	if fs, ok := fieldSets.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{index: map[string][]int{}}
	fs.collect(t, nil)
	fieldSets.Store(t, fs)
	return fs
}

func (fs *fieldSet) collect(t reflect.Type, prefix []int) {
	for i := range t.NumField() {
		sf := t.Field(i)
		name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		index := append(slices.Clone(prefix), i)
		if slices.Contains(strings.Split(opts, ","), "inline") && sf.Type.Kind() == reflect.Struct {
			fs.collect(sf.Type, index)
			continue
		}
		if !sf.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		fs.names = append(fs.names, name)
		fs.index[name] = index
	}
}
