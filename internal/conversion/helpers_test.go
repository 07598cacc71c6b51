package conversion

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// loadPolicy runs the check pass over a Katalog in testdata; the test fails
// on any error finding.
func loadPolicy(t testing.TB, name string) *policy.Policy {
	t.Helper()
	r, err := check.RunFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if r.Policy == nil || r.Errors() > 0 {
		var b strings.Builder
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "%+v\n", f)
		}
		t.Fatalf("testdata/%s is not valid:\n%s", name, b.String())
	}
	return r.Policy
}

func newConverter(t testing.TB, p *policy.Policy, opts Options) *Converter {
	t.Helper()
	c, err := New(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// obj decodes a JSON object literal the way the converter does.
func obj(t testing.TB, s string) map[string]any {
	t.Helper()
	m, err := decodeObject([]byte(s))
	if err != nil {
		t.Fatalf("bad test object %s: %v", s, err)
	}
	return m
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// loadCRD parses testdata/gadget-crd.yaml (once).
func loadCRD(t testing.TB) *apiextv1.CustomResourceDefinition {
	t.Helper()
	crd, err := gadgetCRD()
	if err != nil {
		t.Fatal(err)
	}
	return crd
}

var gadgetCRD = sync.OnceValues(func() (*apiextv1.CustomResourceDefinition, error) {
	b, err := os.ReadFile("testdata/gadget-crd.yaml")
	if err != nil {
		return nil, err
	}
	return katalog.ParseCRD(b)
})

func schemaOf(crd *apiextv1.CustomResourceDefinition, version string) *apiextv1.JSONSchemaProps {
	return versionSchema(crd, version)
}

func rawExt(s string) runtime.RawExtension { return runtime.RawExtension{Raw: []byte(s)} }
