package rules

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	key := func(k string) segment { return segment{key: k, index: -1} }
	idx := func(i int) segment { return segment{index: i} }
	tests := []struct {
		in    string
		segs  []segment
		canon string // "" means the same as in
	}{
		{"spec", []segment{key("spec")}, ""},
		{"spec.replicas", []segment{key("spec"), key("replicas")}, ""},
		{"spec.containers[0].image", []segment{key("spec"), key("containers"), idx(0), key("image")}, ""},
		{"spec.matrix[1][12]", []segment{key("spec"), key("matrix"), idx(1), idx(12)}, ""},
		{`metadata.annotations["app.kubernetes.io/name"]`, []segment{key("metadata"), key("annotations"), key("app.kubernetes.io/name")}, ""},
		{`metadata.labels.team/owner`, []segment{key("metadata"), key("labels"), key("team/owner")}, ""},
		{`metadata["labels"].x`, []segment{key("metadata"), key("labels"), key("x")}, "metadata.labels.x"},
		{`["a.b"].c`, []segment{key("a.b"), key("c")}, ""},
		{`a["say \"hi\""]`, []segment{key("a"), key(`say "hi"`)}, ""},
		{`a["back\\slash"]`, []segment{key("a"), key(`back\slash`)}, "a.back\\slash"},
		{`a[""]`, []segment{key("a"), key("")}, ""},
		{`a["with space"]`, []segment{key("a"), key("with space")}, ""},
		{`a["x~y"]`, []segment{key("a"), key("x~y")}, "a.x~y"},
		{"spec.名前", []segment{key("spec"), key("名前")}, ""},
	}
	for _, tt := range tests {
		p, err := ParsePath(tt.in)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(p.segs, tt.segs) {
			t.Errorf("ParsePath(%q) = %#v, want %#v", tt.in, p.segs, tt.segs)
		}
		want := tt.canon
		if want == "" {
			want = tt.in
		}
		if p.String() != want {
			t.Errorf("ParsePath(%q).String() = %q, want %q", tt.in, p.String(), want)
		}
	}
}

func TestParsePathErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty field path"},
		{".spec", "expected a key at offset 0"},
		{"spec.", "ends with '.'"},
		{"spec..x", "expected a key at offset 5"},
		{"spec[0", "expected a list index"},
		{"spec[]", "expected a list index"},
		{"spec[-1]", "expected a list index"},
		{"spec[01]", "leading zero"},
		{"spec[99999999999999999999]", "too large"},
		{"[0].spec", "starts with a list index"},
		{`spec["open`, "unterminated quoted key"},
		{`spec["a"`, "expected ']' after quoted key"},
		{`spec["\q"]`, "bad quoted key"},
		{`spec['a']`, "expected a list index [N], every element [*] or a quoted key"},
		{"spec.a b", "unexpected ' ' at offset 6"},
		{"spec]", "unexpected ']'"},
		{`spec"x"`, `unexpected '"'`},
		{"spec[0]x", "unexpected 'x' at offset 7"},
		{"spec.\x01", "expected a key"},
		{"spec.\xff", "not valid UTF-8"},
	}
	for _, tt := range tests {
		_, err := ParsePath(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePath(%q) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestPathLookup(t *testing.T) {
	obj := decode(t, `{"spec": {"replicas": 3, "empty": null, "tags": ["a", "b"], "tier": "gold",
		"containers": [{"image": "nginx"}]}, "metadata": {"annotations": {"app.kubernetes.io/name": "web"}}}`)
	tests := []struct {
		path    string
		want    any
		present bool
	}{
		{"spec.replicas", 3.0, true},
		{"spec.empty", nil, true},
		{"spec.empty.x", nil, false},
		{"spec.tags[1]", "b", true},
		{"spec.tags[2]", nil, false},
		{"spec.tags.x", nil, false},
		{"spec.tier.x", nil, false},
		{"spec.tier[0]", nil, false},
		{"spec.containers[0].image", "nginx", true},
		{"spec.missing.deeper", nil, false},
		{`metadata.annotations["app.kubernetes.io/name"]`, "web", true},
	}
	for _, tt := range tests {
		got, present := mustPath(t, tt.path).Lookup(obj)
		if present != tt.present || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Lookup(%s) = %v, %v; want %v, %v", tt.path, got, present, tt.want, tt.present)
		}
	}
	if _, present := mustPath(t, "spec").Lookup(nil); present {
		t.Error("Lookup on a nil object found a value")
	}
}

func TestPathPointer(t *testing.T) {
	tests := []struct{ path, want string }{
		{"spec.replicas", "/spec/replicas"},
		{"spec.containers[0].image", "/spec/containers/0/image"},
		{`metadata.annotations["app.kubernetes.io/name"]`, "/metadata/annotations/app.kubernetes.io~1name"},
		{`metadata.labels["a~b/c"]`, "/metadata/labels/a~0b~1c"},
		{`a["~1"]`, "/a/~01"},
	}
	for _, tt := range tests {
		if got := mustPath(t, tt.path).Pointer(); got != tt.want {
			t.Errorf("Pointer(%s) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func mustPath(t testing.TB, s string) Path {
	t.Helper()
	p, err := ParsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
