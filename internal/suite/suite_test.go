package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/celeval"
	"github.com/orkspace/orkestra-gateway/internal/check"
)

// The toolchain's CEL type-checker, as cmd/ork sets it.
func init() { check.CEL = &celeval.Checker{} }

// website is the example Katalog the suites below test.
var website, _ = filepath.Abs(filepath.Join("..", "..", "examples", "website", "katalog.yaml"))

const head = "apiVersion: orkestra.orkspace.io/v1\nkind: Test\nkatalog: KATALOG\n"

func suiteText(body string) string {
	return strings.ReplaceAll(head, "KATALOG", website) + body
}

const v1site = `      apiVersion: web.example.com/v1
      kind: Website
      metadata: {name: shop, namespace: web-shop}
      spec: {image: registry.example.com/shop:1, domain: shop.example.com, size: 20}
`

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "obj.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "two.yaml"), []byte("a: 1\n---\nb: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, src string
		want      []string // "line:col: message part"
	}{
		{"empty", "", []string{"1:1: empty test suite"}},
		{"not a mapping", "- a\n", []string{"1:1: the test suite: expected a mapping, got a list"}},
		{"header", "apiVersion: v2\nkind: Suite\nkatalog: k.yaml\ncases: []\n", []string{
			`1:1: apiVersion "v2" is not orkestra.orkspace.io/v1`, `2:1: kind "Suite" is not Test`, `3:1: katalog "k.yaml": no such file or directory`,
			"4:1: a suite has no cases"}},
		{"unknown key with a suggestion", suiteText("cases:\n  - name: a\n    objekt: {}\n"), []string{
			`6:5: unknown field "objekt" in cases[0]; did you mean "object"?`}},
		{"duplicate key", suiteText("cases:\n  - name: a\n    name: b\n"), []string{`6:5: duplicate key "name" in cases[0] (first at 5:5)`}},
		{"wrong type", suiteText("cases:\n  - name: a\n    groups: admins\n    object: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n    expect: {allowed: yes}\n"), []string{
			`6:13: field "cases[0].groups": expected a list, got string "admins"; write a one-item list: [admins]`,
			`8:23: field "cases[0].expect.allowed": expected a boolean, got string "yes"`}},
		{"no object, no expect", suiteText("cases:\n  - name: a\n"), []string{"5:5: a case needs object or objectFile", "5:5: a case needs expect"}},
		{"object and objectFile", suiteText("cases:\n  - name: a\n    objectFile: obj.yaml\n    object: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n    expect: {allowed: true}\n"), []string{
			"6:5: object and objectFile together"}},
		{"object file missing", suiteText("cases:\n  - name: a\n    objectFile: nope.yaml\n    expect: {allowed: true}\n"), []string{
			`6:5: objectFile "nope.yaml": no such file or directory`}},
		{"object file with two objects", suiteText("cases:\n  - name: a\n    objectFile: two.yaml\n    expect: {allowed: true}\n"), []string{
			`6:5: objectFile "two.yaml":`, "holds 2 objects"}},
		{"object without a name", suiteText("cases:\n  - name: a\n    object: {apiVersion: v1, kind: ConfigMap, metadata: {}}\n    expect: {allowed: true}\n"), []string{
			"6:5: object: metadata.name is missing"}},
		{"bad operation", suiteText("cases:\n  - name: a\n    operation: delete\n    objectFile: obj.yaml\n    expect: {allowed: true}\n"), []string{
			`6:5: operation "delete" is not CREATE, UPDATE or DELETE; write DELETE: operations are upper case`}},
		{"update without old", suiteText("cases:\n  - name: a\n    operation: UPDATE\n    objectFile: obj.yaml\n    expect: {allowed: true}\n"), []string{
			"6:5: an UPDATE needs the old object"}},
		{"old object on a create", suiteText("cases:\n  - name: a\n    operation: CREATE\n    objectFile: obj.yaml\n    oldObjectFile: obj.yaml\n    expect: {allowed: true}\n"), []string{
			"8:5: oldObject is only for UPDATE, and this case is a CREATE"}},
		{"namespace object not a Namespace", suiteText("cases:\n  - name: a\n    objectFile: obj.yaml\n    namespaceObjectFile: obj.yaml\n    expect: {allowed: true}\n"), []string{
			"7:5: namespaceObject: the namespace object is v1 ConfigMap, want a v1 Namespace"}},
		{"allowed missing", suiteText("cases:\n  - name: a\n    objectFile: obj.yaml\n    expect: {code: 403}\n"), []string{"7:5: expect.allowed is required"}},
		{"allowed with a denial", suiteText("cases:\n  - name: a\n    objectFile: obj.yaml\n    expect:\n      allowed: true\n      message: nope\n"), []string{
			"9:7: expect.allowed is true but the case expects a denial"}},
		{"bad code and patch", suiteText("cases:\n  - name: a\n    objectFile: obj.yaml\n    expect:\n      allowed: false\n      code: 200\n      patch: {op: add}\n"), []string{
			"9:7: expect.code 200 is not an HTTP error code", "10:7: expect.patch is not a list"}},
		{"patch operation", suiteText("cases:\n  - name: a\n    objectFile: obj.yaml\n    expect:\n      allowed: true\n      patch:\n        - {path: x}\n"), []string{
			"10:11: not a JSONPatch operation"}},
		{"rule names", suiteText("cases:\n  - name: a\n    objectFile: obj.yaml\n    expect:\n      allowed: true\n      rules: [a/b/c, '']\n"), []string{
			`9:15: "a/b/c" does not name a rule`, `9:22: "" does not name a rule`}},
		{"duplicate case names", suiteText("cases:\n  - name: a\n    objectFile: obj.yaml\n    expect: {allowed: true}\n  - name: a\n    objectFile: obj.yaml\n    expect: {allowed: true}\n"), []string{
			`8:5: case name "a" is also the name of cases[0]`}},
		{"conversion case with a request field", suiteText("cases:\n  - name: a\n    objectFile: obj.yaml\n    convertTo: v2\n    user: bob\n    expect: {allowed: true}\n"), []string{
			"8:5: user in a conversion case (convertTo)", "9:5: a conversion case needs expect.object or expect.error", "9:14: expect.allowed in a conversion case"}},
		{"alias", suiteText("cases:\n  - name: a\n    objectFile: obj.yaml\n    expect: &e {allowed: true}\n  - name: b\n    objectFile: obj.yaml\n    expect: *e\n"), []string{
			"YAML aliases (*e) are not supported"}},
		{"two documents", suiteText("cases: []\n---\nkind: Test\n"), []string{"a second YAML document starts here; split the file: a test suite file holds exactly one YAML document"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(dir, "ork-test.yaml")
			s, errs := parse(name, []byte(tc.src))
			if s != nil || len(errs) == 0 {
				t.Fatalf("parsed without errors: %+v", s)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			all := strings.Join(got, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("errors lack %q:\n%s", w, all)
				}
			}
			for _, e := range got {
				if !strings.HasPrefix(e, name+":") {
					t.Errorf("error without the file's position: %s", e)
				}
			}
		})
	}
}

