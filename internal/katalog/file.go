package katalog

import (
	"fmt"
	"reflect"
)

// Pos is a 1-based line and column in a Katalog file.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// String formats p as line:column, as messages print it.
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Column) }

// File is a loaded Katalog with the position of every key and list item.
type File struct {
	// Path is the file name as given (used in messages and to resolve crdFile).
	Path    string
	Katalog *Katalog
	// positions maps a field path ("spec.crds.website.validation.rules[0].regex")
	// to the position of its key (or list item).
	positions map[string]Pos
}

// Pos returns the position of a field path, or of its nearest ancestor that
// appears in the file (a defaulted field reports where its block starts).
func (f *File) Pos(path string) Pos { return lookupPos(f.positions, path) }

func lookupPos(positions map[string]Pos, path string) Pos {
	for {
		if p, ok := positions[path]; ok {
			return p
		}
		if path == "" {
			return Pos{Line: 1, Column: 1}
		}
		path = parentPath(path)
	}
}

// Has reports whether a field path was written in the file.
func (f *File) Has(path string) bool {
	_, ok := f.positions[path]
	return ok
}

// parentPath drops the last ".key" or "[i]" of a field path.
func parentPath(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		switch p[i] {
		case '.':
			return p[:i]
		case '[':
			return p[:i]
		}
	}
	return ""
}

// SchemaError is a strict-parsing failure: an unknown or duplicate key, a
// wrong type, or a YAML syntax error.
type SchemaError struct {
	File  string
	Pos   Pos
	Field string // field path, "" at the top
	Msg   string
	Hint  string // e.g. `did you mean "failurePolicy"?`
}

// Error formats e as file:line:col: message, then the hint.
func (e *SchemaError) Error() string {
	s := fmt.Sprintf("%s:%s: %s", e.File, e.Pos, e.Msg)
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

// Document is a YAML file other than a Katalog (an `ork test` suite),
// decoded as strictly as a Katalog, with the position of every key and
// list item.
type Document struct {
	Path      string // the file name as given, for messages
	positions map[string]Pos
}

// Pos returns the position of a field path, or of its nearest ancestor
// written in the file.
func (d *Document) Pos(path string) Pos { return lookupPos(d.positions, path) }

// Has reports whether a field path was written in the file.
func (d *Document) Has(path string) bool {
	_, ok := d.positions[path]
	return ok
}

// DecodeDocument decodes data, one YAML document, into v (a pointer to a
// struct with yaml tags) as strictly as Parse decodes a Katalog: unknown
// and duplicate keys, wrong types, aliases, merge keys and unknown tags
// are errors with line and column, and every problem is reported. *Value
// fields take any value. what names the document in messages ("test
// suite"); start says how a document of this kind begins, for an empty
// file.
func DecodeDocument(name string, data []byte, v any, what, start string) (*Document, []*SchemaError) {
	doc := &Document{Path: name, positions: map[string]Pos{}}
	d := &decoder{file: name, pos: doc.positions, what: what, start: start}
	if len(data) > MaxFileSize {
		d.failAt(Pos{1, 1}, "", "", "file is larger than %d MiB", MaxFileSize>>20)
		return doc, d.errs
	}
	if root := d.document(data); root != nil {
		d.decode(root, reflect.ValueOf(v).Elem(), "", 0)
	}
	return doc, d.errs
}
