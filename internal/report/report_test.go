package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

func finding(file string, line, col int, sev check.Severity, id, name, field, msg, hint string) check.Finding {
	return check.Finding{File: file, Pos: katalog.Pos{Line: line, Column: col}, ID: id, Name: name,
		Severity: sev, Field: field, Message: msg, Hint: hint}
}

func validPolicy(crds, teams int) *policy.Policy {
	p := &policy.Policy{CRDs: make([]*policy.CRD, crds)}
	if teams >= 0 {
		p.Notification = &policy.Notification{Teams: make([]*policy.Team, teams)}
	}
	return p
}

// results is a run over three files: one with errors and a warning, one
// valid with a warning, one valid.
func results() []*check.Result {
	return []*check.Result{
		{File: "bad.yaml", Findings: []check.Finding{
			finding("bad.yaml", 3, 9, check.Error, "K03", "metadata-name", "metadata.name",
				`"Shop_Guard" is not a DNS-1123 label`, "use lower case letters, digits and '-'"),
			finding("bad.yaml", 14, 5, check.Error, "K02", "strict-schema", "security.deletionProtection.failurPolicy",
				`unknown field "failurPolicy" in security.deletionProtection`, `did you mean "failurePolicy"?`),
			finding("bad.yaml", 20, 7, check.Warning, "K14", "deletion-protection", "spec.crds.order.deletionProtection",
				"protectCRs without protectCRD", ""),
		}},
		{File: "warn.yaml", Findings: []check.Finding{
			finding("warn.yaml", 1, 1, check.Warning, "K22", "coherence", "", "admission is enabled but no CRD has rules", ""),
		}, Policy: validPolicy(1, -1)},
		{File: "ok.yaml", Policy: validPolicy(3, 2)},
	}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, Text, results()); err != nil {
		t.Fatal(err)
	}
	want := `bad.yaml:3:9: error K03 metadata-name: "Shop_Guard" is not a DNS-1123 label (use lower case letters, digits and '-')
bad.yaml:14:5: error K02 strict-schema: unknown field "failurPolicy" in security.deletionProtection (did you mean "failurePolicy"?)
bad.yaml:20:7: warning K14 deletion-protection: protectCRs without protectCRD
2 errors, 1 warning in bad.yaml
warn.yaml:1:1: warning K22 coherence: admission is enabled but no CRD has rules
warn.yaml: valid with 1 warning (1 CRD, 0 teams)
ok.yaml: valid (3 CRDs, 2 teams)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestSummaryLine(t *testing.T) {
	cases := []struct {
		s    summary
		want string
	}{
		{summary{File: "k.yaml", Errors: 1}, "1 error in k.yaml"},
		{summary{File: "k.yaml", Errors: 2, Warnings: 2}, "2 errors, 2 warnings in k.yaml"},
		{summary{File: "k.yaml"}, "k.yaml: valid (0 CRDs, 0 teams)"},
		{summary{File: "k.yaml", Warnings: 3, CRDs: 1, Teams: 1}, "k.yaml: valid with 3 warnings (1 CRD, 1 team)"},
	}
	for _, c := range cases {
		if got := summaryLine(c.s); got != c.want {
			t.Errorf("summaryLine(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
}

// A finding of unknown severity counts as an error: CI must not pass on it.
func TestUnknownSeverityFails(t *testing.T) {
	s := summarize(&check.Result{File: "k.yaml", Findings: []check.Finding{{Severity: "fatal"}}})
	if s.Valid() || s.Errors != 1 {
		t.Errorf("summary %+v, want one error", s)
	}
}

// Line breaks in messages cannot split a finding over several lines.
func TestTextEscapesLineBreaks(t *testing.T) {
	r := &check.Result{File: "k.yaml", Findings: []check.Finding{
		finding("k.yaml", 2, 3, check.Error, "K10", "templates", "", "template: line 1\nunexpected \"}\"\r\n", "a\rb"),
	}}
	var b bytes.Buffer
	if err := writeText(&b, []*check.Result{r}); err != nil {
		t.Fatal(err)
	}
	want := `k.yaml:2:3: error K10 templates: template: line 1\nunexpected "}"\n (a\rb)` + "\n1 error in k.yaml\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, JSON, results()[1:]); err != nil {
		t.Fatal(err)
	}
	want := `{
  "version": 1,
  "valid": true,
  "files": [
    {
      "file": "warn.yaml",
      "valid": true,
      "errors": 0,
      "warnings": 1,
      "crds": 1,
      "teams": 0,
      "findings": [
        {
          "file": "warn.yaml",
          "line": 1,
          "column": 1,
          "severity": "warning",
          "id": "K22",
          "name": "coherence",
          "field": "",
          "message": "admission is enabled but no CRD has rules",
          "hint": ""
        }
      ]
    },
    {
      "file": "ok.yaml",
      "valid": true,
      "errors": 0,
      "warnings": 0,
      "crds": 3,
      "teams": 2,
      "findings": []
    }
  ]
}
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestJSONInvalid(t *testing.T) {
	doc := newDocument(results())
	if doc.Valid || doc.Files[0].Valid || !doc.Files[1].Valid || doc.Files[0].Errors != 2 || doc.Files[0].Warnings != 1 {
		t.Errorf("document %+v", doc)
	}
	f := doc.Files[0].Findings[1]
	want := FindingReport{File: "bad.yaml", Line: 14, Column: 5, Severity: "error", ID: "K02", Name: "strict-schema",
		Field: "security.deletionProtection.failurPolicy", Message: `unknown field "failurPolicy" in security.deletionProtection`,
		Hint: `did you mean "failurePolicy"?`}
	if f != want {
		t.Errorf("finding %+v\nwant %+v", f, want)
	}
}

// No files gives an empty list, never null.
func TestJSONNoFiles(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"files": []`) {
		t.Errorf("got %s", b.String())
	}
}

func TestFormat(t *testing.T) {
	for _, s := range []string{"text", "json"} {
		var f Format
		if err := f.Set(s); err != nil || f.String() != s {
			t.Errorf("Set(%q): %v, %q", s, err, f.String())
		}
	}
	for _, s := range []string{"", "JSON", "yaml", "text "} {
		f := Text
		if err := f.Set(s); err == nil || f != Text {
			t.Errorf("Set(%q) = nil error or changed the value to %q", s, f)
		}
		if _, err := parseFormat(s); err == nil || !strings.Contains(err.Error(), "want text or json") {
			t.Errorf("ParseFormat(%q) error %v", s, err)
		}
	}
	if err := Write(new(bytes.Buffer), Format("xml"), nil); err == nil {
		t.Error("Write accepted format xml")
	}
}

// The JSON document decodes back to the values it was built from.
func TestJSONRoundTrip(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, results()); err != nil {
		t.Fatal(err)
	}
	var got Document
	dec := json.NewDecoder(&b)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := newDocument(results())
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if !bytes.Equal(gb, wb) {
		t.Errorf("round trip:\n%s\nwant\n%s", gb, wb)
	}
}
