package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every example Katalog is valid, whether named with -f from the repository
// root (crdFile resolves against the Katalog, not the working directory) or
// found as the default katalog.yaml of its own directory.
func TestExamplesValidate(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "examples", "*", "katalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d examples under %s/examples, want at least 2", len(files), root)
	}
	bin := toolchain(t)
	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		t.Run(filepath.Base(filepath.Dir(file)), func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(filepath.Dir(file), "README.md")); err != nil {
				t.Errorf("example without a README: %v", err)
			}
			for _, run := range []struct {
				dir  string
				args []string
			}{
				{root, []string{"validate", "-f", rel}},
				{filepath.Dir(file), []string{"validate"}},
			} {
				r := runBin(t, bin, run.dir, run.args...)
				if r.code != 0 {
					t.Errorf("ork %v in %s: exit %d\n%s%s", run.args, run.dir, r.code, r.stdout, r.stderr)
				}
			}
			// Every example ships a suite, and it passes.
			if _, err := os.Stat(filepath.Join(filepath.Dir(file), "ork-test.yaml")); err != nil {
				t.Errorf("example without a test suite (ork-test.yaml): %v", err)
			}
			r := runBin(t, bin, filepath.Dir(file), "test")
			if r.code != 0 || !strings.Contains(r.stdout, " passed, 0 failed") {
				t.Errorf("ork test in %s: exit %d\n%s%s", filepath.Dir(file), r.code, r.stdout, r.stderr)
			}
		})
	}
}
