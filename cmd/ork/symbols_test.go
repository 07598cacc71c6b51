package main

import (
	"os/exec"
	"strings"
	"testing"
)

// symbols returns the names in bin's symbol table (go tool nm).
func symbols(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm %s: %v", bin, err)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		// address, kind, name (which may hold spaces: struct types)
		if f := strings.Fields(l); len(f) >= 3 {
			names = append(names, strings.Join(f[2:], " "))
		}
	}
	return names
}

// symbolsOf returns the symbols that belong to or mention pkg (functions,
// methods, types, itabs, generic instantiations over its types), and unless
// exact those of the packages under it.
func symbolsOf(names []string, pkg string, exact bool) []string {
	var got []string
	for _, n := range names {
		if strings.Contains(n, pkg+".") || (!exact && strings.Contains(n, pkg+"/")) {
			got = append(got, n)
		}
	}
	return got
}

// linkedAPIMachinery are the functions of client-go that build its own
// transport (and with it client-certificate rotation, exec credential
// plugins and the workqueue): the gateway hands client-go an HTTP client
// it built, so none of them may be reachable.
var linkedAPIMachinery = []string{
	"k8s.io/client-go/transport.New",
	"k8s.io/client-go/rest.HTTPClientFor",
	"k8s.io/client-go/rest.TransportFor",
	"k8s.io/client-go/rest.RESTClientFor",
	"k8s.io/client-go/dynamic.NewForConfig",
	"k8s.io/client-go/rest.InClusterConfig",
}

// The linked gateway binary holds no symbol of a forbidden package (the
// import graph says what may be linked, the symbol table what is: a
// package imported only through dead code leaves nothing), and none of
// client-go's transport construction.
func TestGatewaySymbols(t *testing.T) {
	names := symbols(t, gateway(t))
	// Not vacuous: the table holds the API client the gateway does use.
	for _, want := range []string{"k8s.io/client-go/dynamic.NewForConfigAndClient", "k8s.io/client-go/rest.UnversionedRESTClientForConfigAndClient"} {
		if !contains(names, want) {
			t.Fatalf("the gateway's symbol table lacks %s (%d symbols): is it the gateway build?", want, len(names))
		}
	}
	for _, f := range forbidden {
		if got := symbolsOf(names, f.path, f.exact); len(got) > 0 {
			t.Errorf("the gateway binary links %d symbols of %s, e.g. %q", len(got), f.path, got[:min(3, len(got))])
		}
	}
	for _, fn := range linkedAPIMachinery {
		if contains(names, fn) {
			t.Errorf("the gateway binary links %s", fn)
		}
	}
	for _, word := range []string{"workqueue", "Informer", "informers", "tools/cache", "controller-runtime"} {
		for _, n := range names {
			if strings.Contains(n, word) {
				t.Errorf("the gateway binary links %s", n)
				break
			}
		}
	}
}

// The symbol check sees what it looks for: the toolchain build, which
// builds client-go's own transport for ork audit, links the workqueue.
func TestToolchainSymbols(t *testing.T) {
	names := symbols(t, toolchain(t))
	if len(symbolsOf(names, "k8s.io/client-go/util/workqueue", false)) == 0 || !contains(names, "k8s.io/client-go/transport.New") {
		t.Error("the toolchain binary links no workqueue and no transport.New; TestGatewaySymbols would not notice them")
	}
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
