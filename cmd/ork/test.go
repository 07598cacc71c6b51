//go:build !gateway

package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/report"
	"github.com/orkspace/orkestra-gateway/internal/suite"
)

func newTestCmd() *cobra.Command {
	format := newChoice("text", "text", "json", "junit")
	cmd := &cobra.Command{
		Use:   "test [DIR|FILE]...",
		Short: "Run test suites: requests and the answers a Katalog must give",
		Long: `Test runs suites of admission requests and conversions against Katalogs and
checks each answer: allowed or denied, the denial's code, message and causes,
the failing rules (audited ones too), warnings, the mutation patch and the
object as admitted, or the converted object. A suite is a file named
` + suite.FileName + ` (found in each DIR and below) or any FILE given; its
schema is in docs/testing.md.

Each request takes the code path of 'ork gateway eval': the object is
converted to the version the rules are written for, the gateway's handlers
answer, CEL rules are evaluated as the API server would.

Exit status: 0 when every case passes, 1 when a case fails or a suite's
Katalog has errors, 2 on usage errors (bad flags, no suite found, a
malformed suite or object file).`,
		Example: `  ork test .
  ork test examples/website
  ork test policies/ -o junit > ork-test.xml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			return runTests(cmd.OutOrStdout(), cmd.ErrOrStderr(), args, format.value)
		},
	}
	cmd.Flags().VarP(format, "output", "o", "output format: text, json or junit")
	return cmd
}

func runTests(stdout, stderr io.Writer, args []string, format string) error {
	files, err := suite.Find(args)
	if err != nil {
		return usageError("%v", err)
	}
	var suites []*suite.Suite
	bad := false
	for _, f := range files {
		s, errs, err := suite.Load(f)
		if err != nil {
			return usageError("cannot read suite: %v", err)
		}
		for _, e := range errs {
			fmt.Fprintln(stderr, e)
			bad = true
		}
		if s != nil {
			suites = append(suites, s)
		}
	}
	if bad {
		return exitError{code: exitUsage, err: errReported}
	}
	// What the gateway would log while converting is not a verdict: a
	// conversion that must fail says so in its case.
	runner := &suite.Runner{}
	results := make([]*suite.Result, 0, len(suites))
	for _, s := range suites {
		r := runner.Run(context.Background(), s)
		if k := r.Katalog; k != nil && k.Policy == nil {
			// The findings of an invalid Katalog, as ork validate prints them.
			if err := report.Write(stderr, report.Text, []*check.Result{k}); err != nil {
				return err
			}
		}
		results = append(results, r)
	}
	switch format {
	case "json":
		err = suite.WriteJSON(stdout, results)
	case "junit":
		err = suite.WriteJUnit(stdout, results)
	default:
		err = suite.WriteText(stdout, results)
	}
	if err != nil {
		return err
	}
	if _, failed := suite.Totals(results); failed > 0 {
		return exitError{code: exitFailure, err: errReported}
	}
	return nil
}
