package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// Whatever a finding holds, the text report keeps one line per finding plus
// the summary, and the JSON report decodes back to the same values.
func FuzzWrite(f *testing.F) {
	f.Add("katalog.yaml", 14, 5, true, "K02", "strict-schema", "security.x", `unknown field "x"`, `did you mean "y"?`)
	f.Add("a b.yaml", 1, 1, false, "K22", "coherence", "", "line\nbreak", "")
	f.Add("", 0, -1, true, "", "", "", "", "\r")
	f.Fuzz(func(t *testing.T, file string, line, col int, isErr bool, id, name, field, msg, hint string) {
		sev := check.Warning
		if isErr {
			sev = check.Error
		}
		fd := check.Finding{File: file, Pos: katalog.Pos{Line: line, Column: col}, ID: id, Name: name,
			Severity: sev, Field: field, Message: msg, Hint: hint}
		rs := []*check.Result{{File: file, Findings: []check.Finding{fd, fd}}}

		var text bytes.Buffer
		if err := writeText(&text, rs); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(text.String(), "\n"); n != 3 {
			t.Fatalf("text report has %d lines, want 3:\n%q", n, text.String())
		}
		if !strings.HasSuffix(text.String(), "\n") {
			t.Fatalf("text report does not end with a newline: %q", text.String())
		}

		var js bytes.Buffer
		if err := writeJSON(&js, rs); err != nil {
			t.Fatal(err)
		}
		var doc Document
		if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
			t.Fatalf("JSON report does not decode: %v\n%s", err, js.String())
		}
		got := doc.Files[0].Findings[0]
		for _, s := range []string{file, id, name, field, msg, hint} {
			if !utf8.ValidString(s) {
				return // encoding/json replaces invalid UTF-8; values differ by design
			}
		}
		if got.File != file || got.Line != line || got.Column != col || got.ID != id || got.Name != name ||
			got.Field != field || got.Message != msg || got.Hint != hint || got.Severity != string(sev) {
			t.Fatalf("JSON finding %+v does not match %+v", got, fd)
		}
		if doc.Valid == isErr || doc.Files[0].Errors+doc.Files[0].Warnings != 2 {
			t.Fatalf("JSON totals wrong: %+v", doc.Files[0])
		}
	})
}

func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{"text", "json", "JSON", "", "yaml"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseFormat(s)
		valid := s == "text" || s == "json"
		if valid != (err == nil) {
			t.Fatalf("ParseFormat(%q) = %q, %v", s, got, err)
		}
		if valid && string(got) != s {
			t.Fatalf("ParseFormat(%q) = %q", s, got)
		}
	})
}
