package conversion

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// thingPolicy is a CRD without a crdFile (no schema): versions v1, v2
// (storage), v3, with the given paths.
func thingPolicy(paths ...policy.ConversionPath) *policy.Policy {
	return &policy.Policy{CRDs: []*policy.CRD{{
		Name: "thing", Group: "ex.com", Kind: "Thing", Plural: "things", Version: "v2",
		Versions: []string{"v1", "v2", "v3"},
		Conversion: &policy.ConversionSpec{
			StorageVersion: "v2", Versions: []string{"v1", "v2", "v3"}, Paths: paths,
		},
	}}}
}

func path(from, to string, spec map[string]any) policy.ConversionPath {
	return policy.ConversionPath{From: from, To: to, Spec: spec}
}

func convert(t *testing.T, c *Converter, o map[string]any, to string) map[string]any {
	t.Helper()
	av, _ := o["apiVersion"].(string)
	group, _, _ := strings.Cut(av, "/")
	out, err := c.Convert(o, group+"/"+to)
	if err != nil {
		t.Fatalf("convert to %s: %v", to, err)
	}
	return out
}

// A template that is one action keeps the JSON type of its value; one
// that mixes text gives a string; static values are used as written.
func TestMappingValueTypes(t *testing.T) {
	src := `{"apiVersion":"ex.com/v1","kind":"Thing","metadata":{"name":"n"},"spec":{
		"int":3,"float":2.5,"big":9007199254740993,"bool":true,"str":"x","obj":{"a":[1,"b"]},"list":[1,2],"nul":null}}`
	cases := []struct {
		name, tmpl string
		value      any
		want       string // JSON of spec.out in the result; "" = absent
	}{
		{"integer", "{{ .spec.int }}", nil, `3`},
		{"integer beyond float precision", "{{ .spec.big }}", nil, `9007199254740993`},
		{"float", "{{ .spec.float }}", nil, `2.5`},
		{"boolean", "{{ .spec.bool }}", nil, `true`},
		{"string", "{{ .spec.str }}", nil, `"x"`},
		{"object", "{{ .spec.obj }}", nil, `{"a":[1,"b"]}`},
		{"list", "{{ .spec.list }}", nil, `[1,2]`},
		{"null", "{{ .spec.nul }}", nil, ``},
		{"missing field sets nothing", "{{ .spec.absent }}", nil, ``},
		{"missing below missing", "{{ .spec.absent.deeper }}", nil, ``},
		{"white space around", "  {{ .spec.int }}\n", nil, `3`},
		{"root variable", "{{ $.spec.int }}", nil, `3`},
		{"pipeline keeps type", "{{ .spec.absent | default 7 }}", nil, `7`},
		{"pipeline to string", "{{ .spec.int | toString }}", nil, `"3"`},
		{"function result", "{{ upper .spec.str }}", nil, `"X"`},
		{"text and action give a string", "n-{{ .spec.int }}", nil, `"n-3"`},
		{"two actions give a string", "{{ .spec.int }}{{ .spec.int }}", nil, `"33"`},
		{"conditional gives a string", "{{ if .spec.bool }}{{ .spec.int }}{{ end }}", nil, `"3"`},
		{"metadata", "{{ .metadata.name }}", nil, `"n"`},
		{"static number", "", int64(5), `5`},
		{"static string", "", "{not a template}", `"{not a template}"`},
		{"static boolean", "", false, `false`},
		{"static null", "", nil, `null`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v any = tc.tmpl
			if tc.tmpl == "" {
				v = tc.value
			}
			c := newConverter(t, thingPolicy(path("v1", "v2", map[string]any{"out": v})), Options{})
			out := convert(t, c, obj(t, src), "v2")
			got, ok := lookup(out, []string{"spec", "out"})
			switch {
			case tc.want == "" && ok:
				t.Errorf("spec.out = %s, want it absent", mustJSON(t, got))
			case tc.want != "" && !ok:
				t.Errorf("spec.out is absent, want %s", tc.want)
			case tc.want != "" && mustJSON(t, got) != tc.want:
				t.Errorf("spec.out = %s, want %s", mustJSON(t, got), tc.want)
			}
		})
	}
}

