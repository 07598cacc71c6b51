package tmpl

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"text/template"
)

var testFuncs = FuncMap{
	"up":   strings.ToUpper,
	"fail": func() (string, error) { return "", errors.New("boom") },
}

var testData = map[string]any{
	"s": "hello", "n": 3.5, "i": int64(4), "b": true, "nil": nil,
	"l": []any{"a", int64(2), map[string]any{"k": "v"}},
	"m": map[string]any{"z": 1.0, "a": "x", "k": []any{}},
}

// The evaluator gives what text/template gives with missingkey=default.
func TestSameAsTextTemplate(t *testing.T) {
	for _, text := range []string{
		`{{ .s }} {{ .n }} {{ .i }} {{ .b }} {{ .nil }} {{ .missing }} {{ .missing.deeper }}`,
		`{{ range $i, $v := .l }}{{ $i }}={{ $v }};{{ end }}`,
		`{{ range $k, $v := .m }}{{ $k }}:{{ $v }},{{ else }}none{{ end }}`,
		`{{ range .m.k }}x{{ else }}empty{{ end }}`,
		`{{ range 3 }}{{ . }}{{ end }}`,
		`{{ range .l }}{{ if eq (printf "%v" .) "a" }}{{ continue }}{{ end }}{{ . }}{{ break }}{{ end }}`,
		`{{ with .m }}{{ .a }}{{ end }}{{ with .nil }}no{{ else with .s }}{{ . }}{{ end }}`,
		`{{ if and .b .s }}{{ or .nil .i }}{{ end }} {{ not .b }}`,
		`{{ len .l }} {{ index .l 2 "k" }} {{ slice .s 1 3 }} {{ index .m "a" }}`,
		`{{ eq .i 4 }} {{ lt .n 4.0 }} {{ ne .s "x" }} {{ ge 2 1 }} {{ le "a" "b" }} {{ gt 1.5 2.5 }}`,
		`{{ printf "%05.1f|%q|%v" .n .s .l }} {{ print .s 1 2 }} {{ println .b }}`,
		`{{ html "<a href='x'>" }} {{ js "a'b\"<" }} {{ urlquery "a b&c" }}`,
		`{{ $x := 1 }}{{ $x = 2 }}{{ $x }} {{ .s | up | printf "%s!" }}`,
		`{{ define "d" }}[{{ . }}]{{ end }}{{ template "d" .s }}{{ block "b" .i }}<{{ . }}>{{ end }}`,
		`{{/* comment */}}{{- .s -}} x`,
		`{{ (index .l 2).k }} {{ .m.a | len }}`,
	} {
		want := runTextTemplate(t, text, testData)
		got, err := mustParse(t, text).Render(testData, Budget{})
		if err != nil {
			t.Errorf("%s: %v (text/template: %q)", text, err, want)
			continue
		}
		if got != want {
			t.Errorf("%s:\n got %q\nwant %q", text, got, want)
		}
	}
}

func TestErrorsLikeTextTemplate(t *testing.T) {
	for _, text := range []string{
		`{{ .nil.x }}`, `{{ .s.x }}`, `{{ index .l 9 }}`, `{{ fail }}`, `{{ template "nope" }}`,
		`{{ eq .s 1 }}`, `{{ lt .b .b }}`, `{{ up 1 }}`, `{{ len .i }}`, `{{ range .i.x }}{{ end }}`,
	} {
		_, terr := template.New("t").Option("missingkey=default").Funcs(template.FuncMap(testFuncs)).Parse(text)
		if terr != nil {
			t.Fatalf("%s: %v", text, terr)
		}
		var b strings.Builder
		terr = template.Must(template.New("t").Option("missingkey=default").Funcs(template.FuncMap(testFuncs)).Parse(text)).Execute(&b, testData)
		_, err := mustParse(t, text).Render(testData, Budget{})
		if (err == nil) != (terr == nil) || (err != nil && err.Error() != terr.Error()) {
			t.Errorf("%s:\n got %v\nwant %v", text, err, terr)
		}
	}
}

// Methods are data's business, never the template's.
type withMethod struct{ Name string }

func (withMethod) Secret() string { return "called" }

func TestNoMethodCalls(t *testing.T) {
	got, err := mustParse(t, `{{ .Name }}`).Render(withMethod{Name: "n"}, Budget{})
	if err != nil || got != "n" {
		t.Errorf("field: %q %v", got, err)
	}
	if _, err := mustParse(t, `{{ .Secret }}`).Render(withMethod{}, Budget{}); err == nil || !strings.Contains(err.Error(), "can't evaluate field Secret") {
		t.Errorf("method call: %v", err)
	}
}

