// Package report prints the results of the check pass for `ork validate`:
// a line-oriented text format for people and editors, and a JSON document for
// CI. It is toolchain-only: the gateway prints findings through package check.
//
// # JSON schema (version 1)
//
// The document is one object; fields are always present (empty strings,
// zero counts and empty lists rather than omitted keys) so consumers need no
// special cases:
//
//	{
//	  "version": 1,              // schema version; bumped only on breaking changes
//	  "valid": true,             // every file is valid (warnings allowed)
//	  "files": [{
//	    "file": "katalog.yaml",  // the path as given on the command line
//	    "valid": true,           // no error finding
//	    "errors": 0,
//	    "warnings": 1,
//	    "crds": 3,               // compiled CRD entries (0 when invalid)
//	    "teams": 2,              // notification teams (0 when invalid or notifications are off)
//	    "findings": [{
//	      "file": "katalog.yaml",
//	      "line": 14, "column": 5, // 1-based
//	      "severity": "error",     // error | warning
//	      "id": "K02",             // stable check ID, K01..K22
//	      "name": "strict-schema", // stable check name
//	      "field": "security.deletionProtection.failurPolicy", // field path, may be ""
//	      "message": "unknown field \"failurPolicy\"",
//	      "hint": "did you mean \"failurePolicy\"?" // may be ""
//	    }]
//	  }]
//	}
package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/orkspace/orkestra-gateway/internal/check"
)

// Format is an output format; it implements pflag.Value so a bad -o value
// is a flag error.
type Format string

// The formats: one line per finding, or one JSON Document.
const (
	Text Format = "text"
	JSON Format = "json"
)

// formats lists the accepted formats, in the order help shows them.
var formats = []Format{Text, JSON}

// parseFormat returns the format named s.
func parseFormat(s string) (Format, error) {
	for _, f := range formats {
		if s == string(f) {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown output format %q: want text or json", s)
}

// String returns the format's name.
func (f *Format) String() string { return string(*f) }

// Type names the flag's values in help.
func (f *Format) Type() string { return "text|json" }

// Set parses s; its error is short because flag errors already quote s.
func (f *Format) Set(s string) error {
	v, err := parseFormat(s)
	if err != nil {
		return errors.New("must be text or json")
	}
	*f = v
	return nil
}

// Write prints results in format f.
func Write(w io.Writer, f Format, results []*check.Result) error {
	switch f {
	case Text:
		return writeText(w, results)
	case JSON:
		return writeJSON(w, results)
	}
	return fmt.Errorf("unknown output format %q: want text or json", string(f))
}

// summary is the per-file totals shared by both formats.
type summary struct {
	File     string
	Errors   int
	Warnings int
	CRDs     int
	Teams    int
}

// Valid reports whether the file has no error finding.
func (s summary) Valid() bool { return s.Errors == 0 }

// summarize counts the findings of r and, when the pass compiled a policy,
// its CRD entries and teams.
func summarize(r *check.Result) summary {
	s := summary{File: r.File}
	for _, f := range r.Findings {
		// Anything but a warning fails: CI must not pass on an unknown severity.
		if f.Severity == check.Warning {
			s.Warnings++
		} else {
			s.Errors++
		}
	}
	if p := r.Policy; p != nil {
		s.CRDs = len(p.CRDs)
		if p.Notification != nil {
			s.Teams = len(p.Notification.Teams)
		}
	}
	return s
}

// writeText prints one line per finding,
//
//	file:line:col: error|warning ID name: message (hint)
//
// then one summary line per file:
//
//	2 errors, 1 warning in katalog.yaml
//	katalog.yaml: valid (3 CRDs, 2 teams)
//	katalog.yaml: valid with 1 warning (3 CRDs, 2 teams)
//
// Line breaks inside messages are escaped, so each finding stays one line
// that editors and grep can use.
func writeText(w io.Writer, results []*check.Result) error {
	var b strings.Builder
	for _, r := range results {
		for _, f := range r.Findings {
			b.WriteString(oneLine(f.String()))
			b.WriteByte('\n')
		}
		b.WriteString(oneLine(summaryLine(summarize(r))))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func summaryLine(s summary) string {
	counts := fmt.Sprintf("(%s, %s)", plural(s.CRDs, "CRD"), plural(s.Teams, "team"))
	switch {
	case !s.Valid() && s.Warnings > 0:
		return fmt.Sprintf("%s, %s in %s", plural(s.Errors, "error"), plural(s.Warnings, "warning"), s.File)
	case !s.Valid():
		return fmt.Sprintf("%s in %s", plural(s.Errors, "error"), s.File)
	case s.Warnings > 0:
		return fmt.Sprintf("%s: valid with %s %s", s.File, plural(s.Warnings, "warning"), counts)
	}
	return fmt.Sprintf("%s: valid %s", s.File, counts)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

var lineEscaper = strings.NewReplacer("\r\n", `\n`, "\n", `\n`, "\r", `\r`)

func oneLine(s string) string { return lineEscaper.Replace(s) }

// Document is the JSON output (schema version 1, see the package doc).
type Document struct {
	Version int          `json:"version"`
	Valid   bool         `json:"valid"`
	Files   []FileReport `json:"files"`
}

// SchemaVersion is the version of Document.
const SchemaVersion = 1

// FileReport is one Katalog file in a Document: its totals and findings.
type FileReport struct {
	File     string          `json:"file"`
	Valid    bool            `json:"valid"`
	Errors   int             `json:"errors"`
	Warnings int             `json:"warnings"`
	CRDs     int             `json:"crds"`
	Teams    int             `json:"teams"`
	Findings []FindingReport `json:"findings"`
}

// FindingReport is one finding in a FileReport.
type FindingReport struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"`
	ID       string `json:"id"`
	Name     string `json:"name"`
	Field    string `json:"field"`
	Message  string `json:"message"`
	Hint     string `json:"hint"`
}

// newDocument builds the JSON document for results.
func newDocument(results []*check.Result) Document {
	doc := Document{Version: SchemaVersion, Valid: true, Files: []FileReport{}}
	for _, r := range results {
		s := summarize(r)
		fr := FileReport{
			File:     s.File,
			Valid:    s.Valid(),
			Errors:   s.Errors,
			Warnings: s.Warnings,
			CRDs:     s.CRDs,
			Teams:    s.Teams,
			Findings: make([]FindingReport, 0, len(r.Findings)),
		}
		for _, f := range r.Findings {
			fr.Findings = append(fr.Findings, FindingReport{
				File:     f.File,
				Line:     f.Pos.Line,
				Column:   f.Pos.Column,
				Severity: string(f.Severity),
				ID:       f.ID,
				Name:     f.Name,
				Field:    f.Field,
				Message:  f.Message,
				Hint:     f.Hint,
			})
		}
		doc.Valid = doc.Valid && fr.Valid
		doc.Files = append(doc.Files, fr)
	}
	return doc
}

// writeJSON prints the Document for results, indented, with a final newline.
func writeJSON(w io.Writer, results []*check.Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // messages quote YAML and templates; keep them readable
	return enc.Encode(newDocument(results))
}
