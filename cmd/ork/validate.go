//go:build !gateway

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/report"
)

func newValidateCmd() *cobra.Command {
	var (
		files  []string
		format = report.Text
	)
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check Katalog files and print every finding",
		Long: `Validate runs the check pass the gateway runs at start-up over each Katalog
and prints every finding as file:line:column, severity, check ID and name,
message and fix hint, then a summary per file.

Exit status: 0 when every file is valid (warnings allowed), 1 when any file
has an error, 2 on usage errors (bad flags, missing or unreadable files).`,
		Example: `  ork validate
  ork validate -f katalog.yaml -f staging/katalog.yaml
  ork validate -f katalog.yaml -o json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected argument %q: give Katalog files with -f", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("file") {
				// Say where the implicit file came from when it is missing.
				if err := readable(files[0]); err != nil {
					return usageError("%v (the default Katalog; name one with -f)", err)
				}
			}
			return validate(cmd.OutOrStdout(), files, format)
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", []string{"katalog.yaml"}, "Katalog file to check (repeatable)")
	cmd.Flags().VarP(&format, "output", "o", "output format: text or json")
	return cmd
}

// validate checks every file and prints the report; the error carries the
// exit code.
func validate(w io.Writer, files []string, format report.Format) error {
	// Every file must be readable before any output, so a typo in one -f
	// is a clean usage error rather than a half-printed report.
	for _, name := range files {
		if err := readable(name); err != nil {
			return exitError{code: exitUsage, err: err}
		}
	}
	results := make([]*check.Result, 0, len(files))
	valid := true
	for _, name := range files {
		r, err := check.RunFile(name)
		if err != nil {
			return exitError{code: exitUsage, err: fmt.Errorf("cannot read Katalog: %w", err)}
		}
		if r.File == "" {
			r.File = name
		}
		valid = valid && r.Errors() == 0
		results = append(results, r)
	}
	if err := report.Write(w, format, results); err != nil {
		return err
	}
	if !valid {
		return exitError{code: exitFailure, err: errReported}
	}
	return nil
}

// readable reports, in one sentence, why name cannot be read as a Katalog.
func readable(name string) error {
	if name == "" {
		return errors.New("empty Katalog file name")
	}
	f, err := os.Open(name)
	if err == nil {
		var fi os.FileInfo
		fi, err = f.Stat()
		f.Close()
		if err == nil && fi.IsDir() {
			return fmt.Errorf("cannot read %s: it is a directory, not a Katalog file", name)
		}
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the message
		}
		return fmt.Errorf("cannot read %s: %w", name, err)
	}
	return nil
}