// The unit half of "a number into an integer field keeps its type": the
// converted object carries a JSON number, with and without a schema.
func TestNumberIntoIntegerField(t *testing.T) {
	src := `{"apiVersion":"conv.example.com/v1","kind":"Gadget","metadata":{"name":"g"},"spec":{"size":3}}`
	for name, c := range map[string]*Converter{
		"crdFile": newConverter(t, loadPolicy(t, "katalog.yaml"), Options{}),
		"no schema": newConverter(t, &policy.Policy{CRDs: []*policy.CRD{{
			Name: "gadget", Group: "conv.example.com", Kind: "Gadget", Plural: "gadgets",
			Conversion: &policy.ConversionSpec{StorageVersion: "v2", Versions: []string{"v1", "v2"},
				Paths: []policy.ConversionPath{path("v1", "v2", map[string]any{"replicas": "{{ .spec.size }}"})}},
		}}}, Options{}),
	} {
		out := convert(t, c, obj(t, src), "v2")
		raw, err := marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(raw, []byte(`"replicas":3`)) {
			t.Errorf("%s: %s: want replicas as the number 3", name, raw)
		}
		if v, _ := lookup(out, []string{"spec", "replicas"}); v != int64(3) {
			t.Errorf("%s: replicas is %T %v, want int64 3", name, v, v)
		}
	}
}

// Fields a template reads are moved; everything else is carried over, and
// a move leaves no empty parent behind.
func TestMovedAndCarriedOver(t *testing.T) {
	c := newConverter(t, thingPolicy(
		path("v1", "v2", map[string]any{
			"replicas":  "{{ .spec.size }}",
			"container": map[string]any{"image": "{{ .spec.pod.image }}"},
			"label":     `{{ index .spec.labels "app" }}`,
			"name":      "{{ .metadata.name }}",
		}),
	), Options{})
	src := obj(t, `{"apiVersion":"ex.com/v1","kind":"Thing",
		"metadata":{"name":"n","namespace":"ns","labels":{"l":"1"},"annotations":{"a":"b"}},
		"spec":{"size":2,"pod":{"image":"nginx"},"labels":{"app":"web","tier":"x"},"keep":{"deep":[1,{"x":null}]}},
		"status":{"phase":"Ready"}}`)
	out := convert(t, c, src, "v2")
	want := obj(t, `{"apiVersion":"ex.com/v2","kind":"Thing",
		"metadata":{"name":"n","namespace":"ns","labels":{"l":"1"},"annotations":{"a":"b","`+PreservedAnnotation+`":"ignored"}},
		"spec":{"replicas":2,"container":{"image":"nginx"},"label":"web","name":"n","labels":{"tier":"x"},"keep":{"deep":[1,{"x":null}]}},
		"status":{"phase":"Ready"}}`)
	// The way back (identity) cannot rebuild the moved fields: they are
	// preserved. Compare the annotation separately.
	ann := out["metadata"].(map[string]any)["annotations"].(map[string]any)
	if _, ok := ann[PreservedAnnotation]; !ok {
		t.Errorf("no %s annotation: %s", PreservedAnnotation, mustJSON(t, out))
	}
	ann[PreservedAnnotation] = "ignored"
	if !rules.Equal(out, want) {
		t.Errorf("got  %s\nwant %s", mustJSON(t, out), mustJSON(t, want))
	}
}

