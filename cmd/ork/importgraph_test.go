package main

import (
	"bytes"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/orkspace/orkestra-gateway"

// forbidden lists what the gateway image must never link: the machinery of
// controllers (the gateway is stateless: no informers, caches, workqueues or
// typed clientsets) and the project's toolchain-only packages. Each entry
// matches that package and every package under it.
var forbidden = []forbiddenPkg{
	{path: "k8s.io/client-go/informers"},
	{path: "k8s.io/client-go/tools/cache"},
	// client-go's transport keeps a workqueue to reload rotated client
	// certificates. client-go's rest imports it, but the gateway builds its
	// HTTP client itself (internal/kubeclient), so none of it is linked:
	// TestGatewaySymbols holds every entry of this list to the symbol table.
	{path: "k8s.io/client-go/util/workqueue", via: []string{"k8s.io/client-go/transport"}},
	{path: "k8s.io/client-go/kubernetes"}, // the clientset, kubernetes/scheme and kubernetes/typed/...
	{path: "sigs.k8s.io/controller-runtime"},
	// JSONPatch is applied by `ork gateway eval` only: the gateway answers
	// with patches, it never applies one.
	{path: "github.com/evanphx/json-patch"},
	{path: "gopkg.in/evanphx/json-patch.v4"},
	// The native engine writes CEL for the API server to evaluate: the
	// gateway never evaluates it, so it links no CEL interpreter.
	{path: "github.com/google/cel-go"},
	{path: "cel.dev"},
	{path: module + "/internal/report"},
	{path: module + "/internal/bundle"},
	{path: module + "/internal/testenv"},
	{path: module + "/internal/eval"},
	{path: module + "/internal/suite"},
	{path: module + "/internal/audit"},
	// kubeconfig handling is the toolchain's (ork audit); the gateway
	// reads its in-cluster configuration only.
	// (client-go's rest links only its types, clientcmd/api).
	{path: "k8s.io/client-go/tools/clientcmd", exact: true},
	// CEL rules are evaluated by the API server: the gateway links no CEL
	// interpreter (the toolchain type-checks and evaluates them locally).
	{path: module + "/internal/celeval"},
	{path: "github.com/google/cel-go"},
	{path: "cel.dev"},
	// The gateway build parses its command line itself (cli_gateway.go):
	// cobra's help templates would link text/template's executor.
	{path: "github.com/spf13/cobra"},
	// Templates run in internal/tmpl over text/template/parse trees: the
	// executor of text/template (and html/template on top of it) calls
	// methods by name, which keeps every exported method in the binary.
	{path: "text/template", exact: true},
	{path: "html/template"},
	// /metrics is internal/metrics: the Prometheus client library links a
	// protobuf runtime, procfs and its generic collector machinery (about
	// 2 MB of the binary). The toolchain keeps it (Kubernetes libraries
	// use it), the tests read the exposition with its parser and lint.
	{path: "github.com/prometheus/client_golang"},
	{path: "github.com/prometheus/client_model"},
	{path: "github.com/prometheus/common"},
	{path: "github.com/prometheus/procfs"},
}

type forbiddenPkg struct {
	path string
	// via lists the only packages allowed to import it (library internals
	// the gateway cannot avoid); empty means none. Being imported is not
	// being linked: no symbol of any entry may be in the binary.
	via []string
	// exact matches the package only, not those under it.
	exact bool
}

func (f forbiddenPkg) matches(pkg string) bool {
	return pkg == f.path || (!f.exact && strings.HasPrefix(pkg, f.path+"/"))
}

// violations returns, for a build's import graph (package -> its imports),
// every forbidden package it links, with the packages that import it. Inside
// a forbidden tree only the packages imported from outside it are reported.
func violations(graph map[string][]string) []string {
	var bad []string
	pkgs := slices.Sorted(maps.Keys(graph))
	for _, pkg := range pkgs {
		i := slices.IndexFunc(forbidden, func(f forbiddenPkg) bool { return f.matches(pkg) })
		if i < 0 {
			continue
		}
		f := forbidden[i]
		var outside, within []string
		for _, from := range pkgs {
			switch {
			case !slices.Contains(graph[from], pkg):
			case f.matches(from):
				within = append(within, from)
			case !slices.Contains(f.via, from):
				outside = append(outside, from)
			}
		}
		if len(outside) > 0 || (len(within) == 0 && !importedVia(graph, pkg, f)) {
			bad = append(bad, fmt.Sprintf("%s (imported by %s)", pkg, strings.Join(outside, ", ")))
		}
	}
	return bad
}

// importedVia reports whether an allowed importer of f imports pkg.
func importedVia(graph map[string][]string, pkg string, f forbiddenPkg) bool {
	for _, from := range f.via {
		if slices.Contains(graph[from], pkg) {
			return true
		}
	}
	return false
}

func TestViolations(t *testing.T) {
	// What every rest client links: allowed.
	clean := map[string][]string{
		module + "/cmd/ork":               {"fmt", "k8s.io/client-go/rest"},
		"k8s.io/client-go/rest":           {"k8s.io/client-go/transport"},
		"k8s.io/client-go/transport":      {"k8s.io/client-go/util/workqueue"},
		"k8s.io/client-go/util/workqueue": nil,
		module + "/internal/reporter":     nil, // not under internal/report
		"k8s.io/client-go/kubernetesx":    nil, // not under kubernetes
		"fmt":                             nil,
	}
	if got := violations(clean); len(got) > 0 {
		t.Errorf("violations in a clean graph: %q", got)
	}

	leaky := maps.Clone(clean)
	leaky[module+"/cmd/ork"] = []string{"fmt", "k8s.io/client-go/rest", module + "/internal/report", "example.com/lib"}
	leaky[module+"/internal/report"] = nil
	leaky["example.com/lib"] = []string{"k8s.io/client-go/kubernetes", "k8s.io/client-go/util/workqueue", "sigs.k8s.io/controller-runtime/pkg/client", "github.com/google/cel-go/cel"}
	leaky["github.com/google/cel-go/cel"] = []string{"cel.dev/expr"}
	leaky["cel.dev/expr"] = nil
	leaky["k8s.io/client-go/kubernetes"] = []string{"k8s.io/client-go/kubernetes/scheme"}
	leaky["k8s.io/client-go/kubernetes/scheme"] = nil
	leaky["sigs.k8s.io/controller-runtime/pkg/client"] = nil
	want := []string{
		"cel.dev/expr (imported by github.com/google/cel-go/cel)",
		"github.com/google/cel-go/cel (imported by example.com/lib)",
		module + "/internal/report (imported by " + module + "/cmd/ork)",
		"k8s.io/client-go/kubernetes (imported by example.com/lib)",
		"k8s.io/client-go/util/workqueue (imported by example.com/lib)",
		"sigs.k8s.io/controller-runtime/pkg/client (imported by example.com/lib)",
	}
	if got := violations(leaky); !slices.Equal(got, want) {
		t.Errorf("violations =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// importGraph returns the packages the build with tags links into ./cmd/ork,
// each with its imports.
func importGraph(t *testing.T, tags string) map[string][]string {
	t.Helper()
	args := []string{"list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, ".")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	graph := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		graph[f[0]] = f[1:]
	}
	return graph
}

// The gateway image links none of the forbidden packages.
func TestGatewayImportGraph(t *testing.T) {
	graph := importGraph(t, "gateway")
	// The list must be the real graph: it holds the command and its flags.
	for _, want := range []string{module + "/cmd/ork", "github.com/spf13/pflag"} {
		if _, ok := graph[want]; !ok {
			t.Fatalf("go list -deps -tags gateway lacks %s; got %d packages", want, len(graph))
		}
	}
	if bad := violations(graph); len(bad) > 0 {
		t.Errorf("the gateway build links forbidden packages:\n  %s\n(see the forbidden list in importgraph_test.go)",
			strings.Join(bad, "\n  "))
	}
}

// The check is not vacuous: the toolchain build does link a forbidden
// (toolchain-only) package.
func TestToolchainImportGraph(t *testing.T) {
	bad := violations(importGraph(t, ""))
	for _, pkg := range []string{module + "/internal/report", module + "/internal/celeval", module + "/internal/eval", module + "/internal/suite", module + "/internal/audit", "k8s.io/client-go/tools/clientcmd", "github.com/google/cel-go/cel", "github.com/spf13/cobra"} {
		if !slices.ContainsFunc(bad, func(v string) bool { return strings.HasPrefix(v, pkg+" ") }) {
			t.Errorf("the toolchain build does not link %s; the import-graph test would not notice a leak", pkg)
		}
	}
}

// Each build lists exactly its commands in help.
func TestCommandsPerBuild(t *testing.T) {
	cases := []struct {
		name string
		bin  func(*testing.T) string
		want []string
	}{
		{"gateway", gateway, []string{"gateway", "version"}},
		{"toolchain", toolchain, []string{"audit", "completion", "gateway", "generate", "test", "validate", "version"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runBin(t, c.bin(t), t.TempDir(), "--help")
			if r.code != 0 {
				t.Fatalf("ork --help: exit %d\n%s", r.code, r.stderr)
			}
			if got := commandNames(r.stdout); !slices.Equal(got, c.want) {
				t.Errorf("%s build lists commands %q, want %q\n%s", c.name, got, c.want, r.stdout)
			}
		})
	}
}

func TestCommandNames(t *testing.T) {
	help := "Usage:\n  ork [command]\n\nAvailable Commands:\n  gateway     Run\n  version     Print\n\nFlags:\n  -h, --help\n"
	if got, want := commandNames(help), []string{"gateway", "version"}; !slices.Equal(got, want) {
		t.Errorf("commandNames = %q, want %q", got, want)
	}
}

// The handlers decide from the request alone: the packages that answer
// webhook calls never link an API client. Everything the API server holds
// for the gateway is package registration's.
func TestHandlersLinkNoAPIClient(t *testing.T) {
	graph := importGraph(t, "gateway")
	for _, handler := range []string{module + "/internal/admission", module + "/internal/conversion"} {
		if _, ok := graph[handler]; !ok {
			t.Fatalf("%s is not in the gateway build", handler)
		}
		seen := map[string]bool{}
		var walk func(pkg string, path []string)
		walk = func(pkg string, path []string) {
			if seen[pkg] {
				return
			}
			seen[pkg] = true
			if strings.HasPrefix(pkg, "k8s.io/client-go/") {
				t.Errorf("%s links the API client %s through %s", handler, pkg, strings.Join(path, " -> "))
				return
			}
			for _, imp := range graph[pkg] {
				walk(imp, append(path, imp))
			}
		}
		walk(handler, []string{handler})
	}
}
