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

// The linked gateway binary has no text/template executor: the Katalog's
// templates run in internal/tmpl (over text/template/parse trees), the
// command line has no help templates and email is written without
// html/template.
func TestGatewayTextTemplateExecutor(t *testing.T) {
	names := symbols(t, gateway(t))
	var executor, parse int
	for _, n := range names {
		switch {
		case strings.Contains(n, "text/template.(*state)"):
			executor++
		case strings.HasPrefix(n, "text/template/parse."):
			parse++
		}
	}
	if executor > 0 {
		t.Errorf("%d text/template executor symbols ((*state) methods) in the gateway binary", executor)
	}
	if parse == 0 {
		t.Error("no text/template/parse symbol in the gateway binary: is internal/tmpl linked?")
	}
}

// No code the gateway links calls a method by a name known only at run
// time (reflect.Value.MethodByName, or Method with a computed index, as
// text/template does): the linker would then keep every exported method of
// every type that reaches an interface, about 3 MB with the Kubernetes API
// types. The linker marks such callers <ReflectMethod> in its dependency dump.
func TestGatewayKeepsNoMethodsForReflection(t *testing.T) {
	cmd := exec.Command("go", "build", "-tags", "gateway", "-ldflags=-dumpdep", "-o", filepath.Join(t.TempDir(), "ork-gateway"), ".")
	var deps strings.Builder
	cmd.Stdout, cmd.Stderr = &deps, &deps
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build -ldflags=-dumpdep: %v", err)
	}
	edges := strings.Split(deps.String(), "\n")
	if len(edges) < 1000 {
		t.Fatalf("the linker's dependency dump has %d lines:\n%s", len(edges), deps.String())
	}
	seen := map[string]bool{}
	for _, e := range edges {
		for _, sym := range strings.Split(e, " -> ") {
			if name, ok := strings.CutSuffix(sym, " <ReflectMethod>"); ok && !seen[name] {
				seen[name] = true
				t.Errorf("%s calls a method by a name known at run time", name)
			}
		}
	}
}
