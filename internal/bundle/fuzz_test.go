package bundle

import (
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// FuzzGenerate: any Katalog the check pass accepts gives a bundle whose
// documents decode strictly, that holds the Katalog verbatim and grants no
// wildcard; nothing panics.
func FuzzGenerate(f *testing.F) {
	f.Add([]byte(header + "metadata:\n  name: guard\nsecurity:\n  deletionProtection: {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A directory that does not exist: crdFiles cannot be read (K06),
		// and no file system work slows the fuzzer down.
		name := filepath.Join(string(filepath.Separator), "nonexistent-orkestra-fuzz", "katalog.yaml")
		src, res, err := Parse(name, data)
		if res == nil {
			t.Fatal("Parse returned no result")
		}
		if src == nil {
			if err == nil && res.Errors() == 0 {
				t.Fatal("a valid Katalog gave no source")
			}
			return
		}
		b, err := Generate(src, Options{Image: goldenImage})
		if err != nil {
			// Only input the API server could not take is refused.
			for _, ok := range []string{"UTF-8", "ConfigMap", "namespace"} {
				if strings.Contains(err.Error(), ok) {
					return
				}
			}
			t.Fatalf("Generate: %v", err)
		}
		if len(b.Objects) != 11 {
			t.Fatalf("%d objects", len(b.Objects))
		}
		for _, o := range b.Objects {
			var v map[string]any
			if err := sigsyaml.Unmarshal(o.YAML, &v); err != nil || v["kind"] != o.Kind {
				t.Fatalf("%s does not read back: %v\n%s", o.Kind, err, o.YAML)
			}
		}
		cm := decode[corev1.ConfigMap](t, b, "ConfigMap")
		if cm.Data[KatalogKey] != string(data) {
			t.Fatalf("the ConfigMap holds %q, not the Katalog %q", cm.Data[KatalogKey], data)
		}
		checkLeastPrivilege(t, b)
	})
}

// FuzzCheckImage: no panic, and an accepted reference is one token a
// kubelet could parse.
func FuzzCheckImage(f *testing.F) {
	for _, s := range []string{"ghcr.io/orkspace/orkestra-gateway:v1", "localhost:5000/gw@sha256:" + strings.Repeat("a", 64), "Gw", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		if CheckImage(ref) != nil {
			return
		}
		if ref == "" || strings.ContainsAny(ref, " \t\r\n") || strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ":") || strings.HasPrefix(ref, "@") || strings.HasSuffix(ref, ":") {
			t.Errorf("accepted %q", ref)
		}
	})
}
