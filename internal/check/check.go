package check

import (
	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// Result is the outcome of the pass over one Katalog file.
type Result struct {
	File     string
	Findings []Finding      // sorted by position
	Policy   *policy.Policy // nil when any finding is an error
}

// Errors counts the error findings.
func (r *Result) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == Error {
			n++
		}
	}
	return n
}

// Run runs every check over a loaded file. schemaErrs are the loader's
// strict-parsing errors; they become K02 findings.
func Run(f *katalog.File, schemaErrs []*katalog.SchemaError) *Result {
	panic("check: not implemented")
}

// RunFile loads a Katalog and runs the pass; err only when it cannot be read.
func RunFile(path string) (*Result, error) {
	f, errs, err := katalog.Load(path)
	if err != nil {
		return nil, err
	}
	return Run(f, errs), nil
}
