package katalog

import "fmt"

// Pos is a 1-based line and column in a Katalog file.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

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
func (f *File) Pos(path string) Pos {
	for {
		if p, ok := f.positions[path]; ok {
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

func (e *SchemaError) Error() string {
	s := fmt.Sprintf("%s:%s: %s", e.File, e.Pos, e.Msg)
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}
