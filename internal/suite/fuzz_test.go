package suite

import (
	"bytes"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse checks that any suite gives either a suite or well-formed
// errors with positions inside the input, never a panic or a hang, and the
// same report twice. Seeds are in testdata/fuzz/FuzzParse; files a suite
// names resolve in testdata.
func FuzzParse(f *testing.F) {
	name := filepath.Join("testdata", "ork-test.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		s, errs := parse(name, data)
		if (s == nil) == (len(errs) == 0) {
			t.Fatalf("Parse gave suite %v and %d errors", s, len(errs))
		}
		// YAML ends lines at \n, \r, NEL, LS and PS: an upper bound.
		lines := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) + bytes.Count(data, []byte("\u0085")) +
			bytes.Count(data, []byte("\u2028")) + bytes.Count(data, []byte("\u2029")) + 1
		for _, e := range errs {
			if e.File != name || e.Msg == "" || e.Pos.Line < 1 || e.Pos.Column < 1 || e.Pos.Line > lines {
				t.Fatalf("malformed error %+v in a %d-line input", *e, lines)
			}
		}
		if s != nil {
			for _, c := range s.Cases {
				if (c.Input == nil) == (c.Convert == nil) || c.Expect == nil {
					t.Fatalf("case %q is neither a request nor a conversion", c.Name)
				}
			}
		}
		_, again := parse(name, data)
		if !reflect.DeepEqual(strs(errs), strs(again)) {
			t.Fatalf("two parses differ:\n%q\n%q", strs(errs), strs(again))
		}
	})
}

func strs(errs []*Error) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}
