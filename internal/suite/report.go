package suite

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// Totals counts the cases of results.
func Totals(results []*Result) (passed, failed int) {
	for _, r := range results {
		for _, c := range r.Cases {
			if c.passed() {
				passed++
			} else {
				failed++
			}
		}
	}
	return passed, failed
}

// WriteText prints one line per case, the differences of each failing
// case under it with its file:line:column, and the totals.
func WriteText(w io.Writer, results []*Result) error {
	var b strings.Builder
	for _, r := range results {
		fmt.Fprintf(&b, "%s (Katalog %s)\n", r.Suite.Name, r.Suite.Katalog)
		for _, c := range r.Cases {
			if c.passed() {
				fmt.Fprintf(&b, "  PASS %s\n", c.Case.Name)
				continue
			}
			fmt.Fprintf(&b, "  FAIL %s: %s\n", c.Case.ref(r.Suite.Path), c.Case.Name)
			for _, f := range c.Failures {
				fmt.Fprintf(&b, "       %s\n", f)
			}
		}
	}
	passed, failed := Totals(results)
	fmt.Fprintf(&b, "%d passed, %d failed\n", passed, failed)
	_, err := io.WriteString(w, b.String())
	return err
}

// jsonReport is the -o json document.
type jsonReport struct {
	Passed int         `json:"passed"`
	Failed int         `json:"failed"`
	Suites []jsonSuite `json:"suites"`
}

// jsonSuite is one suite in JSON.
type jsonSuite struct {
	File    string     `json:"file"`
	Name    string     `json:"name"`
	Katalog string     `json:"katalog"`
	Cases   []jsonCase `json:"cases"`
}

// jsonCase is one case in JSON.
type jsonCase struct {
	Name     string   `json:"name"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Column   int      `json:"column"`
	Passed   bool     `json:"passed"`
	Failures []string `json:"failures"`
}

// WriteJSON prints the -o json document.
func WriteJSON(w io.Writer, results []*Result) error {
	doc := jsonReport{Suites: []jsonSuite{}}
	doc.Passed, doc.Failed = Totals(results)
	for _, r := range results {
		s := jsonSuite{File: r.Suite.Path, Name: r.Suite.Name, Katalog: r.Suite.Katalog, Cases: []jsonCase{}}
		for _, c := range r.Cases {
			f := c.Failures
			if f == nil {
				f = []string{}
			}
			s.Cases = append(s.Cases, jsonCase{Name: c.Case.Name, File: r.Suite.Path, Line: c.Case.Pos.Line, Column: c.Case.Pos.Column,
				Passed: c.passed(), Failures: f})
		}
		doc.Suites = append(doc.Suites, s)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// JUnit XML, as CI systems read it.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	File     string      `xml:"file,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	File      string        `xml:"file,attr"`
	Line      int           `xml:"line,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit prints JUnit XML: one testsuite per suite file, one testcase
// per case, a failure with the differences.
func WriteJUnit(w io.Writer, results []*Result) error {
	doc := junitSuites{}
	doc.Tests, doc.Failures = Totals(results)
	doc.Tests += doc.Failures
	for _, r := range results {
		s := junitSuite{Name: r.Suite.Name, Tests: len(r.Cases), Failures: r.failed(), File: r.Suite.Path}
		for _, c := range r.Cases {
			jc := junitCase{Name: c.Case.Name, ClassName: r.Suite.Name, File: r.Suite.Path, Line: c.Case.Pos.Line}
			if !c.passed() {
				jc.Failure = &junitFailure{Message: c.Case.ref(r.Suite.Path) + ": " + c.Failures[0], Text: strings.Join(c.Failures, "\n")}
			}
			s.Cases = append(s.Cases, jc)
		}
		doc.Suites = append(doc.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