func TestSchemaTypeConversion(t *testing.T) {
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{})
	// v2 -> v3: integer into the string field v3 declares.
	v3 := convert(t, c, obj(t, `{"apiVersion":"conv.example.com/v2","kind":"Gadget","metadata":{"name":"g"},"spec":{"replicas":12}}`), "v3")
	if got, _ := lookup(v3, []string{"spec", "replicas"}); got != "12" {
		t.Errorf("v3 replicas = %#v, want \"12\"", got)
	}
	if got, _ := lookup(v3, []string{"spec", "tier"}); got != "standard" {
		t.Errorf("v3 tier = %#v, want the default \"standard\"", got)
	}
	// v3 -> v2: a numeral into v2's integer field.
	v2 := convert(t, c, obj(t, `{"apiVersion":"conv.example.com/v3","kind":"Gadget","metadata":{"name":"g"},"spec":{"replicas":"40"}}`), "v2")
	if got, _ := lookup(v2, []string{"spec", "replicas"}); got != int64(40) {
		t.Errorf("v2 replicas = %#v, want 40", got)
	}
	// Not a numeral: an error naming the field, the value and the schema.
	_, err := c.Convert(obj(t, `{"apiVersion":"conv.example.com/v3","kind":"Gadget","metadata":{"name":"g","namespace":"d"},"spec":{"replicas":"many"}}`), "conv.example.com/v2")
	for _, want := range []string{`Gadget d/g`, `from conv.example.com/v3 to conv.example.com/v2`, `spec.replicas`, `string "many"`, `not an integer`, `v2 schema`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func TestRoutes(t *testing.T) {
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{})
	// v1 -> v3 has no path: through v2.
	v3 := convert(t, c, obj(t, `{"apiVersion":"conv.example.com/v1","kind":"Gadget","metadata":{"name":"g"},"spec":{"size":2,"image":"nginx"}}`), "v3")
	want := obj(t, `{"apiVersion":"conv.example.com/v3","kind":"Gadget","metadata":{"name":"g"},"spec":{"replicas":"2","container":{"image":"nginx"},"tier":"standard"}}`)
	if !rules.Equal(v3, want) {
		t.Errorf("v1 -> v3:\ngot  %s\nwant %s", mustJSON(t, v3), mustJSON(t, want))
	}

	// No path at all: the identity, apiVersion only.
	id := newConverter(t, thingPolicy(), Options{})
	src := `{"apiVersion":"ex.com/v1","kind":"Thing","metadata":{"name":"n"},"spec":{"a":1,"b":{"c":[true]}},"status":{"s":"x"}}`
	out := convert(t, id, obj(t, src), "v3")
	want = obj(t, strings.Replace(src, "ex.com/v1", "ex.com/v3", 1))
	if !rules.Equal(out, want) {
		t.Errorf("identity:\ngot  %s\nwant %s", mustJSON(t, out), mustJSON(t, want))
	}
}

// A direct path is used even where the storage version offers a route.
func TestDirectPathWins(t *testing.T) {
	c := newConverter(t, thingPolicy(
		path("v1", "v2", map[string]any{"via": "storage"}),
		path("v2", "v3", map[string]any{"via2": "storage"}),
		path("v1", "v3", map[string]any{"via": "direct"}),
	), Options{})
	out := convert(t, c, obj(t, `{"apiVersion":"ex.com/v1","kind":"Thing","metadata":{"name":"n"},"spec":{}}`), "v3")
	spec := out["spec"].(map[string]any)
	if spec["via"] != "direct" || spec["via2"] != nil {
		t.Errorf("spec = %s, want only the direct path's field", mustJSON(t, spec))
	}
}

