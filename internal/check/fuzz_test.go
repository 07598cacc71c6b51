package check

import (
	"os"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// FuzzRun checks that the pass never panics or hangs on any input the loader
// accepts or rejects, and that its result is well formed. Seeds: the corpus
// under testdata/fuzz/FuzzRun, every fixture of TestChecks and the spec
// example.
func FuzzRun(f *testing.F) {
	for _, tc := range cases {
		f.Add([]byte(tc.src))
	}
	if b, err := os.ReadFile("testdata/katalog.yaml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		kf, errs := katalog.Parse("testdata/fuzz.yaml", data)
		r := Run(kf, errs)
		if (r.Policy == nil) != (r.Errors() > 0) {
			t.Fatalf("policy %v with %d errors", r.Policy != nil, r.Errors())
		}
		for i, fd := range r.Findings {
			if !isCheckID(fd.ID) || fd.Name != checkName(fd.ID) || fd.Message == "" || fd.Pos.Line < 1 || fd.Pos.Column < 1 {
				t.Fatalf("malformed finding %+v", fd)
			}
			if fd.Severity != Error && fd.Severity != Warning {
				t.Fatalf("severity %q", fd.Severity)
			}
			if i > 0 {
				a := r.Findings[i-1]
				if a.Pos.Line > fd.Pos.Line || a.Pos.Line == fd.Pos.Line && a.Pos.Column > fd.Pos.Column {
					t.Fatalf("findings out of order: %s before %s", a, fd)
				}
			}
		}
	})
}
