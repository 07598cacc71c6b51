package bundle

import (
	"bytes"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestChartVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3": "1.2.3", "1.2.3-rc.1": "1.2.3-rc.1", "v0.0.0-test": "0.0.0-test",
		"(devel)": "0.0.0-dev", "5931192-dirty": "0.0.0-dev", "v1.2": "0.0.0-dev", "": "0.0.0-dev",
	} {
		if got := ChartVersion(in); got != want {
			t.Errorf("ChartVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// The chart holds every object of the bundle but the Namespace, values.yaml
// holds the Katalog byte for byte, and text of the objects that looks like
// a template action is escaped. (hack/install renders it with Helm.)
func TestChart(t *testing.T) {
	for _, path := range examples(t) {
		src := load(t, path)
		b, err := Generate(src, Options{Image: goldenImage})
		if err != nil {
			t.Fatal(err)
		}
		c, err := GenerateChart(src, Options{Image: goldenImage}, ChartOptions{Version: "1.2.3", AppVersion: "v1.2.3"})
		if err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{}
		for _, f := range c.Files {
			files[f.Path] = f.Data
		}
		for _, o := range b.Objects {
			if _, ok := files["templates/"+o.File]; ok == (o.Kind == "Namespace") {
				t.Errorf("%s: templates/%s present %v", path, o.File, ok)
			}
		}
		var values struct {
			Image, Katalog string
			Replicas       int
		}
		if err := yaml.Unmarshal(files["values.yaml"], &values); err != nil {
			t.Fatal(err)
		}
		if values.Katalog != string(src.Katalog) || values.Image != goldenImage || values.Replicas != 2 {
			t.Errorf("%s: values %+v", path, values)
		}
		if !bytes.Contains(files["Chart.yaml"], []byte("version: 1.2.3\n")) || !bytes.Contains(files["Chart.yaml"], []byte(`appVersion: "v1.2.3"`)) {
			t.Errorf("Chart.yaml:\n%s", files["Chart.yaml"])
		}
	}
	if _, err := GenerateChart(load(t, "../../examples/gateway/katalog.yaml"), Options{Image: goldenImage}, ChartOptions{Version: "v1"}); err == nil || !strings.Contains(err.Error(), "not SemVer") {
		t.Errorf("a chart version that is not SemVer: %v", err)
	}
}

func TestTemplatedEscapes(t *testing.T) {
	doc := []byte("data:\n  a: \"{{ .x }}\"\n  b: keep\n")
	got, err := templated(doc, []helmEdit{{path: []any{"data"}, key: "b", text: scalar("b", "{{ .Values.b }}")}})
	if err != nil {
		t.Fatal(err)
	}
	want := "data:\n  a: \"{{ \"{{\" }} .x }}\"\n  b: {{ .Values.b }}\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := templated(doc, []helmEdit{{path: []any{"nope"}, key: "b", text: scalar("b", "x")}}); err == nil {
		t.Error("an edit at a missing path gave no error")
	}
}
