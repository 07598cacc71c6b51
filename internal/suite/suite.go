// Package suite reads and runs `ork test` suites: a Katalog, requests
// (objects with an operation, an old object, a user and groups, a
// namespace) and the answer expected for each, checked with the code path
// of `ork gateway eval` (package eval); conversion cases check `ork
// gateway convert`. Suites are YAML files named ork-test.yaml, decoded as
// strictly as a Katalog, with the line of every case.
//
// Toolchain only.
package suite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/eval"
	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// suiteAPIVersion and suiteKind head every suite file.
const (
	suiteAPIVersion = "orkestra.orkspace.io/v1"
	suiteKind       = "Test"
	// FileName is the name `ork test DIR` looks for in DIR and below.
	FileName = "ork-test.yaml"
)

// suiteFile is the source model of a suite file.
type suiteFile struct {
	APIVersion string        `yaml:"apiVersion"`
	Kind       string        `yaml:"kind"`
	Metadata   suiteMetadata `yaml:"metadata"`
	// Katalog is the Katalog under test, relative to the suite file.
	Katalog string `yaml:"katalog"`
	Cases   []Case `yaml:"cases"`
}

// suiteMetadata names the suite.
type suiteMetadata struct {
	Name string `yaml:"name"`
}

// Case is one request and the answer expected.
type Case struct {
	Name string `yaml:"name"`
	// Operation is CREATE (default; UPDATE with an old object), UPDATE or
	// DELETE.
	Operation string `yaml:"operation"`
	// The object under admission (for DELETE, the object deleted), inline
	// or from a file relative to the suite.
	Object     *katalog.Value `yaml:"object"`
	ObjectFile string         `yaml:"objectFile"`
	// The object before an UPDATE.
	OldObject     *katalog.Value `yaml:"oldObject"`
	OldObjectFile string         `yaml:"oldObjectFile"`
	// Namespace of the request (default the object's).
	Namespace string `yaml:"namespace"`
	// The request's Namespace, namespaceObject of CEL rules.
	NamespaceObject     *katalog.Value `yaml:"namespaceObject"`
	NamespaceObjectFile string         `yaml:"namespaceObjectFile"`
	// The requesting user and groups (system:authenticated is added).
	User   string   `yaml:"user"`
	Groups []string `yaml:"groups"`
	// ConvertTo makes a conversion case: the object converted to this
	// version (v2) or apiVersion, as `ork gateway convert` does.
	ConvertTo string  `yaml:"convertTo"`
	Expect    *Expect `yaml:"expect"`
}

// Expect is the answer expected. Every field given is checked; the others
// are not.
type Expect struct {
	// Allowed is the verdict (required for an admission case).
	Allowed *bool `yaml:"allowed"`
	// Code is the HTTP code of a denial (403, 422).
	Code *int `yaml:"code"`
	// Message is a part of a denial's message.
	Message string `yaml:"message"`
	// Causes are the denial's causes, in order, all of them.
	Causes []Cause `yaml:"causes"`
	// Rules are the failing validation rules, whatever their action, as
	// "<entry>/<name or index>" or "<name or index>" for the object's
	// entry; in any order, all of them.
	Rules []string `yaml:"rules"`
	// Audit are the failing rules in audit mode, named like Rules.
	Audit []string `yaml:"audit"`
	// Warnings the client would see, in any order, all of them.
	Warnings []string `yaml:"warnings"`
	// Patch is the mutating webhook's JSONPatch ([] for none).
	Patch *katalog.Value `yaml:"patch"`
	// Object is the object after admission at the request's version, or
	// the converted object of a conversion case; only the fields given
	// are compared.
	Object *katalog.Value `yaml:"object"`
	// Error is a part of the error of a conversion case that must fail.
	Error string `yaml:"error"`
}

// Cause is one cause of a denial: the field, and its message or the end
// of it (the rule's message matches "Invalid value: 20: <message>").
type Cause struct {
	Field   string `yaml:"field"`
	Message string `yaml:"message"`
}

// Suite is a loaded, checked suite file.
type Suite struct {
	Path    string // as found
	Name    string // metadata.name, else the file's path
	Katalog string // resolved path
	Cases   []*LoadedCase
}

