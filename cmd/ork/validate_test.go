package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/report"
)

// Golden tests of `ork validate` through the built binary, run in
// testdata/validate so that file names in the output are stable. Each golden
// file is the transcript of one run; the exit code is also asserted here so
// that -update cannot quietly accept a different one.
func TestValidateGolden(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"valid-text", []string{"-f", "valid.yaml"}, 0},
		{"valid-json", []string{"-f", "valid.yaml", "-o", "json"}, 0},
		{"warnings-text", []string{"-f", "warnings.yaml"}, 0},
		{"warnings-json", []string{"-f", "warnings.yaml", "-o", "json"}, 0},
		{"errors-text", []string{"-f", "errors.yaml"}, 1},
		{"errors-json", []string{"-f", "errors.yaml", "-o", "json"}, 1},
		{"several-text", []string{"-f", "valid.yaml", "-f", "warnings.yaml", "-f", "errors.yaml"}, 1},
		{"several-json", []string{"-f", "valid.yaml", "-f", "errors.yaml", "--output=json"}, 1},
		{"missing-file", []string{"-f", "valid.yaml", "-f", "missing.yaml"}, 2},
		{"bad-output", []string{"-f", "valid.yaml", "-o", "yaml"}, 2},
	}
	bin := toolchain(t)
	dir := filepath.Join("testdata", "validate")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"validate"}, c.args...)
			r := runBin(t, bin, dir, args...)
			if r.code != c.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, c.code, r.stdout, r.stderr)
			}
			golden(t, filepath.Join("validate", c.name+".golden"), transcript(args, r))

			switch {
			case c.code == exitUsage:
				if r.stdout != "" || !strings.HasPrefix(r.stderr, "Error: ") {
					t.Errorf("usage error: want one error on stderr and nothing on stdout")
				}
			case strings.HasSuffix(c.name, "-json"):
				checkJSON(t, r, c.code == 0)
			default:
				checkText(t, r, c.code == 0)
			}
		})
	}
}

// transcript is what golden files hold: the command, stdout, stderr and exit code.
func transcript(args []string, r result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ ork %s\n%s", strings.Join(args, " "), r.stdout)
	if r.stderr != "" {
		fmt.Fprintf(&b, "--- stderr\n%s", r.stderr)
	}
	fmt.Fprintf(&b, "--- exit %d\n", r.code)
	return b.String()
}

// checkJSON asserts that the JSON output follows the documented schema and
// agrees with the exit code.
func checkJSON(t *testing.T, r result, valid bool) {
	t.Helper()
	var doc report.Document
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("output is not a report document: %v\n%s", err, r.stdout)
	}
	if doc.Version != report.SchemaVersion || doc.Valid != valid || len(doc.Files) == 0 {
		t.Errorf("version %d, valid %v, %d files; want version %d, valid %v", doc.Version, doc.Valid, len(doc.Files), report.SchemaVersion, valid)
	}
	for _, f := range doc.Files {
		errs, warns := 0, 0
		for _, fd := range f.Findings {
			switch fd.Severity {
			case "error":
				errs++
			case "warning":
				warns++
			default:
				t.Errorf("finding %+v: severity %q", fd, fd.Severity)
			}
			if fd.File != f.File || fd.Line < 1 || fd.Column < 1 || len(fd.ID) != 3 || fd.Name == "" || fd.Message == "" {
				t.Errorf("incomplete finding in %s: %+v", f.File, fd)
			}
		}
		if f.Errors != errs || f.Warnings != warns || f.Valid != (errs == 0) {
			t.Errorf("%s: errors %d, warnings %d, valid %v; findings hold %d errors, %d warnings", f.File, f.Errors, f.Warnings, f.Valid, errs, warns)
		}
	}
}

var (
	findingLine = regexp.MustCompile(`^[^:]+:[0-9]+:[0-9]+: (error|warning) K[0-9]{2} [a-z0-9-]+: .+$`)
	validLine   = regexp.MustCompile(`^\S+: valid( with [0-9]+ warnings?)? \([0-9]+ CRDs?, [0-9]+ teams?\)$`)
	invalidLine = regexp.MustCompile(`^[0-9]+ errors?(, [0-9]+ warnings?)? in \S+$`)
)

// checkText asserts the shape of the text output: finding lines, each file
// closed by its summary line.
func checkText(t *testing.T, r result, valid bool) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	errs := 0
	for i, l := range lines {
		switch m := findingLine.FindStringSubmatch(l); {
		case m != nil && m[1] == "error":
			errs++
		case m != nil:
		case validLine.MatchString(l), invalidLine.MatchString(l):
		default:
			t.Errorf("line %d is neither a finding nor a summary: %q", i+1, l)
		}
	}
	if last := lines[len(lines)-1]; !validLine.MatchString(last) && !invalidLine.MatchString(last) {
		t.Errorf("output does not end with a summary: %q", last)
	}
	if (errs == 0) != valid {
		t.Errorf("%d error findings printed, but valid is %v", errs, valid)
	}
}
