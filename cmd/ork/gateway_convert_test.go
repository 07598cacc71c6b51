//go:build !gateway

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const convertKatalog = `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: convert
gateway:
  namespace: orkestra-system
spec:
  crds:
    website:
      apiTypes: {group: web.example.com, version: v2, kind: Website, plural: websites}
      conversion:
        storageVersion: v2
        versions: [v1, v2]
        paths:
          - from: v1
            to: v2
            spec:
              replicas: "{{ .spec.size }}"
          - from: v2
            to: v1
            spec:
              size: "{{ .spec.replicas }}"
`

const websiteV1 = `apiVersion: web.example.com/v1
kind: Website
metadata:
  name: shop
  namespace: web
spec:
  size: 3
  image: nginx
`

func runConvertCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"katalog.yaml": convertKatalog,
		"v1.yaml":      websiteV1,
		"bad.yaml":     strings.Replace(websiteV1, "spec:\n  size: 3\n  image: nginx\n", "spec: big\n", 1),
		"two.yaml":     websiteV1 + "---\n" + websiteV1,
		"list.yaml":    "- a\n",
		"core.yaml":    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
		"invalid.yaml": strings.Replace(convertKatalog, "storageVersion: v2", "storageVersion: v9", 1),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	full := []string{"gateway", "convert"}
	for _, a := range args {
		if strings.HasSuffix(a, ".yaml") {
			a = filepath.Join(dir, a)
		}
		full = append(full, a)
	}
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetIn(strings.NewReader(stdin))
	code = execute(root, full, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestGatewayConvert(t *testing.T) {
	code, out, errOut := runConvertCmd(t, "", "-f", "katalog.yaml", "--object", "v1.yaml", "--to", "v2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := `apiVersion: web.example.com/v2
kind: Website
metadata:
  name: shop
  namespace: web
spec:
  image: nginx
  replicas: 3
`
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}

	// The printed object converts back to the original (stdin, full apiVersion).
	code, back, errOut := runConvertCmd(t, out, "-f", "katalog.yaml", "--object", "-", "--to", "web.example.com/v1")
	if code != 0 {
		t.Fatalf("back: exit %d: %s", code, errOut)
	}
	if back != "apiVersion: web.example.com/v1\nkind: Website\nmetadata:\n  name: shop\n  namespace: web\nspec:\n  image: nginx\n  size: 3\n" {
		t.Errorf("back:\n%s", back)
	}
}

func TestGatewayConvertErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"conversion fails", []string{"-f", "katalog.yaml", "--object", "bad.yaml", "--to", "v2"}, 1, ""},
		{"unknown version", []string{"-f", "katalog.yaml", "--object", "v1.yaml", "--to", "v7"}, 1, "version v7 is not a version of Website.web.example.com"},
		{"not a conversion CRD", []string{"-f", "katalog.yaml", "--object", "core.yaml", "--to", "v2"}, 2, `apiVersion "v1" is not group/version`},
		{"invalid Katalog", []string{"-f", "invalid.yaml", "--object", "v1.yaml", "--to", "v2"}, 1, "K16"},
		{"no --object", []string{"-f", "katalog.yaml", "--to", "v2"}, 2, "--object is required"},
		{"no --to", []string{"-f", "katalog.yaml", "--object", "v1.yaml"}, 2, "--to is required"},
		{"other group", []string{"-f", "katalog.yaml", "--object", "v1.yaml", "--to", "other.example.com/v2"}, 2, "the object's group is web.example.com"},
		{"bad --to", []string{"-f", "katalog.yaml", "--object", "v1.yaml", "--to", "a/b/c"}, 2, `--to "a/b/c"`},
		{"missing object file", []string{"-f", "katalog.yaml", "--object", "nope.yaml", "--to", "v2"}, 2, "cannot read object"},
		{"two objects", []string{"-f", "katalog.yaml", "--object", "two.yaml", "--to", "v2"}, 2, "holds 2 objects"},
		{"not an object", []string{"-f", "katalog.yaml", "--object", "list.yaml", "--to", "v2"}, 2, "not an object"},
		{"missing Katalog", []string{"-f", "nope.yaml", "--object", "v1.yaml", "--to", "v2"}, 2, "cannot read"},
		{"argument", []string{"-f", "katalog.yaml", "extra"}, 2, `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runConvertCmd(t, "", tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, errOut)
			}
			if out != "" {
				t.Errorf("stdout on failure: %q", out)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q does not say %q", errOut, tc.want)
			}
		})
	}
	// The failure names the object, the versions and the cause.
	_, _, errOut := runConvertCmd(t, "", "-f", "katalog.yaml", "--object", "bad.yaml", "--to", "v2")
	for _, want := range []string{"Website web/shop", "from web.example.com/v1 to web.example.com/v2", "spec is a string"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not say %q", errOut, want)
		}
	}
}

// FuzzConvertInput: reading --object and --to never panics, and what is
// accepted is one JSON object of a group/version.
func FuzzConvertInput(f *testing.F) {
	f.Add(websiteV1, "v2")
	f.Add(`{"apiVersion":"web.example.com/v1","kind":"Website","metadata":{"name":"a"}}`, "web.example.com/v2")
	f.Add(websiteV1+"---\n"+websiteV1, "v2")
	f.Add("- a\n", "a/b/c")
	f.Add("apiVersion: v1\nkind: ConfigMap\n", "")
	f.Add("apiVersion: a/b\nkind: K\nspec: {x: [1, 2.5, true, null]}\n", "other/v1")
	f.Fuzz(func(t *testing.T, object, to string) {
		raw, apiVersion, err := readConvertObject(strings.NewReader(object), "-")
		if err != nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("accepted input is not a JSON object: %v\n%s", err, raw)
		}
		if m["apiVersion"] != apiVersion || !strings.Contains(apiVersion, "/") {
			t.Fatalf("apiVersion %q, object says %v", apiVersion, m["apiVersion"])
		}
		group, _, _ := strings.Cut(apiVersion, "/")
		desired, err := desiredVersion(group, to)
		if err != nil {
			return
		}
		if g, v, ok := strings.Cut(desired, "/"); !ok || g != group || v == "" || strings.Contains(v, "/") {
			t.Fatalf("--to %q gave %q for group %q", to, desired, group)
		}
	})
}
