package rules

import (
	"slices"
	"strings"
	"testing"
)

func TestFunctionsListed(t *testing.T) {
	var names []string
	for name := range funcs {
		names = append(names, name)
	}
	slices.Sort(names)
	listed := slices.Sorted(slices.Values(Functions))
	if !slices.Equal(names, listed) {
		t.Errorf("funcs %v, Functions lists %v", names, listed)
	}
}

func TestTemplateFunctions(t *testing.T) {
	data := map[string]any{
		"s":     "  Hello World  ",
		"n":     1234567.0,
		"tiny":  1e-7,
		"huge":  1e21,
		"i":     int64(42),
		"b":     true,
		"l":     []any{"a", 1.0, true},
		"ss":    []string{"x", "y"},
		"m":     map[string]any{"k": "v"},
		"null":  nil,
		"empty": "",
		"ptr":   new(int),
	}
	tests := []struct{ tmpl, want string }{
		{`{{ .s | trim }}`, "Hello World"},
		{`{{ .s | trim | lower }}`, "hello world"},
		{`{{ upper .s }}`, "  HELLO WORLD  "},
		{`{{ .s | trim | trimPrefix "Hello " }}`, "World"},
		{`{{ .s | trim | trimSuffix " World" }}`, "Hello"},
		{`{{ .s | trim | replace "o" "0" }}`, "Hell0 W0rld"},
		{`{{ quote .s }}`, `"  Hello World  "`},
		{`{{ quote .i }}`, `"42"`},
		{`{{ join "-" .l }}`, "a-1-true"},
		{`{{ join "+" .ss }}`, "x+y"},
		{`{{ toJSON .m }}`, `{"k":"v"}`},
		{`{{ toJSON .l }}`, `["a",1,true]`},
		{`{{ .m }}`, `{"k":"v"}`},
		{`{{ .n }} {{ .i }} {{ .b }}`, "1234567 42 true"},
		{`{{ .tiny }} {{ .huge }}`, "1e-07 1e+21"},
		{`{{ upper .n }}`, "1234567"},
		{`[{{ .null }}][{{ .missing }}][{{ .missing.deeper }}]`, "[][][]"},
		{`{{ .null | default "d" }} {{ .empty | default "d" }} {{ .missing | default "d" }} {{ .s | default "d" | trim }}`, "d d d Hello World"},
		{`{{ .i | default 7 }} {{ .b | default false }}`, "42 true"},
		{`{{ empty .null }} {{ empty .empty }} {{ empty .l }} {{ empty .i }}`, "true true false false"},
		{`{{ len .l }} {{ index .l 0 }} {{ printf "%05.1f" .n }}`, "3 a 1234567.0"},
		{`{{ range .l }}<{{ . }}>{{ end }}`, "<a><1><true>"},
		{`{{ with .m }}{{ .k }}{{ else }}none{{ end }}`, "v"},
		{`{{ if .null }}yes{{ else }}{{ .n }}{{ end }}`, "1234567"},
		{`{{ $x := .n }}{{ $x }}`, "1234567"},
		{`{{ define "inner" }}({{ .n }}){{ end }}{{ template "inner" . }}`, "(1234567)"},
		{`{{ .ptr }}`, "0"},
		{`{{/* comment */}}plain`, "plain"},
	}
	for _, tt := range tests {
		tm, err := ParseTemplate("t", tt.tmpl)
		if err != nil {
			t.Errorf("ParseTemplate(%q): %v", tt.tmpl, err)
			continue
		}
		got, err := render(tm, data)
		if err != nil {
			t.Errorf("render(%q): %v", tt.tmpl, err)
			continue
		}
		if got != tt.want {
			t.Errorf("render(%q) = %q, want %q", tt.tmpl, got, tt.want)
		}
	}
}

func TestTemplateErrors(t *testing.T) {
	parse := []struct{ tmpl, want string }{
		{`{{ .a | nope }}`, `function "nope" not defined`},
		{`{{ sprig }}`, `function "sprig" not defined`},
		{`{{ if .a }}`, "unexpected EOF"},
		{`{{ .a `, "unclosed action"},
	}
	for _, tt := range parse {
		_, err := ParseTemplate("msg", tt.tmpl)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseTemplate(%q) error = %v, want %q", tt.tmpl, err, tt.want)
		}
	}
	exec := []struct{ tmpl, want string }{
		{`{{ .null.x }}`, "nil pointer evaluating"},
		{`{{ .s.x }}`, "can't evaluate field x"},
		{`{{ toJSON .f }}`, "unsupported type"},
	}
	for _, tt := range exec {
		tm, err := ParseTemplate("msg", tt.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		_, err = render(tm, map[string]any{"null": nil, "s": "str", "f": func() {}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("render(%q) error = %v, want %q", tt.tmpl, err, tt.want)
		}
	}
}
