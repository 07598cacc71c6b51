package bundle

import (
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/orkspace/orkestra-gateway/internal/policy"
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
		src, res, err := parse(name, data)
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
		want := 11
		if src.Policy.Certs.Source == policy.CertsCertManager {
			want++ // the serving Certificate
			if src.Policy.Certs.IssuerRef == nil {
				want += 3 // and its self-signed Issuer, CA Certificate and CA Issuer
			}
		}
		if len(b.Objects) != want {
			t.Fatalf("%d objects, want %d", len(b.Objects), want)
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

		// The chart of the same Katalog: values.yaml holds it byte for byte
		// (GenerateChart checks) and every template escapes the text of
		// the objects.
		c, err := GenerateChart(src, Options{Image: goldenImage}, ChartOptions{Version: "1.0.0"})
		if err != nil {
			t.Fatalf("GenerateChart: %v", err)
		}
		for _, f := range c.Files {
			if strings.HasPrefix(f.Path, "templates/") && strings.Contains(string(f.Data), "__HELM_") {
				t.Fatalf("%s keeps a placeholder:\n%s", f.Path, f.Data)
			}
		}
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

// FuzzDefaultImage: no "latest", and a default image is always a
// reference the kubelet can pull; a development version has none.
func FuzzDefaultImage(f *testing.F) {
	for _, s := range []string{"v1.2.3", "v1.2.3-rc.1", "v1.2.3-4-gabcdef0-dirty", "(devel)", "", "v0.0.0-20260101120000-abcdef012345", "latest", "v01.2.3"} {
		f.Add(s, "")
	}
	f.Add("(devel)", "ghcr.io/orkspace/orkestra-gateway:v1@sha256:"+strings.Repeat("a", 64))
	f.Fuzz(func(t *testing.T, version, built string) {
		ref, err := DefaultImage(version, built)
		if err != nil {
			if ref != "" {
				t.Fatalf("an error and %q", ref)
			}
			return
		}
		if CheckImage(ref) != nil || strings.HasSuffix(ref, ":latest") && built == "" {
			t.Fatalf("DefaultImage(%q, %q) = %q", version, built, ref)
		}
		if built == "" && !releaseVersion(version) {
			t.Fatalf("a default image for development version %q", version)
		}
		if v := ChartVersion(version); !semverRE.MatchString(v) {
			t.Fatalf("ChartVersion(%q) = %q, not SemVer", version, v)
		}
	})
}