func annotation(o map[string]any) (string, bool) {
	meta, _ := o["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	v, ok := ann[PreservedAnnotation].(string)
	return v, ok
}

func TestPreservedAnnotation(t *testing.T) {
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{})

	// Nothing lost: no annotation.
	v3 := convert(t, c, obj(t, `{"apiVersion":"conv.example.com/v2","kind":"Gadget","metadata":{"name":"g"},"spec":{"replicas":1}}`), "v3")
	if a, ok := annotation(v3); ok {
		t.Errorf("lossless conversion added %s", a)
	}

	// A field v2 has no place for: kept, and restored.
	src := obj(t, `{"apiVersion":"conv.example.com/v1","kind":"Gadget","metadata":{"name":"g","annotations":{"mine":"yes"}},"spec":{"size":1,"legacyMode":"on"}}`)
	v2 := convert(t, c, src, "v2")
	a, ok := annotation(v2)
	if want := `[{"from":"v1","to":"v2","fields":[{"path":["spec","legacyMode"],"value":"on"}]}]`; !ok || stackOf(t, c, v2) != want {
		t.Errorf("annotation = %q, want the stack %q, sealed", a, want)
	}
	if mine, _ := lookup(v2, []string{"metadata", "annotations", "mine"}); mine != "yes" {
		t.Errorf("the object's own annotation is gone: %s", mustJSON(t, v2))
	}
	back := convert(t, c, v2, "v1")
	if !rules.Equal(back, src) {
		t.Errorf("v1 -> v2 -> v1:\ngot  %s\nwant %s", mustJSON(t, back), mustJSON(t, src))
	}

	// A v3-only field with a non-default value survives v2, and an edit made
	// at v2 meanwhile is kept.
	v3src := obj(t, `{"apiVersion":"conv.example.com/v3","kind":"Gadget","metadata":{"name":"g"},"spec":{"replicas":"2","tier":"premium"}}`)
	stored := convert(t, c, v3src, "v2")
	stored["spec"].(map[string]any)["replicas"] = int64(5)
	read := convert(t, c, stored, "v3")
	want := obj(t, `{"apiVersion":"conv.example.com/v3","kind":"Gadget","metadata":{"name":"g"},"spec":{"replicas":"5","tier":"premium"}}`)
	if !rules.Equal(read, want) {
		t.Errorf("edited at v2, read at v3:\ngot  %s\nwant %s", mustJSON(t, read), mustJSON(t, want))
	}
}

// A preserved field whose source was edited at the other version since is
// not restored: the edit wins.
func TestPreservedEditWins(t *testing.T) {
	c := newConverter(t, thingPolicy(
		path("v1", "v2", map[string]any{"name": "{{ .spec.first }} {{ .spec.last }}"}),
		path("v2", "v1", map[string]any{"first": "{{ .spec.name }}"}),
	), Options{})
	src := obj(t, `{"apiVersion":"ex.com/v1","kind":"Thing","metadata":{"name":"n"},"spec":{"first":"Ada","last":"Lovelace"}}`)
	v2 := convert(t, c, src, "v2")
	if got := v2["spec"].(map[string]any)["name"]; got != "Ada Lovelace" {
		t.Fatalf("name = %v", got)
	}
	if back := convert(t, c, v2, "v1"); !rules.Equal(back, src) {
		t.Errorf("unedited round trip:\ngot  %s\nwant %s", mustJSON(t, back), mustJSON(t, src))
	}
	v2["spec"].(map[string]any)["name"] = "Grace Hopper"
	back := convert(t, c, v2, "v1")
	want := obj(t, `{"apiVersion":"ex.com/v1","kind":"Thing","metadata":{"name":"n"},"spec":{"first":"Grace Hopper","last":"Lovelace"}}`)
	if !rules.Equal(back, want) {
		t.Errorf("edited at v2:\ngot  %s\nwant %s", mustJSON(t, back), mustJSON(t, want))
	}
}

