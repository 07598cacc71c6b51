package katalog

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzParse checks that any input gives a File and well-formed errors, never
// a panic or a hang. Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		file, errs := Parse("k.yaml", data)
		if file == nil || file.Katalog == nil || file.Path != "k.yaml" {
			t.Fatalf("Parse returned %+v", file)
		}
		if len(errs) > maxErrors+1 {
			t.Fatalf("%d errors, more than the cap", len(errs))
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, e := range errs {
			if e.File != "k.yaml" || e.Msg == "" || e.Pos.Line < 1 || e.Pos.Column < 1 {
				t.Fatalf("malformed error %+v", *e)
			}
		}
		for path, p := range file.positions {
			if p.Line < 1 || p.Column < 1 || p.Line > lines {
				t.Fatalf("position of %q is %v in a %d-line input", path, p, lines)
			}
		}
		// Deterministic: same input, same report.
		_, again := Parse("k.yaml", data)
		if !reflect.DeepEqual(errorStrings(errs), errorStrings(again)) {
			t.Fatalf("two parses differ:\n%q\n%q", errorStrings(errs), errorStrings(again))
		}
	})
}
