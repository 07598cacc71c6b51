package bundle

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenImage pins the image so golden files do not depend on the build.
const goldenImage = "ghcr.io/orkspace/orkestra-gateway:v0.0.0-golden"

func examples(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("../../examples/*/katalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no examples/*/katalog.yaml found")
	}
	return paths
}

// The bundle of every example is what testdata/golden holds (go test
// -update rewrites it after an intended change; review the diff).
func TestGolden(t *testing.T) {
	for _, path := range examples(t) {
		name := filepath.Base(filepath.Dir(path))
		t.Run(name, func(t *testing.T) {
			got := generate(t, path, Options{Image: goldenImage})
			golden := filepath.Join("testdata", "golden", name+".yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("bundle of %s differs from %s (go test -update rewrites it):\n%s", path, golden, diffLines(string(want), string(got)))
			}
		})
	}
}

// Same input, same bytes: two independent runs (each reading the files and
// running the check pass) give identical output, in both output forms.
func TestDeterministic(t *testing.T) {
	for _, path := range examples(t) {
		a := generate(t, path, Options{Image: goldenImage})
		b := generate(t, path, Options{Image: goldenImage})
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two runs differ:\n%s", path, diffLines(string(a), string(b)))
		}
		da, db := t.TempDir(), t.TempDir()
		for _, dir := range []string{da, db} {
			src := load(t, path)
			bun, err := Generate(src, Options{Image: goldenImage})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bun.WriteDir(dir); err != nil {
				t.Fatal(err)
			}
		}
		entries, err := os.ReadDir(da)
		if err != nil {
			t.Fatal(err)
		}
		var joined []byte
		for i, e := range entries {
			if e.Name() == KustomizationFile {
				continue
			}
			x, _ := os.ReadFile(filepath.Join(da, e.Name()))
			y, _ := os.ReadFile(filepath.Join(db, e.Name()))
			if !bytes.Equal(x, y) {
				t.Errorf("%s: %s differs between two runs", path, e.Name())
			}
			if i > 0 {
				joined = append(joined, "---\n"...)
			}
			joined = append(joined, x...)
		}
		// The directory holds the stream, split: same objects, same bytes.
		if !bytes.Equal(joined, a) {
			t.Errorf("%s: the files of -o DIR, joined, differ from the stream", path)
		}
	}
}

func load(t testing.TB, path string) *Source {
	t.Helper()
	src, res, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if src == nil {
		var b strings.Builder
		for _, f := range res.Findings {
			b.WriteString(f.String() + "\n")
		}
		t.Fatalf("%s is not valid:\n%s", path, b.String())
	}
	return src
}

func generate(t testing.TB, path string, opts Options) []byte {
	t.Helper()
	b, err := Generate(load(t, path), opts)
	if err != nil {
		t.Fatal(err)
	}
	return b.YAML()
}

// diffLines shows the first differing line with some context.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl
		}
	}
	return "(no line differs)"
}