func TestPreservedBound(t *testing.T) {
	var logs bytes.Buffer
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{
		MaxPreservedBytes: 300,
		Logger:            slog.New(slog.NewTextHandler(&logs, nil)),
	})
	big := strings.Repeat("x", 400)
	src := obj(t, `{"apiVersion":"conv.example.com/v1","kind":"Gadget","metadata":{"name":"g","namespace":"d"},
		"spec":{"size":1,"legacyMode":"`+big+`"},"status":{"message":"small"}}`)
	v3, err := c.Convert(src, "conv.example.com/v3")
	if err != nil {
		t.Fatalf("over the bound must not be an error: %v", err)
	}
	a, ok := annotation(v3)
	if !ok || strings.Contains(a, big) || !strings.Contains(a, `"message"`) {
		t.Errorf("annotation %q: want the small field kept and the large one dropped", a)
	}
	if len(a) > 300 {
		t.Errorf("annotation is %d bytes, above the bound", len(a))
	}
	if got := c.m.dropped.WithLabelValues("conv.example.com", "Gadget").Value(); got != 1 {
		t.Errorf("dropped metric = %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "spec.legacyMode") || !strings.Contains(logs.String(), "d/g") {
		t.Errorf("want a warning naming the object and the dropped field, got %q", logs.String())
	}
	back := convert(t, c, v3, "v1")
	if _, has := lookup(back, []string{"spec", "legacyMode"}); has {
		t.Errorf("a dropped field came back: %s", mustJSON(t, back))
	}
	if got, _ := lookup(back, []string{"status", "message"}); got != "small" {
		t.Errorf("the kept field was not restored: %s", mustJSON(t, back))
	}
}

func TestMalformedAnnotationIgnored(t *testing.T) {
	var logs bytes.Buffer
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, bad := range []string{`not json`, `{}`, `{"mac":"x"}`, `{"stack":[]}`, `{"mac":"","stack":[],"x":1}`, `"a string"`} {
		src := obj(t, `{"apiVersion":"conv.example.com/v2","kind":"Gadget","metadata":{"name":"g","annotations":{}},"spec":{"replicas":1}}`)
		src["metadata"].(map[string]any)["annotations"].(map[string]any)[PreservedAnnotation] = bad
		out, err := c.Convert(src, "conv.example.com/v1")
		if err != nil {
			t.Errorf("%q: %v", bad, err)
			continue
		}
		if a, ok := annotation(out); ok {
			t.Errorf("%q: the malformed annotation is still there: %q", bad, a)
		}
	}
	if got := c.m.invalid.WithLabelValues("conv.example.com", "Gadget", reasonMalformed).Value(); got != 6 {
		t.Errorf("invalid metric = %v, want 6", got)
	}
	if !strings.Contains(logs.String(), "malformed") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("no warning logged: %q", logs.String())
	}
}

// stackOf unseals the annotation of o, converted by c, and returns its stack.
func stackOf(t *testing.T, c *Converter, o map[string]any) string {
	t.Helper()
	a, ok := annotation(o)
	if !ok {
		t.Fatalf("no annotation: %s", mustJSON(t, o))
	}
	var w sealed
	if err := json.Unmarshal([]byte(a), &w); err != nil {
		t.Fatalf("annotation %q: %v", a, err)
	}
	pl := c.plans[groupKind{o["apiVersion"].(string)[:strings.Index(o["apiVersion"].(string), "/")], o["kind"].(string)}]
	if _, err := unseal(a, c.key(), pl.identityOf(o)); err != nil {
		t.Fatalf("annotation %q does not unseal: %v", a, err)
	}
	return string(w.Stack)
}

