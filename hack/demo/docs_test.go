package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const mod = "github.com/orkspace/orkestra-gateway/"

// packageDiagram is the Mermaid flowchart of docs/architecture.md.
func packageDiagram(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```mermaid\n(flowchart.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/architecture.md has no Mermaid flowchart")
	}
	return string(m[1])
}

// docs/architecture.md's package diagram names every internal package that
// either build of ork links, so a new package cannot go unmapped.
func TestArchitectureNamesEveryPackage(t *testing.T) {
	diagram := packageDiagram(t)
	for _, tags := range []string{"", "gateway"} {
		out, err := exec.Command("go", "list", "-tags", tags, "-deps", "-f", "{{.ImportPath}}", mod+"cmd/ork").Output()
		if err != nil {
			t.Fatalf("go list -deps -tags %q: %v", tags, err)
		}
		for _, p := range strings.Fields(string(out)) {
			name, ok := strings.CutPrefix(p, mod+"internal/")
			if !ok {
				continue
			}
			if !regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\["`).MatchString(diagram) {
				t.Errorf("internal/%s (linked with -tags %q) is not a node of the package diagram", name, tags)
			}
		}
	}
}

// The diagram's arrows are exactly the imports between the packages it
// shows: each arrow is an import, and each import an arrow. gw stands for
// the files of cmd/ork in both builds, tc for those of the toolchain build
// only.
func TestArchitectureArrowsAreImports(t *testing.T) {
	diagram := packageDiagram(t)
	drawn := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(\w+) --> (\w+)\s*$`).FindAllStringSubmatch(diagram, -1) {
		drawn[m[1]+" --> "+m[2]] = true
	}
	imports := func(tags, pkg string) []string {
		t.Helper()
		out, err := exec.Command("go", "list", "-tags", tags, "-f", `{{join .Imports "\n"}}`, mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list -tags %q %s: %v", tags, pkg, err)
		}
		var names []string
		for _, p := range strings.Fields(string(out)) {
			if name, ok := strings.CutPrefix(p, mod+"internal/"); ok {
				names = append(names, name)
			}
		}
		return names
	}
	imported := map[string]bool{}
	gw := map[string]bool{}
	for _, p := range imports("gateway", "cmd/ork") {
		gw[p] = true
		imported["gw --> "+p] = true
	}
	for _, p := range imports("", "cmd/ork") {
		if !gw[p] {
			imported["tc --> "+p] = true
		}
	}
	out, err := exec.Command("go", "list", "-tags", "gateway", "-deps", "-f", "{{.ImportPath}}", mod+"cmd/ork").Output()
	if err != nil {
		t.Fatal(err)
	}
	toolchain, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", mod+"cmd/ork").Output()
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, p := range strings.Fields(string(out) + " " + string(toolchain)) {
		if name, ok := strings.CutPrefix(p, mod+"internal/"); ok && !linked[name] {
			linked[name] = true
			for _, q := range imports("", "internal/"+name) {
				imported[name+" --> "+q] = true
			}
		}
	}
	for a := range drawn {
		if !imported[a] {
			t.Errorf("the diagram draws %s, which is no import: remove the arrow", a)
		}
	}
	for a := range imported {
		if !drawn[a] {
			t.Errorf("%s is an import the diagram does not draw: add the arrow", a)
		}
	}
}