// Every expectation can fail: a suite expecting the opposite of each
// answer reports each difference.
func TestRunReportsEveryDifference(t *testing.T) {
	src := suiteText(`cases:
  - name: all wrong
    object:
` + v1site + `    expect:
      allowed: true
      rules: [tier]
      audit: ["0"]
      warnings: []
      patch: []
      object: {spec: {size: 21, tier: standard}}
  - name: wrong denial
    object:
` + v1site + `    expect:
      allowed: false
      code: 403
      message: no such text
      causes: [{field: spec.size, message: replicas must be between 1 and 10}]
  - name: conversion expected to fail
    object:
` + v1site + `    convertTo: v2
    expect: {error: boom}
  - name: conversion to the wrong object
    object:
` + v1site + `    convertTo: v3
    expect: {object: {spec: {hostname: other.example.com}}}
  - name: request that cannot be made
    namespace: elsewhere
    object:
` + v1site + `    expect: {allowed: true}
`)
	s, errs := parse(filepath.Join(t.TempDir(), "ork-test.yaml"), []byte(src))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := (&Runner{}).Run(context.Background(), s)
	want := [][]string{
		{`allowed: want true, got false (validate: 422 "Website.web.example.com \"shop\" is invalid: spec.replicas: Invalid value: 20`,
			`rules: want ["website/tier"], got ["website/0"]`, `audit: want ["website/0"], got none`,
			`warnings: want none, got ["web.example.com/v1 Website is deprecated; use v2"]`,
			`patch: want [], got [{"op":"add","path":"/spec/tier","value":"standard"}`,
			"object.spec.size: want 21, got 20", "object.spec.tier: want \"standard\", got nothing"},
		{"code: want a 403 denial, got validate: 422", `message: want a denial containing "no such text"`,
			`causes: want ["spec.size: replicas must be between 1 and 10"], got ["spec.replicas: Invalid value: 20: replicas must be between 1 and 10"]`},
		{`error: want one containing "boom", the conversion succeeded`},
		{`object.spec.hostname: want "other.example.com", got "shop.example.com"`},
		{"the request cannot be made: the request's namespace is elsewhere, but the object is in namespace web-shop"},
	}
	if len(r.Cases) != len(want) {
		t.Fatalf("%d results", len(r.Cases))
	}
	for i, c := range r.Cases {
		all := strings.Join(c.Failures, "\n")
		if c.passed() {
			t.Errorf("%s passed", c.Case.Name)
		}
		for _, w := range want[i] {
			if !strings.Contains(all, w) {
				t.Errorf("%s: failures lack %q:\n%s", c.Case.Name, w, all)
			}
		}
		if len(c.Failures) != len(want[i]) {
			t.Errorf("%s: %d failures, want %d:\n%s", c.Case.Name, len(c.Failures), len(want[i]), all)
		}
	}

	var text, js, junit bytes.Buffer
	results := []*Result{r}
	if err := WriteText(&text, results); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "FAIL "+s.Path+":5:5: all wrong") || !strings.HasSuffix(text.String(), "0 passed, 5 failed\n") {
		t.Errorf("text:\n%s", text.String())
	}
	if err := WriteJSON(&js, results); err != nil {
		t.Fatal(err)
	}
	var doc jsonReport
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || doc.Failed != 5 || doc.Suites[0].Cases[1].Line != 18 {
		t.Errorf("json %v: %s", err, js.String())
	}
	if err := WriteJUnit(&junit, results); err != nil {
		t.Fatal(err)
	}
	var ju junitSuites
	if err := xml.Unmarshal(junit.Bytes(), &ju); err != nil || ju.Tests != 5 || ju.Failures != 5 || ju.Suites[0].Cases[0].Failure == nil ||
		ju.Suites[0].Cases[0].Line != 5 {
		t.Errorf("junit %v: %s", err, junit.String())
	}
}

