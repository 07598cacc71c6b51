package main

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The packages that run the Katalog's templates use the bounded evaluator
// (internal/tmpl): none of this module's packages they link imports
// text/template (text/template/parse is fine). go-mail links html/template
// for its own use; that is reported by the binary test below.
func TestTemplatesDoNotUseTextTemplate(t *testing.T) {
	for _, pkg := range []string{"internal/tmpl", "internal/rules", "internal/notify", "internal/policy", "internal/check", "internal/conversion"} {
		out, err := exec.Command("go", "list", "-deps", "-tags", "gateway", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "../../"+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		found := false
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if f[0] == module+"/"+pkg {
				found = true
			}
			if strings.HasPrefix(f[0], module+"/") && (slices.Contains(f[1:], "text/template") || slices.Contains(f[1:], "html/template")) {
				t.Errorf("%s (linked by %s) imports text/template: Katalog templates run in internal/tmpl", f[0], pkg)
			}
		}
		if !found {
			t.Fatalf("go list -deps %s lacks the package itself", pkg)
		}
	}
}

// The linked gateway binary: text/template's executor ((*state) methods)
// may only come from third-party importers (cobra's help, go-mail's
// html/template), never from a package of this module.
func TestGatewayTextTemplateExecutor(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "ork-gateway")
	build := exec.Command("go", "build", "-tags", "gateway", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags gateway: %v\n%s", err, out)
	}
	nm, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	var executor int
	for _, l := range strings.Split(string(nm), "\n") {
		if strings.Contains(l, "text/template.(*state)") {
			executor++
		}
	}
	graph := importGraph(t, "gateway")
	var importers []string
	for pkg, imports := range graph {
		if slices.Contains(imports, "text/template") || slices.Contains(imports, "html/template") {
			importers = append(importers, pkg)
		}
	}
	slices.Sort(importers)
	t.Logf("text/template executor symbols in the gateway binary: %d; importers of text/template or html/template: %v", executor, importers)
	for _, p := range importers {
		if strings.HasPrefix(p, module+"/") {
			t.Errorf("%s imports text/template or html/template", p)
		}
	}
	if executor > 0 && len(importers) == 0 {
		t.Errorf("%d text/template executor symbols linked, but no package imports it", executor)
	}
	if _, ok := graph[module+"/internal/tmpl"]; !ok {
		t.Error("the gateway build does not link internal/tmpl")
	}
}
