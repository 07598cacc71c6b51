//go:build !gateway

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ork test: exit 0 when every case passes, 1 on a mismatch, 2 on usage
// errors, with the failing case's file:line:column.
func TestTestCommand(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	katalog := filepath.Join(root, "examples", "website", "katalog.yaml")
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	head := "apiVersion: orkestra.orkspace.io/v1\nkind: Test\nkatalog: " + katalog + "\ncases:\n"
	site := "    object: {apiVersion: web.example.com/v2, kind: Website, metadata: {name: s, namespace: web-a}, spec: {image: registry.example.com/a:1, domain: a.example.com, replicas: 20}}\n"
	pass := write("pass/ork-test.yaml", head+"  - name: denied\n"+site+"    expect: {allowed: false, code: 422}\n")
	fail := write("fail/ork-test.yaml", head+"  - name: ok\n"+site+"    expect: {allowed: false}\n  - name: wrong\n"+site+"    expect: {allowed: true}\n")
	bad := write("bad/ork-test.yaml", head+"  - name: x\n    expect: {allowed: true}\n")
	write("empty/README", "no suite here\n")

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"all pass", []string{"test", filepath.Dir(pass)}, 0, []string{"  PASS denied", "1 passed, 0 failed"}, ""},
		{"a mismatch", []string{"test", fail}, 1, []string{"  PASS ok", "  FAIL " + fail + ":8:5: wrong", "allowed: want true, got false", "1 passed, 1 failed"}, ""},
		{"junit", []string{"test", fail, "-o", "junit"}, 1, []string{`<testsuites tests="2" failures="1">`, `<testcase name="wrong"`}, ""},
		{"json", []string{"test", pass, "-o", "json"}, 0, []string{`"passed": 1`}, ""},
		{"malformed suite", []string{"test", bad}, 2, nil, bad + ":5:5: a case needs object or objectFile"},
		{"no suite", []string{"test", filepath.Join(dir, "empty")}, 2, nil, "holds no ork-test.yaml"},
		{"missing path", []string{"test", filepath.Join(dir, "nope")}, 2, nil, "no such file or directory"},
		{"bad format", []string{"test", pass, "-o", "xml"}, 2, nil, `invalid argument "xml" for "-o, --output" flag: must be text, json or junit`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runInProcess(tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, r.stderr)
			}
		})
	}
}
