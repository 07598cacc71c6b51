package main

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzAssemble: any pair of inputs gives an error or a Katalog that parses
// again, with the demo's URL and the website entry in place; never a panic.
func FuzzAssemble(f *testing.F) {
	f.Add(readExample(f, "gateway", "katalog.yaml"), readExample(f, "website", "katalog.yaml"))
	f.Fuzz(func(t *testing.T, gw, web []byte) {
		out, err := assembleKatalog(gw, web, testSettings)
		if err != nil {
			return
		}
		root, err := parseDoc("out", out)
		if err != nil {
			t.Fatalf("the assembled Katalog does not parse: %v\n%s", err, out)
		}
		if u := lookup(lookup(root, "gateway"), "url"); u == nil || u.Value != testSettings.URL {
			t.Fatalf("gateway.url is %v in\n%s", u, out)
		}
		if lookup(lookup(lookup(root, "spec"), "crds"), "website") == nil {
			t.Fatalf("no spec.crds.website in\n%s", out)
		}
		if p := lookup(lookup(lookup(lookup(root, "notification"), "email"), "smtp"), "port"); p == nil || p.Value != "2525" {
			t.Fatalf("smtp port %v in\n%s", p, out)
		}
		var v map[string]any
		if err := yaml.Unmarshal(out, &v); err != nil {
			t.Fatalf("the assembled Katalog is not plain YAML: %v", err)
		}
	})
}
