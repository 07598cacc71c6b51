//go:build !gateway

package main

import (
	"fmt"
	"io"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/report"
)

// loadKatalog runs the check pass for the local dry runs (eval, convert):
// findings of an invalid Katalog are printed as `ork validate` prints them
// (exit 1), warnings of a valid one go to stderr.
func loadKatalog(path string, stderr io.Writer) (*check.Result, error) {
	r, err := check.RunFile(path)
	if err != nil {
		return nil, usageError("cannot read Katalog: %v", err)
	}
	if r.File == "" {
		r.File = path
	}
	if r.Policy == nil {
		if err := report.Write(stderr, report.Text, []*check.Result{r}); err != nil {
			return nil, err
		}
		return nil, exitError{code: exitFailure, err: errReported}
	}
	for _, f := range r.Findings { // warnings only: the Katalog is valid
		fmt.Fprintln(stderr, f)
	}
	return r, nil
}
