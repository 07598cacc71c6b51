package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docs/architecture.md's package diagram names every internal package that
// either build of ork links, so a new package cannot go unmapped.
func TestArchitectureNamesEveryPackage(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```mermaid\n(flowchart.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/architecture.md has no Mermaid flowchart")
	}
	diagram := string(m[1])
	const mod = "github.com/orkspace/orkestra-gateway/"
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