// The attack: a client that may update an object at one version writes the
// annotation itself, to make the conversion to the storage version change
// what admission saw (the protection label, other labels, apiVersion, any
// field). Forged, edited, replayed from another object: nothing of it is
// restored, each is counted by reason and logged.
func TestForgedAnnotationIgnored(t *testing.T) {
	var logs bytes.Buffer
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	labels := `{"orkestra.io/deletion-protection":"true","team":"a"}`
	at := func(version, name string) map[string]any {
		return obj(t, `{"apiVersion":"conv.example.com/`+version+`","kind":"Gadget","metadata":{"name":"`+name+`","namespace":"d","labels":`+labels+`,"annotations":{}},"spec":{"size":1,"image":"x"}}`)
	}
	forgedStack := `[{"from":"v2","to":"v1","fields":[` +
		`{"path":["metadata","labels","orkestra.io/deletion-protection"],"base":"true"},` +
		`{"path":["metadata","labels","owner"],"value":"mallory"},` +
		`{"path":["apiVersion"],"value":"conv.example.com/v9"},` +
		`{"path":["spec","legacyMode"],"value":"planted"}]}]`
	// A genuine annotation of another object: g2 at v2 with legacyMode.
	other := convert(t, c, obj(t, `{"apiVersion":"conv.example.com/v1","kind":"Gadget","metadata":{"name":"g2","namespace":"d"},"spec":{"size":1,"legacyMode":"theirs"}}`), "v2")
	genuine, _ := annotation(other)
	var w sealed
	if err := json.Unmarshal([]byte(genuine), &w); err != nil {
		t.Fatal(err)
	}
	// The same stack sealed with another key (another gateway, the CLI).
	otherKey := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{})
	foreign, _ := annotation(convert(t, otherKey, obj(t, `{"apiVersion":"conv.example.com/v1","kind":"Gadget","metadata":{"name":"g","namespace":"d"},"spec":{"size":1,"legacyMode":"foreign"}}`), "v2"))

	for _, tc := range []struct {
		name, object, from, to, value string
	}{
		{"bare stack", "g", "v1", "v2", forgedStack},
		{"made-up MAC", "g", "v1", "v2", `{"mac":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","stack":` + forgedStack + `}`},
		{"MAC not base64url", "g", "v1", "v2", `{"mac":"not/base64+","stack":` + forgedStack + `}`},
		{"genuine MAC, edited stack", "g2", "v2", "v1", `{"mac":"` + *w.MAC + `","stack":` + strings.Replace(string(w.Stack), "theirs", "edited", 1) + `}`},
		{"copied from another object", "g", "v2", "v1", genuine},
		{"sealed with another key", "g", "v2", "v1", foreign},
	} {
		src := at(tc.from, tc.object)
		src["metadata"].(map[string]any)["annotations"].(map[string]any)[PreservedAnnotation] = tc.value
		out, err := c.Convert(src, "conv.example.com/"+tc.to)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		back := convert(t, c, out, tc.from)
		if got := mustJSON(t, back["metadata"].(map[string]any)["labels"]); got != labels {
			t.Errorf("%s: labels %s, want %s", tc.name, got, labels)
		}
		for _, o := range []map[string]any{out, back} {
			if _, has := lookup(o, []string{"spec", "legacyMode"}); has {
				t.Errorf("%s: a field of the annotation was restored: %s", tc.name, mustJSON(t, o))
			}
		}
		if back["apiVersion"] != "conv.example.com/"+tc.from {
			t.Errorf("%s: apiVersion %v", tc.name, back["apiVersion"])
		}
	}
	if got := c.m.invalid.WithLabelValues("conv.example.com", "Gadget", reasonUnauthenticated).Value(); got != 6 {
		t.Errorf("unauthenticated annotations counted %v times, want 6", got)
	}
	for _, want := range []string{"level=WARN", "ignoring the " + PreservedAnnotation, "reason=unauthenticated", "d/g", "without a MAC", "does not match"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs.String())
		}
	}
}

// Even a genuine annotation (the MAC verifies) restores only what the
// conversion between its two versions drops: here one sealed by the
// converter itself, naming metadata and a field every version carries. The
// fields of the scope are restored, the others refused and counted.
func TestAnnotationScope(t *testing.T) {
	var logs bytes.Buffer
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	src := obj(t, `{"apiVersion":"conv.example.com/v2","kind":"Gadget","metadata":{"name":"g","namespace":"d","labels":{"orkestra.io/deletion-protection":"true"}},"spec":{"replicas":1,"ports":[80]}}`)
	pl := c.plans[groupKind{"conv.example.com", "Gadget"}]
	stack := `[{"from":"v1","to":"v2","fields":[` +
		`{"path":["metadata","labels","orkestra.io/deletion-protection"],"base":"true"},` +
		`{"path":["kind"],"value":"Other","base":"Gadget"},` +
		`{"path":["spec","ports"],"value":[1],"base":[80]},` +
		`{"path":["spec","legacyMode"],"value":"kept"},` +
		`{"path":["spec","size"],"value":7,"base":1}]}]`
	src["metadata"].(map[string]any)["annotations"] = map[string]any{PreservedAnnotation: string(seal(c.key(), pl.identityOf(src), []byte(stack)))}
	out := convert(t, c, src, "v1")
	want := obj(t, `{"apiVersion":"conv.example.com/v1","kind":"Gadget","metadata":{"name":"g","namespace":"d","labels":{"orkestra.io/deletion-protection":"true"}},"spec":{"size":7,"ports":[80],"legacyMode":"kept"}}`)
	if !rules.Equal(out, want) {
		t.Errorf("got  %s\nwant %s", mustJSON(t, out), mustJSON(t, want))
	}
	if got := c.m.invalid.WithLabelValues("conv.example.com", "Gadget", reasonOutOfScope).Value(); got != 1 {
		t.Errorf("out-of-scope metric = %v, want 1", got)
	}
	for _, want := range []string{"metadata.labels.orkestra.io/deletion-protection", "kind", "spec.ports"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not name %s:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "spec.legacyMode") {
		t.Errorf("the log names a field in scope:\n%s", logs.String())
	}
}

