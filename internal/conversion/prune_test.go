package conversion

import (
	"math/rand/v2"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/rules"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"sigs.k8s.io/yaml"
)

// pruneSchema exercises every construct pruning knows.
const pruneSchema = `
type: object
properties:
  spec:
    type: object
    properties:
      a: {type: string}
      n: {type: integer, nullable: true}
      d: {type: string, default: x}
      free: {type: object, x-kubernetes-preserve-unknown-fields: true, properties: {known: {type: object, properties: {k: {type: string}}}}}
      m: {type: object, additionalProperties: {type: object, properties: {v: {type: integer}}}}
      l: {type: array, items: {type: object, properties: {name: {type: string}}}}
      raw: {type: array, items: {type: object, x-kubernetes-preserve-unknown-fields: true}}
      emb: {type: object, x-kubernetes-embedded-resource: true, properties: {spec: {type: object, properties: {z: {type: string}}}}}
      empty: {type: object}
      ios: {x-kubernetes-int-or-string: true}
  status:
    type: object
    properties:
      ok: {type: boolean}
`

// The converter's pruning must match the API server's exactly: what it
// misses the API server would drop behind its back, breaking round trips.
func TestPruneMatchesAPIServer(t *testing.T) {
	var v1 apiextv1.JSONSchemaProps
	if err := yaml.UnmarshalStrict([]byte(pruneSchema), &v1); err != nil {
		t.Fatal(err)
	}
	schemas := []*apiextv1.JSONSchemaProps{&v1}
	crd := loadCRD(t)
	for _, v := range versions {
		schemas = append(schemas, schemaOf(crd, v))
	}
	r := rand.New(rand.NewPCG(7, 7))
	for i, s := range schemas {
		var internal apiextensions.JSONSchemaProps
		if err := apiextv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(s, &internal, nil); err != nil {
			t.Fatal(err)
		}
		ss, err := structuralschema.NewStructural(&internal)
		if err != nil {
			t.Fatal(err)
		}
		for n := range 500 {
			g := &gen{r: r, unknown: true}
			o := g.object("v1", s)
			if spec, ok := o["spec"].(map[string]any); ok && n%2 == 0 {
				for _, k := range []string{"emb", "free", "raw", "n", "d", "a"} {
					spec[k] = g.any(0)
				}
				spec["emb"] = map[string]any{"apiVersion": "x/v1", "kind": "K", "metadata": map[string]any{"name": "e"}, "spec": map[string]any{"z": "1", "y": 2}, "other": 1}
			}
			mine, theirs := copyMap(o), copyMap(o)
			prune(mine, compileSchema(s))
			pruning.Prune(theirs, ss, true)
			defaulting.PruneNonNullableNullsWithoutDefaults(theirs, ss)
			if !rules.Equal(mine, theirs) {
				t.Fatalf("schema %d: pruning differs from the API server's\ninput:  %s\nmine:   %s\ntheirs: %s", i, mustJSON(t, o), mustJSON(t, mine), mustJSON(t, theirs))
			}
		}
	}
}
