package katalog

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadCRD(t *testing.T) {
	crd, resolved, err := LoadCRD("testdata/katalog.yaml", "./crds/website.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("testdata", "crds", "website.yaml"); resolved != want {
		t.Errorf("resolved = %q, want %q", resolved, want)
	}
	if crd.Name != "websites.web.example.com" || crd.Spec.Group != "web.example.com" ||
		crd.Spec.Names.Kind != "Website" || crd.Spec.Names.Plural != "websites" || crd.Spec.Scope != "Namespaced" {
		t.Errorf("identity = %s %s %s %s %s", crd.Name, crd.Spec.Group, crd.Spec.Names.Kind, crd.Spec.Names.Plural, crd.Spec.Scope)
	}
	var names []string
	for _, v := range crd.Spec.Versions {
		names = append(names, v.Name)
	}
	if strings.Join(names, ",") != "v1,v2,v3alpha1" {
		t.Fatalf("versions = %v, want v1,v2,v3alpha1", names)
	}
	v1, v2, v3 := crd.Spec.Versions[0], crd.Spec.Versions[1], crd.Spec.Versions[2]
	if v1.Storage || !v2.Storage || v3.Served || !v3.Deprecated {
		t.Errorf("served/storage flags wrong: %+v", crd.Spec.Versions)
	}
	if v1.Schema == nil || v1.Schema.OpenAPIV3Schema.Properties["spec"].Properties["size"].Type != "integer" {
		t.Errorf("v1 schema lost: %+v", v1.Schema)
	}
	replicas := v2.Schema.OpenAPIV3Schema.Properties["spec"].Properties["replicas"]
	if replicas.Maximum == nil || *replicas.Maximum != 10 {
		t.Errorf("v2 replicas schema = %+v, want maximum 10", replicas)
	}
	if v2.Subresources == nil || v2.Subresources.Status == nil {
		t.Error("v2 status subresource lost")
	}
	if p := v3.Schema.OpenAPIV3Schema.XPreserveUnknownFields; p == nil || !*p {
		t.Error("v3alpha1 x-kubernetes-preserve-unknown-fields lost")
	}
}

func TestLoadCRDPaths(t *testing.T) {
	fixture, err := os.ReadFile("testdata/crds/website.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{"katalogs", "crds"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	crdPath := filepath.Join(dir, "crds", "w.yaml")
	if err := os.WriteFile(crdPath, fixture, 0o644); err != nil {
		t.Fatal(err)
	}
	katalog := filepath.Join(dir, "katalogs", "k.yaml")
	tests := []struct{ katalog, crdFile string }{
		{katalog, "../crds/w.yaml"},                   // relative to the Katalog, not the working directory
		{filepath.Join(dir, "k.yaml"), "crds/w.yaml"}, // same directory
		{"elsewhere/k.yaml", crdPath},                 // absolute: as is
		{katalog, "../crds/../crds/./w.yaml"},         // cleaned
	}
	for _, tt := range tests {
		crd, resolved, err := LoadCRD(tt.katalog, tt.crdFile)
		if err != nil {
			t.Errorf("LoadCRD(%q, %q): %v", tt.katalog, tt.crdFile, err)
			continue
		}
		if resolved != crdPath {
			t.Errorf("LoadCRD(%q, %q) resolved %q, want %q", tt.katalog, tt.crdFile, resolved, crdPath)
		}
		if len(crd.Spec.Versions) != 3 {
			t.Errorf("got %d versions", len(crd.Spec.Versions))
		}
	}
}

func TestLoadCRDErrors(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte("apiVersion: apiextensions.k8s.io/v1\n"+strings.Repeat("#", MaxFileSize)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		crdFile  string
		resolved string
		want     string
	}{
		{"", "", "crdFile is empty"},
		{"crds/missing.yaml", "testdata/crds/missing.yaml", "no such file"},
		{"crds", "testdata/crds", "is a directory"},
		{"crds/website-v1beta1.yaml", "testdata/crds/website-v1beta1.yaml",
			`testdata/crds/website-v1beta1.yaml: apiVersion is "apiextensions.k8s.io/v1beta1", want apiextensions.k8s.io/v1 (v1beta1 CRDs were removed in Kubernetes 1.22)`},
		{"crds/deployment.yaml", "testdata/crds/deployment.yaml",
			`testdata/crds/deployment.yaml: kind is "Deployment", want CustomResourceDefinition`},
		{"crds/two-docs.yaml", "testdata/crds/two-docs.yaml",
			`testdata/crds/two-docs.yaml: holds more than one YAML document (a second starts at line 5); want exactly one CustomResourceDefinition`},
		{"crds/unknown-field.yaml", "testdata/crds/unknown-field.yaml", `testdata/crds/unknown-field.yaml: invalid CustomResourceDefinition: unknown field "version"`},
		{"crds/empty.yaml", "testdata/crds/empty.yaml", "testdata/crds/empty.yaml: empty file; want a CustomResourceDefinition"},
		{"full.yaml", "testdata/full.yaml", `testdata/full.yaml: kind is "Katalog", want CustomResourceDefinition`},
		{big, big, "file is larger than 4 MiB"},
	}
	for _, tt := range tests {
		crd, resolved, err := LoadCRD("testdata/katalog.yaml", tt.crdFile)
		if err == nil || crd != nil {
			t.Errorf("LoadCRD(%q) = %v, %v; want an error", tt.crdFile, crd, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadCRD(%q) error %q, want it to contain %q", tt.crdFile, err, tt.want)
		}
		if resolved != tt.resolved {
			t.Errorf("LoadCRD(%q) resolved %q, want %q", tt.crdFile, resolved, tt.resolved)
		}
	}
	if _, _, err := LoadCRD("testdata/katalog.yaml", "crds/missing.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v is not fs.ErrNotExist", err)
	}
}

func TestParseCRDSyntaxError(t *testing.T) {
	_, err := ParseCRD([]byte("apiVersion: apiextensions.k8s.io/v1\nkind: [CustomResourceDefinition\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "YAML syntax error: ") {
		t.Fatalf("err = %v, want a YAML syntax error", err)
	}
	_, err = ParseCRD([]byte("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  group: a\n  group: b\n"))
	if want := `invalid CustomResourceDefinition: unmarshal errors:
  line 5: key "group" already set in map`; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want a duplicate key error", err)
	}
}

func FuzzParseCRD(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		crd, err := ParseCRD(data)
		if (crd == nil) == (err == nil) {
			t.Fatalf("ParseCRD = %v, %v: want exactly one of a CRD and an error", crd, err)
		}
		if crd != nil && (crd.APIVersion != crdAPIVersion || crd.Kind != "CustomResourceDefinition") {
			t.Fatalf("accepted %s %s", crd.APIVersion, crd.Kind)
		}
	})
}