// A suite whose Katalog has errors fails every case, without running any.
func TestRunInvalidKatalog(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "katalog.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\nmetadata: {name: Bad_Name}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := strings.ReplaceAll(head, "KATALOG", bad) + "cases:\n  - name: a\n    object: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n    expect: {allowed: true}\n"
	s, errs := parse(filepath.Join(dir, "ork-test.yaml"), []byte(src))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := (&Runner{}).Run(context.Background(), s)
	if r.Katalog == nil || r.Katalog.Policy != nil || r.failed() != 1 || !strings.Contains(r.Cases[0].Failures[0], "has errors (1); no case runs") {
		t.Errorf("result %+v", r.Cases)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a/ork-test.yaml", "a/b/ork-test.yaml", "c/other.yaml"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Find([]string{filepath.Join(dir, "a"), filepath.Join(dir, "c", "other.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a/b/ork-test.yaml"), filepath.Join(dir, "a/ork-test.yaml"), filepath.Join(dir, "c/other.yaml")}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Find = %q, want %q", got, want)
	}
	if _, err := Find([]string{filepath.Join(dir, "c")}); err == nil || !strings.Contains(err.Error(), "holds no ork-test.yaml") {
		t.Errorf("a directory without suites: %v", err)
	}
	if _, err := Find([]string{filepath.Join(dir, "nope")}); err == nil {
		t.Error("a missing path found")
	}
}