func TestBudgets(t *testing.T) {
	list := make([]any, 1000)
	cases := []struct {
		name, text string
		data       any
		b          Budget
		what       string
	}{
		{"nested ranges", `{{ range .l }}{{ range $.l }}{{ range $.l }}{{ end }}{{ end }}{{ end }}`, map[string]any{"l": list}, Budget{Steps: 10_000}, "steps"},
		{"recursion", `{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}`, nil, Budget{}, ""},
		{"range over a huge int", `{{ range 1000000000000 }}{{ end }}`, nil, Budget{Steps: 1000}, "steps"},
		{"output", `{{ range .l }}0123456789{{ end }}`, map[string]any{"l": list}, Budget{Output: 100}, "bytes of output"},
		{"printf width", `{{ printf "%0999999999d" 1 }}`, nil, Budget{Alloc: 1 << 20}, ""},
		{"printf star", `{{ printf "%*d" 999999999 1 }}`, nil, Budget{Alloc: 1 << 20}, ""},
		{"doubling", `{{ $s := "xxxxxxxxxxxxxxxx" }}{{ range .l }}{{ $s = printf "%s%s" $s $s }}{{ end }}`, map[string]any{"l": list}, Budget{Alloc: 1 << 20}, "bytes of function results"},
	}
	for _, c := range cases {
		_, err := mustParse(t, c.text).Render(c.data, c.b)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		var be *budgetError
		if c.what != "" && (!errors.As(err, &be) || be.What != c.what) {
			t.Errorf("%s: %v, want a budget of %s", c.name, err, c.what)
		}
	}
}

func mustParse(t testing.TB, text string) *Template {
	t.Helper()
	tm, err := Parse("t", text, testFuncs)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return tm
}

func runTextTemplate(t testing.TB, text string, data any) string {
	t.Helper()
	tm, err := template.New("t").Option("missingkey=default").Funcs(template.FuncMap(testFuncs)).Parse(text)
	if err != nil {
		t.Fatalf("text/template %s: %v", text, err)
	}
	var b strings.Builder
	if err := tm.Execute(&b, data); err != nil {
		t.Fatalf("text/template %s: %v", text, err)
	}
	return b.String()
}

// FuzzAgainstTextTemplate: where text/template and the evaluator both
// finish (the evaluator within a generous budget), they print the same and
// fail alike.
func FuzzAgainstTextTemplate(f *testing.F) {
	for _, s := range []string{
		`{{ .s }}`, `{{ range .l }}{{ . }}{{ end }}`, `{{ index .m "a" }}`, `{{ printf "%d-%s" .i .s }}`,
		`{{ if .nil }}a{{ else if .b }}b{{ end }}`, `{{ with $x := .l }}{{ len $x }}{{ end }}`,
		`{{ eq .n 3.5 }}`, `{{ .missing.x }}`, `{{ slice .l 1 }}`, `{{ html .s }}{{ js .l }}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 200 || strings.Contains(text, "range") && strings.Count(text, "range") > 2 {
			return // keep text/template's side bounded too
		}
		tt, terr := template.New("t").Option("missingkey=default").Funcs(template.FuncMap(testFuncs)).Parse(text)
		ours, err := Parse("t", text, testFuncs)
		if (terr == nil) != (err == nil) {
			t.Fatalf("parse %q: text/template %v, ours %v", text, terr, err)
		}
		if err != nil {
			return
		}
		if strings.Contains(text, "call") || strings.Contains(text, "printf") && strings.Contains(text, "*") {
			return
		}
		got, err := ours.Render(testData, Budget{Steps: 10_000, Output: 1 << 16, Alloc: 1 << 20})
		var be *budgetError
		if errors.As(err, &be) {
			return // within budget only
		}
		var b strings.Builder
		terr = tt.Execute(&b, testData)
		if (err == nil) != (terr == nil) {
			t.Fatalf("execute %q: text/template %v (%q), ours %v (%q)", text, terr, b.String(), err, got)
		}
		if err == nil && got != b.String() {
			t.Fatalf("execute %q: text/template %q, ours %q", text, b.String(), got)
		}
		if err != nil && err.Error() != terr.Error() && !strings.Contains(terr.Error(), "depth") {
			t.Fatalf("execute %q: text/template %q, ours %q", text, terr, fmt.Sprint(err))
		}
	})
}
