package conversion

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// The property: for every object o at version A (valid for A's schema, or
// with unknown fields added) and every version B, converting o to B and
// back to A returns o exactly: annotations included, since o carries none
// of ours. It holds for direct paths (v1 <-> v2, v2 <-> v3) and for chains
// through the storage version (v1 <-> v3), and along the API server's own
// sequences (A -> storage, storage -> B, B -> storage, storage -> A).

var versions = []string{"v1", "v2", "v3"}

const gadgetGroup = "conv.example.com"

func TestRoundTripProperty(t *testing.T) {
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{})
	n := 400
	if testing.Short() {
		n = 50
	}
	for seed := range uint64(n) {
		checkRoundTrip(t, c, seed)
		if t.Failed() {
			t.Fatalf("seed %d fails: reproduce with go test -run TestRoundTripProperty, or add it to testdata/fuzz/FuzzRoundTrip", seed)
		}
	}
	// Every annotation the converter wrote verified, and named only fields
	// in the scope of its versions.
	var ignored float64
	for _, ks := range c.m.kinds {
		for _, ctr := range ks.invalid {
			ignored += ctr.Value()
		}
	}
	if ignored != 0 {
		t.Errorf("%v preserved-fields annotations of the converter's own were ignored", ignored)
	}
}

// FuzzRoundTrip explores more generated objects: go test -fuzz FuzzRoundTrip.
func FuzzRoundTrip(f *testing.F) {
	c := newConverter(f, loadPolicy(f, "katalog.yaml"), Options{})
	f.Add(uint64(1))
	f.Fuzz(func(t *testing.T, seed uint64) { checkRoundTrip(t, c, seed) })
}

func checkRoundTrip(t *testing.T, c *Converter, seed uint64) {
	t.Helper()
	crd := loadCRD(t)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for _, a := range versions {
		g := &gen{r: r, unknown: r.IntN(3) == 0}
		o := g.object(a, schemaOf(crd, a))
		orig := mustJSON(t, o)
		for _, b := range versions {
			out, err := c.Convert(o, gadgetGroup+"/"+b)
			if err != nil {
				t.Errorf("seed %d: %s -> %s: %v\nobject: %s", seed, a, b, err, orig)
				return
			}
			if !g.unknown {
				if err := conforms(out, compileSchema(schemaOf(crd, b)), nil); err != nil {
					t.Errorf("seed %d: %s -> %s: result does not fit the %s schema: %v\nobject: %s\nresult: %s", seed, a, b, b, err, orig, mustJSON(t, out))
				}
			}
			back, err := c.Convert(out, gadgetGroup+"/"+a)
			if err != nil {
				t.Errorf("seed %d: %s -> %s -> %s: %v\nobject: %s\nvia: %s", seed, a, b, a, err, orig, mustJSON(t, out))
				return
			}
			if !rules.Equal(back, o) {
				t.Errorf("seed %d: %s -> %s -> %s is not the original\noriginal: %s\nvia:      %s\nback:     %s", seed, a, b, a, orig, mustJSON(t, out), mustJSON(t, back))
				return
			}
		}
		// The API server's sequence: stored at v2, read and written back at
		// every version, then read at the version it was created at.
		stored, err := c.Convert(o, gadgetGroup+"/v2")
		if err != nil {
			t.Errorf("seed %d: %s -> v2: %v", seed, a, err)
			return
		}
		for _, b := range versions {
			read, err := c.Convert(stored, gadgetGroup+"/"+b)
			if err != nil {
				t.Errorf("seed %d: read at %s: %v", seed, b, err)
				return
			}
			written, err := c.Convert(read, gadgetGroup+"/v2")
			if err != nil {
				t.Errorf("seed %d: write at %s: %v", seed, b, err)
				return
			}
			if !rules.Equal(written, stored) {
				t.Errorf("seed %d: created at %s, read and written back at %s changes the stored object\nstored:  %s\nread:    %s\nwritten: %s", seed, a, b, mustJSON(t, stored), mustJSON(t, read), mustJSON(t, written))
				return
			}
		}
		final, err := c.Convert(stored, gadgetGroup+"/"+a)
		if err != nil || !rules.Equal(final, o) {
			t.Errorf("seed %d: created at %s, read back at %s: %v\noriginal: %s\nread:     %s", seed, a, a, err, orig, mustJSON(t, final))
			return
		}
	}
}

// gen generates objects from a version's schema.
type gen struct {
	r       *rand.Rand
	unknown bool // add fields the schema does not declare
}

func (g *gen) object(version string, s *apiextv1.JSONSchemaProps) map[string]any {
	o := map[string]any{
		"apiVersion": gadgetGroup + "/" + version,
		"kind":       "Gadget",
		"metadata":   g.metadata(),
	}
	for _, k := range []string{"spec", "status"} {
		if g.r.IntN(8) == 0 {
			continue
		}
		p := s.Properties[k]
		o[k] = g.value(&p, 0, []string{k}, version)
	}
	if g.unknown && g.r.IntN(3) == 0 {
		o["unknownTop"] = g.any(0)
	}
	return o
}

