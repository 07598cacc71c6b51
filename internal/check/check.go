package check

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// Result is the outcome of the pass over one Katalog file.
type Result struct {
	File     string
	Findings []Finding      // sorted by position
	Policy   *policy.Policy // nil when any finding is an error
}

// Errors counts the error findings.
func (r *Result) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == Error {
			n++
		}
	}
	return n
}

// Warnings counts the warning findings.
func (r *Result) Warnings() int { return len(r.Findings) - r.Errors() }

// Run runs every check over a loaded file. schemaErrs are the loader's
// strict-parsing errors; they become K02 findings. Every check runs, whatever
// the others found; findings are sorted by position, then ID.
func Run(f *katalog.File, schemaErrs []*katalog.SchemaError) *Result {
	p := &pass{f: f, pol: &policy.Policy{}}
	if f != nil {
		p.file = f.Path
		p.pol.Source = f.Path
	}
	for _, e := range schemaErrs {
		if e == nil {
			continue
		}
		if p.file == "" {
			p.file = e.File
		}
		// The first of duplicate keys stands, so its checks still run.
		dup := strings.HasPrefix(e.Msg, "duplicate key")
		if e.Field != "" && !dup {
			p.schemaFields = append(p.schemaFields, e.Field)
		}
		id := "K02"
		if name, ok := strings.CutPrefix(e.Field, "spec.crds."); ok && dup && !strings.ContainsAny(name, ".[") {
			id = "K04" // entry names must be unique; the loader finds the repeats
		}
		p.findings = append(p.findings, Finding{
			File: e.File, Pos: e.Pos, ID: id, Name: checkName(id), Severity: Error,
			Field: e.Field, Message: e.Msg, Hint: e.Hint,
		})
	}
	switch {
	case f != nil && f.Katalog != nil && len(schemaErrs) > 0 && reflect.ValueOf(*f.Katalog).IsZero():
		// Nothing decoded (a syntax error, an empty file): every check would
		// only repeat that the loader found no Katalog.
	case f != nil && f.Katalog != nil:
		p.k = f.Katalog
		p.header()
		p.metadata()
		p.gateway()
		p.security()
		p.certs()
		p.crds()
		p.notification()
		p.coherence()
	case len(schemaErrs) == 0:
		p.errorf("K02", "", "", "the file holds no Katalog document")
	}

	sort.SliceStable(p.findings, func(i, j int) bool {
		a, b := p.findings[i], p.findings[j]
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Column != b.Pos.Column {
			return a.Pos.Column < b.Pos.Column
		}
		return a.ID < b.ID
	})
	r := &Result{File: p.file, Findings: p.findings}
	if r.Errors() == 0 {
		r.Policy = p.pol
	}
	return r
}

// RunFile loads a Katalog and runs the pass; err only when it cannot be read.
func RunFile(path string) (*Result, error) {
	f, errs, err := katalog.Load(path)
	if err != nil {
		return nil, err
	}
	return Run(f, errs), nil
}

// pass is the state of one Run: the findings so far and the policy being built.
type pass struct {
	f            *katalog.File
	k            *katalog.Katalog
	file         string
	pol          *policy.Policy
	findings     []Finding
	schemaFields []string // fields the loader already reported (K02)
}

func (p *pass) errorf(id, field, hint, format string, args ...any) {
	p.report(Error, id, field, hint, fmt.Sprintf(format, args...))
}

func (p *pass) warnf(id, field, hint, format string, args ...any) {
	p.report(Warning, id, field, hint, fmt.Sprintf(format, args...))
}

func (p *pass) report(sev Severity, id, field, hint, msg string) {
	// A field the loader could not decode is already a K02 error; what the
	// checks would say about its zero value is noise.
	for _, s := range p.schemaFields {
		if field == s || strings.HasPrefix(field, s+".") || strings.HasPrefix(field, s+"[") {
			return
		}
	}
	pos := katalog.Pos{Line: 1, Column: 1}
	if p.f != nil {
		pos = p.f.Pos(field)
	}
	p.findings = append(p.findings, Finding{
		File: p.file, Pos: pos, ID: id, Name: checkName(id), Severity: sev,
		Field: field, Message: msg, Hint: hint,
	})
}

// has reports whether field was written in the file.
func (p *pass) has(field string) bool { return p.f != nil && p.f.Has(field) }

// later returns whichever of two fields comes later in the file.
func (p *pass) later(a, b string) string {
	pa, pb := p.f.Pos(a), p.f.Pos(b)
	if pb.Line > pa.Line || (pb.Line == pa.Line && pb.Column > pa.Column) {
		return b
	}
	return a
}

func checkName(id string) string {
	for _, c := range Checks {
		if c.ID == id {
			return c.Name
		}
	}
	return ""
}

func isCheckID(id string) bool { return checkName(id) != "" }

// boolOr returns *b, or def when b is nil.
func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}
