package katalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds a Katalog (and a crdFile): both live in ConfigMaps,
// which cannot hold more than 1 MiB anyway.
const MaxFileSize = 4 << 20

// Load reads and strictly parses a Katalog file. err is non-nil only when the
// file cannot be read; every schema problem is returned in errs (all of them,
// not the first), and f is as complete as the input allows.
func Load(path string) (f *File, errs []*SchemaError, err error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	f, errs = Parse(path, data)
	return f, errs, nil
}

// ReadFile reads at most MaxFileSize+1 bytes of a Katalog or crdFile,
// enough for the caller to tell that it is too large without reading all
// of it.
func ReadFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

// Parse strictly parses Katalog bytes; name is used in positions. The
// returned File and its Katalog are never nil.
func Parse(name string, data []byte) (*File, []*SchemaError) {
	f := &File{Path: name, Katalog: &Katalog{}, positions: map[string]Pos{}}
	d := &decoder{file: name, pos: f.positions}
	if len(data) > MaxFileSize {
		d.failAt(Pos{1, 1}, "", "", "file is larger than %d MiB", MaxFileSize>>20)
		return f, d.errs
	}
	if root := d.document(data); root != nil {
		d.decode(root, reflect.ValueOf(f.Katalog).Elem(), "", 0)
	}
	return f, d.errs
}

// document returns the content of the one document in data, reporting
// syntax errors, an empty input and any further (non-empty) document.
// Empty documents (a stray "---") are ignored.
func (d *decoder) document(data []byte) *yaml.Node {
	var root, second *yaml.Node
	err := documents(data, func(doc *yaml.Node) bool {
		if root != nil {
			second = doc
			return false
		}
		root = doc.Content[0]
		return true
	})
	switch {
	case err != nil:
		d.syntaxError(err, lineCount(data))
		return root
	case second != nil:
		d.failAt(posOf(second), "", "split the file: a "+d.docName()+" file holds exactly one YAML document",
			"a second YAML document starts here")
		return root
	case root == nil:
		start := d.start
		if start == "" {
			start = "start with apiVersion: " + APIVersion + " and kind: " + Kind
		}
		d.failAt(Pos{1, 1}, "", start, "empty %s", d.docName())
	}
	return root
}

// documents calls fn with each non-empty document of data, in order, until
// fn returns false. Empty documents (a stray "---") are skipped. The error
// is the first YAML syntax error, met before fn asked to stop.
func documents(data []byte, fn func(doc *yaml.Node) bool) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := decodeNode(dec, &doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue
		}
		if !fn(&doc) {
			return nil
		}
	}
}

// decodeNode parses the next document, turning a parser panic (a bug in the
// YAML library on hostile input) into an error.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: parser failure: %v", r)
		}
	}()
	return dec.Decode(n)
}

// yaml.v3 reports syntax errors as "yaml: line N: problem", without a column
// (and without the line when the problem is on the first one).
var yamlErrLine = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// parserProblems are the problems of yaml.v3's parser (as opposed to its
// scanner), for which it prints the 0-based line.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// lineCount counts lines as YAML does: \n, \r\n, \r, NEL, LS and PS
// end one.
func lineCount(data []byte) int {
	n := 1
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\n':
			n++
		case data[i] == '\r' && (i+1 == len(data) || data[i+1] != '\n'):
			n++
		case bytes.HasPrefix(data[i:], []byte("\u0085")), bytes.HasPrefix(data[i:], []byte("\u2028")), bytes.HasPrefix(data[i:], []byte("\u2029")):
			n++
		}
	}
	return n
}

// syntaxError reports a YAML syntax error at its line, within the input's
// lines (the parser may point past the end of an unterminated last line).
func (d *decoder) syntaxError(err error, lines int) {
	msg := err.Error()
	pos := Pos{1, 1}
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		msg = m[2]
		if n, convErr := strconv.Atoi(m[1]); convErr == nil && n > 0 {
			pos.Line = n
			if parserProblems[msg] {
				pos.Line++
			}
			pos.Line = min(pos.Line, lines)
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	d.failAt(pos, "", "", "YAML syntax error: %s", msg)
}