func (g *gen) metadata() map[string]any {
	m := map[string]any{
		"name":              fmt.Sprintf("g-%d", g.r.IntN(1000)),
		"namespace":         "default",
		"uid":               "1f7a0e1c-0000-4000-8000-" + fmt.Sprintf("%012d", g.r.IntN(1e9)),
		"resourceVersion":   strconv.Itoa(g.r.IntN(1e6)),
		"generation":        int64(g.r.IntN(10) + 1),
		"creationTimestamp": "2026-01-02T03:04:05Z",
	}
	if g.r.IntN(2) == 0 {
		m["labels"] = map[string]any{"app.kubernetes.io/name": g.str()}
	}
	if g.r.IntN(2) == 0 {
		m["annotations"] = map[string]any{"example.com/note": g.str(), "kubectl.kubernetes.io/last-applied-configuration": "{}"}
	}
	return m
}

func (g *gen) value(s *apiextv1.JSONSchemaProps, depth int, path []string, version string) any {
	// What the schema cannot say: v3 keeps replicas as a numeral.
	if version == "v3" && strings.Join(path, ".") == "spec.replicas" {
		switch g.r.IntN(4) {
		case 0:
			return "007"
		default:
			return strconv.FormatInt(g.int(), 10)
		}
	}
	if s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields {
		m := map[string]any{}
		for range g.r.IntN(4) {
			m[g.key()] = g.any(depth + 1)
		}
		return m
	}
	switch s.Type {
	case "object":
		m := map[string]any{}
		for k, p := range s.Properties {
			if g.r.IntN(4) == 0 {
				continue
			}
			m[k] = g.value(&p, depth+1, append(path, k), version)
		}
		if ap := s.AdditionalProperties; ap != nil && ap.Schema != nil {
			for range g.r.IntN(4) {
				m[g.key()] = g.value(ap.Schema, depth+1, append(path, "*"), version)
			}
		}
		if g.unknown && g.r.IntN(3) == 0 {
			m["unknown"+g.key()] = g.any(depth + 1)
		}
		return m
	case "array":
		l := make([]any, g.r.IntN(4))
		for i := range l {
			l[i] = g.value(s.Items.Schema, depth+1, append(path, "[]"), version)
		}
		return l
	case "integer":
		return g.int()
	case "number":
		return g.r.NormFloat64() * 1e3
	case "boolean":
		return g.r.IntN(2) == 0
	case "string":
		return g.str()
	}
	return g.any(depth)
}

func (g *gen) int() int64 {
	switch g.r.IntN(6) {
	case 0:
		return 0
	case 1:
		return math.MaxInt64 - int64(g.r.IntN(3))
	case 2:
		return -int64(g.r.IntN(1000))
	}
	return int64(g.r.IntN(100))
}

var strs = []string{"", "nginx", "a b", "ünïcødé", "{{ .spec.size }}", "<tag>&", `"quoted"`, "line\nbreak", "3", "true", "null"}

func (g *gen) str() string {
	if g.r.IntN(3) == 0 {
		return fmt.Sprintf("s%d", g.r.IntN(1e6))
	}
	return strs[g.r.IntN(len(strs))]
}

func (g *gen) key() string {
	keys := []string{"a", "b.c", "d/e", "~f", "spec", "metadata", "0"}
	return keys[g.r.IntN(len(keys))]
}

// any is an arbitrary JSON value.
func (g *gen) any(depth int) any {
	n := 7
	if depth > 3 {
		n = 5
	}
	switch g.r.IntN(n) {
	case 0:
		return nil
	case 1:
		return g.r.IntN(2) == 0
	case 2:
		return g.int()
	case 3:
		return float64(g.r.IntN(1000)) / 8
	case 4:
		return g.str()
	case 5:
		l := make([]any, g.r.IntN(3))
		for i := range l {
			l[i] = g.any(depth + 1)
		}
		return l
	default:
		m := map[string]any{}
		for range g.r.IntN(3) {
			m[g.key()] = g.any(depth + 1)
		}
		return m
	}
}

// conforms checks value types against a schema (no formats, no bounds).
func conforms(v any, s *node, path []string) error {
	if s == nil || v == nil || (s.preserve && s.typ == "") {
		return nil
	}
	at := strings.Join(path, ".")
	want := map[string]string{"object": "map", "array": "list", "integer": "number", "number": "number", "boolean": "bool", "string": "string"}[s.typ]
	if want != "" && typeName(v) != want {
		return fmt.Errorf("%s: %s where the schema wants %s", at, typeName(v), s.typ)
	}
	if _, isFloat := v.(float64); isFloat && s.typ == "integer" {
		return fmt.Errorf("%s: float where the schema wants an integer", at)
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if len(path) == 0 && metaFields[k] {
				continue
			}
			if err := conforms(e, s.field(k), append(path, k)); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := conforms(e, s.itemSchema(), append(path, strconv.Itoa(i))); err != nil {
				return err
			}
		}
	}
	return nil
}