// LoadedCase is a case with its objects read and its position.
type LoadedCase struct {
	Case
	Pos katalog.Pos
	// Input is the request (nil for a conversion case: see Convert).
	Input *eval.Input
	// Convert is the object of a conversion case.
	Convert map[string]any
}

// ref is "file:line:column" of the case, for messages.
func (c *LoadedCase) ref(file string) string { return fmt.Sprintf("%s:%s", file, c.Pos) }

// Error is a problem in a suite file, with its position.
type Error = katalog.SchemaError

// Find lists the suite files of the arguments: a file is a suite
// whatever its name; a directory is searched, with its subdirectories,
// for files named FileName.
func Find(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && d.Name() == FileName {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s holds no %s", a, FileName)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// Load reads and checks a suite file. err is set when the file cannot be
// read; every problem of its content is in errs.
func Load(path string) (s *Suite, errs []*Error, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	s, errs = parse(path, data)
	return s, errs, nil
}

// parse decodes and checks a suite; files it names are read relative to
// name's directory. s is nil when errs is not empty.
func parse(name string, data []byte) (s *Suite, errs []*Error) {
	var f suiteFile
	doc, errs := katalog.DecodeDocument(name, data, &f, "test suite",
		"start with apiVersion: "+suiteAPIVersion+" and kind: "+suiteKind)
	if len(errs) > 0 {
		return nil, errs
	}
	c := &checker{doc: doc, dir: filepath.Dir(name)}
	s = c.suite(&f)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	return s, nil
}

type checker struct {
	doc  *katalog.Document
	dir  string
	errs []*Error
}

func (c *checker) fail(field, hint, format string, a ...any) {
	c.errs = append(c.errs, &Error{File: c.doc.Path, Pos: c.doc.Pos(field), Field: field, Msg: fmt.Sprintf(format, a...), Hint: hint})
}

// path resolves a file named in the suite.
func (c *checker) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

func (c *checker) suite(f *suiteFile) *Suite {
	if f.APIVersion != suiteAPIVersion {
		c.fail("apiVersion", "write apiVersion: "+suiteAPIVersion, "apiVersion %q is not %s", f.APIVersion, suiteAPIVersion)
	}
	if f.Kind != suiteKind {
		c.fail("kind", "write kind: "+suiteKind, "kind %q is not %s", f.Kind, suiteKind)
	}
	s := &Suite{Path: c.doc.Path, Name: f.Metadata.Name}
	if s.Name == "" {
		s.Name = c.doc.Path
	}
	switch {
	case f.Katalog == "":
		c.fail("katalog", "name the Katalog under test, relative to this file: katalog: ../katalog.yaml", "katalog is required")
	default:
		s.Katalog = c.path(f.Katalog)
		if st, err := os.Stat(s.Katalog); err != nil {
			c.fail("katalog", "the path is relative to the suite file", "katalog %q: %v", f.Katalog, unwrapPath(err))
		} else if st.IsDir() {
			c.fail("katalog", "name the Katalog file, not its directory", "katalog %q is a directory", f.Katalog)
		}
	}
	if len(f.Cases) == 0 {
		c.fail("cases", "add at least one case: a name, an object and what to expect", "a suite has no cases")
	}
	names := map[string]int{}
	for i := range f.Cases {
		base := fmt.Sprintf("cases[%d]", i)
		if lc := c.caseOf(base, &f.Cases[i]); lc != nil {
			if first, dup := names[lc.Name]; dup {
				c.fail(base+".name", "give every case its own name", "case name %q is also the name of cases[%d]", lc.Name, first)
			} else if lc.Name != "" {
				names[lc.Name] = i
			}
			s.Cases = append(s.Cases, lc)
		}
	}
	return s
}

var operations = []string{"CREATE", "UPDATE", "DELETE"}

// present is a field of a case and whether the case sets it.
type present struct {
	field string
	set   bool
}

func admissionOp(op string) admissionv1.Operation { return admissionv1.Operation(op) }

func (c *checker) caseOf(base string, k *Case) *LoadedCase {
	lc := &LoadedCase{Case: *k, Pos: c.doc.Pos(base)}
	if strings.TrimSpace(k.Name) == "" {
		c.fail(base+".name", "say what the case checks, e.g. name: a v1 Website of 20 replicas is denied", "a case needs a name")
	}
	obj := c.object(base, "object", k.Object, k.ObjectFile, true)
	if k.Expect == nil {
		c.fail(base+".expect", "say what the answer must be, at least expect: {allowed: true} (or expect.object for a conversion case)", "a case needs expect")
	}
	if k.ConvertTo != "" {
		c.conversionCase(base, k)
		lc.Convert = obj
		return lc
	}
	op := k.Operation
	old := c.object(base, "oldObject", k.OldObject, k.OldObjectFile, false)
	switch {
	case op == "" && old != nil:
		op = "UPDATE"
	case op == "":
		op = "CREATE"
	case !slices.Contains(operations, op):
		hint := "use CREATE, UPDATE or DELETE"
		if up := strings.ToUpper(op); slices.Contains(operations, up) {
			hint = "write " + up + ": operations are upper case"
		}
		c.fail(base+".operation", hint, "operation %q is not CREATE, UPDATE or DELETE", op)
	}
	switch {
	case op == "UPDATE" && old == nil && k.OldObject == nil && k.OldObjectFile == "":
		c.fail(base+".operation", "add oldObject (or oldObjectFile): the object before the update", "an UPDATE needs the old object")
	case op != "UPDATE" && (k.OldObject != nil || k.OldObjectFile != ""):
		c.fail(c.first(base+".oldObject", base+".oldObjectFile"), "remove it, or set operation: UPDATE", "oldObject is only for UPDATE, and this case is a %s", op)
	}
	var ns map[string]any
	if k.NamespaceObject != nil || k.NamespaceObjectFile != "" {
		ns = c.object(base, "namespaceObject", k.NamespaceObject, k.NamespaceObjectFile, false)
	}
	in := &eval.Input{Object: obj, OldObject: old, Namespace: k.Namespace, User: k.User, Groups: k.Groups}
	in.Operation = admissionOp(op)
	if ns != nil {
		n, err := eval.NamespaceFrom("namespaceObject", ns)
		if err != nil {
			c.fail(c.first(base+".namespaceObject", base+".namespaceObjectFile"), "give the v1 Namespace of the request", "%v", err)
		}
		in.NamespaceObject = n
	}
	lc.Input = in
	if e := k.Expect; e != nil {
		c.expect(base+".expect", e, false)
	}
	return lc
}

// conversionCase checks what a conversion case may hold: an object, the
// version and expect.object or expect.error.
func (c *checker) conversionCase(base string, k *Case) {
	for _, f := range []present{
		{"operation", k.Operation != ""}, {"oldObject", k.OldObject != nil}, {"oldObjectFile", k.OldObjectFile != ""},
		{"namespace", k.Namespace != ""}, {"namespaceObject", k.NamespaceObject != nil}, {"namespaceObjectFile", k.NamespaceObjectFile != ""},
		{"user", k.User != ""}, {"groups", k.Groups != nil},
	} {
		if f.set {
			c.fail(base+"."+f.field, "a conversion case is the object and convertTo; make an admission case for requests", "%s in a conversion case (convertTo)", f.field)
		}
	}
	if k.Expect != nil {
		c.expect(base+".expect", k.Expect, true)
	}
}

func (c *checker) expect(base string, e *Expect, conversion bool) {
	if conversion {
		if e.Object == nil && e.Error == "" {
			c.fail(base, "give expect.object (the converted object, or the fields of it that matter) or expect.error", "a conversion case needs expect.object or expect.error")
		}
		if e.Object != nil && e.Error != "" {
			c.fail(base+".error", "keep one: a conversion gives an object or fails", "expect.object and expect.error together")
		}
		for _, f := range []present{
			{"allowed", e.Allowed != nil}, {"code", e.Code != nil}, {"message", e.Message != ""}, {"causes", e.Causes != nil},
			{"rules", e.Rules != nil}, {"audit", e.Audit != nil}, {"warnings", e.Warnings != nil}, {"patch", e.Patch != nil},
		} {
			if f.set {
				c.fail(base+"."+f.field, "a conversion case expects an object or an error", "expect.%s in a conversion case", f.field)
			}
		}
		c.objectValue(base+".object", e.Object)
		return
	}
	if e.Allowed == nil {
		c.fail(base, "add expect.allowed: true or false", "expect.allowed is required")
	}
	if e.Error != "" {
		c.fail(base+".error", "expect.error is for conversion cases; an admission case expects allowed, code, message, causes...", "expect.error in an admission case")
	}
	denial := e.Code != nil || e.Message != "" || e.Causes != nil
	if e.Allowed != nil && *e.Allowed && denial {
		c.fail(c.first(base+".code", base+".message", base+".causes"), "an allowed request has no denial: remove code, message and causes, or expect allowed: false",
			"expect.allowed is true but the case expects a denial")
	}
	if e.Code != nil && (*e.Code < 400 || *e.Code > 599) {
		c.fail(base+".code", "a denial's code: 403 Forbidden, 422 Invalid...", "expect.code %d is not an HTTP error code", *e.Code)
	}
	for i, cause := range e.Causes {
		if cause.Field == "" && cause.Message == "" {
			c.fail(fmt.Sprintf("%s.causes[%d]", base, i), "give the field (spec.replicas) and the rule's message", "a cause needs a field or a message")
		}
	}
	for _, list := range []struct {
		name string
		ids  []string
	}{{"rules", e.Rules}, {"audit", e.Audit}} {
		for i, id := range list.ids {
			if strings.TrimSpace(id) == "" || strings.Count(id, "/") > 1 {
				c.fail(fmt.Sprintf("%s.%s[%d]", base, list.name, i), "name a rule as <entry>/<name or index> (website/replicas-range, website/0), or <name or index>",
					"%q does not name a rule", id)
			}
		}
	}
	if e.Patch != nil {
		c.patch(base+".patch", e.Patch.V)
	}
	c.objectValue(base+".object", e.Object)
}

// patch checks an expected JSONPatch: a list of operations with op and
// path.
func (c *checker) patch(field string, v any) {
	ops, ok := v.([]any)
	if !ok {
		c.fail(field, "write the JSONPatch as a list: [{op: add, path: /spec/tier, value: standard}], or [] for none", "expect.patch is not a list")
		return
	}
	for i, o := range ops {
		m, ok := o.(map[string]any)
		op, _ := m["op"].(string)
		path, _ := m["path"].(string)
		if !ok || op == "" || (path != "" && path[0] != '/') || (path == "" && m["path"] == nil) {
			c.fail(fmt.Sprintf("%s[%d]", field, i), "an operation is {op: add|replace|remove, path: /json/pointer, value: ...}", "not a JSONPatch operation")
		}
	}
}

func (c *checker) objectValue(field string, v *katalog.Value) {
	if v == nil {
		return
	}
	if _, ok := v.V.(map[string]any); !ok {
		c.fail(field, "give the object (or the fields of it that matter) as a mapping", "expect.object is not a mapping")
	}
}

// object reads an object given inline (key) or from a file (key+"File").
func (c *checker) object(base, key string, inline *katalog.Value, file string, required bool) map[string]any {
	field := base + "." + key
	switch {
	case inline != nil && file != "":
		c.fail(field+"File", fmt.Sprintf("keep one of %s and %sFile", key, key), "%s and %sFile together", key, key)
		return nil
	case inline == nil && file == "":
		if required {
			c.fail(base, fmt.Sprintf("give the %s inline (%s:) or from a file relative to the suite (%sFile:)", key, key, key), "a case needs %s or %sFile", key, key)
		}
		return nil
	case file != "":
		obj, err := eval.ReadObject(c.path(file))
		if err != nil {
			c.fail(field+"File", "the path is relative to the suite file; the file holds one object", "%sFile %q: %v", key, file, unwrapPath(err))
			return nil
		}
		return obj
	}
	obj, ok := inline.V.(map[string]any)
	if !ok {
		c.fail(field, "give the object as a mapping with apiVersion, kind and metadata", "%s is not a mapping", key)
		return nil
	}
	if err := eval.CheckObject(obj); err != nil {
		c.fail(field, "an object has apiVersion, kind and metadata.name", "%s: %v", key, err)
		return nil
	}
	return obj
}

func (c *checker) first(fields ...string) string {
	for _, f := range fields {
		if c.doc.Has(f) {
			return f
		}
	}
	return fields[0]
}

// unwrapPath drops the path an *fs.PathError repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