// The key is read per object: a replaced key takes effect at once, and what
// the old key sealed no longer verifies. A key too short is an error, never
// an unsealed annotation.
func TestConverterKey(t *testing.T) {
	key := bytes.Repeat([]byte{1}, MinKeyBytes)
	c := newConverter(t, loadPolicy(t, "katalog.yaml"), Options{Key: func() []byte { return key }})
	src := obj(t, `{"apiVersion":"conv.example.com/v1","kind":"Gadget","metadata":{"name":"g"},"spec":{"size":1,"legacyMode":"on"}}`)
	v2 := convert(t, c, src, "v2")
	if back := convert(t, c, v2, "v1"); !rules.Equal(back, src) {
		t.Errorf("round trip with a fixed key: %s", mustJSON(t, back))
	}
	key = bytes.Repeat([]byte{2}, MinKeyBytes)
	if back := convert(t, c, v2, "v1"); back["spec"].(map[string]any)["legacyMode"] != nil {
		t.Errorf("an annotation sealed with the old key was restored: %s", mustJSON(t, back))
	}
	key = key[:MinKeyBytes-1]
	if _, err := c.Convert(src, "conv.example.com/v2"); err == nil || !strings.Contains(err.Error(), "no key to seal") {
		t.Errorf("a short key: %v", err)
	}
}

func TestNewRejectsBrokenPolicy(t *testing.T) {
	for name, p := range map[string]policy.ConversionSpec{
		"storage not declared": {StorageVersion: "v9", Versions: []string{"v1", "v2"}},
		"path to itself":       {StorageVersion: "v1", Versions: []string{"v1", "v2"}, Paths: []policy.ConversionPath{path("v1", "v1", nil)}},
		"unknown version":      {StorageVersion: "v1", Versions: []string{"v1", "v2"}, Paths: []policy.ConversionPath{path("v1", "v7", nil)}},
		"bad template":         {StorageVersion: "v1", Versions: []string{"v1", "v2"}, Paths: []policy.ConversionPath{path("v1", "v2", map[string]any{"a": "{{ .spec.x | nosuchfunc }}"})}},
		"parent and child":     {StorageVersion: "v1", Versions: []string{"v1", "v2"}, Paths: []policy.ConversionPath{path("v1", "v2", map[string]any{"a": 1, "a.b": 2})}},
		"bad target":           {StorageVersion: "v1", Versions: []string{"v1", "v2"}, Paths: []policy.ConversionPath{path("v1", "v2", map[string]any{"a..b": 1})}},
	} {
		p := p
		_, err := New(&policy.Policy{CRDs: []*policy.CRD{{Name: "x", Group: "ex.com", Kind: "X", Plural: "xs", Conversion: &p}}}, Options{})
		if err == nil || !strings.Contains(err.Error(), "CRD entry x") {
			t.Errorf("%s: err = %v, want an error naming the entry", name, err)
		}
	}
}
