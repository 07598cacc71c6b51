//go:build !gateway

package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runInProcess runs the command line in this process.
func runInProcess(args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// Usage errors exit 2 with one error line and a pointer to the help of the
// command that failed; nothing goes to stdout.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string // the error line
		help string // the command named in the usage hint
	}{
		{"unknown command", []string{"frobnicate"}, `Error: unknown command "frobnicate" for "ork"`, "ork"},
		{"unknown flag", []string{"validate", "--strict"}, "Error: unknown flag: --strict", "ork validate"},
		{"bad output", []string{"validate", "-o", "yaml"}, `Error: invalid argument "yaml" for "-o, --output" flag: must be text or json`, "ork validate"},
		{"positional file", []string{"validate", "katalog.yaml"}, `Error: unexpected argument "katalog.yaml": give Katalog files with -f`, "ork validate"},
		{"missing file", []string{"validate", "-f", filepath.Join(dir, "nope.yaml")}, "Error: cannot read " + filepath.Join(dir, "nope.yaml") + ": no such file or directory", "ork validate"},
		{"directory", []string{"validate", "-f", dir}, "Error: cannot read " + dir + ": it is a directory, not a Katalog file", "ork validate"},
		{"empty name", []string{"validate", "-f", ""}, "Error: empty Katalog file name", "ork validate"},
		{"generate alone", []string{"generate"}, `Error: "ork generate" needs a generator`, "ork generate"},
		{"unknown generator", []string{"generate", "chart"}, `Error: unknown generator "chart" for "ork generate"`, "ork generate"},
		{"version args", []string{"version", "now"}, `Error: unknown command "now" for "ork version"`, "ork version"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runInProcess(c.args...)
			if r.code != exitUsage {
				t.Errorf("exit code %d, want %d; stderr:\n%s", r.code, exitUsage, r.stderr)
			}
			want := c.want + "\nRun '" + c.help + " --help' for usage.\n"
			if r.stderr != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty:\n%s", r.stdout)
			}
		})
	}
}

// A missing file among several is reported before any check runs.
func TestValidateMissingFileAmongOthers(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "katalog.yaml")
	if err := os.WriteFile(ok, []byte("apiVersion: orkestra.orkspace.io/v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	r := runInProcess("validate", "-f", ok, "-f", missing)
	if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, "cannot read "+missing) {
		t.Fatalf("got exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// Without -f, validate reads katalog.yaml in the current directory and says
// so when it is missing.
func TestValidateDefaultFileMissing(t *testing.T) {
	t.Chdir(t.TempDir())
	r := runInProcess("validate")
	want := "Error: cannot read katalog.yaml: no such file or directory (the default Katalog; name one with -f)\n"
	if r.code != exitUsage || !strings.HasPrefix(r.stderr, want) {
		t.Fatalf("got exit %d, stderr %q; want exit 2 and %q", r.code, r.stderr, want)
	}
}

// An error returned once a command runs exits 1 with no usage hint, unless
// it carries its own exit code.
func TestRunErrorCodes(t *testing.T) {
	cases := []struct {
		err    error
		code   int
		stderr string
	}{
		{errors.New("boom"), exitFailure, "Error: boom\n"},
		{exitError{code: 3, err: errors.New("denied")}, 3, "Error: denied\n"},
		{exitError{code: exitFailure, err: errReported}, exitFailure, ""},
		{usageError("bad %s", "input"), exitUsage, "Error: bad input\nRun 'ork fail --help' for usage.\n"},
	}
	for _, c := range cases {
		root := newRootCmd()
		fail := &cobra.Command{Use: "fail", RunE: func(*cobra.Command, []string) error { return c.err }}
		root.AddCommand(fail)
		classifyRunErrors(fail)
		var stdout, stderr bytes.Buffer
		code := execute(root, []string{"fail"}, &stdout, &stderr)
		if code != c.code || stderr.String() != c.stderr {
			t.Errorf("%v: exit %d, stderr %q; want exit %d, stderr %q", c.err, code, stderr.String(), c.code, c.stderr)
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help", "validate"}, {"validate", "--help"}, {}} {
		r := runInProcess(args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("ork %v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestReadBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.99.1",
		Main:      debug.Module{Path: "github.com/orkspace/orkestra-gateway", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "-tags", Value: "gateway,netgo"},
			{Key: "vcs.revision", Value: "abc123"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	cases := []struct {
		name            string
		bi              *debug.BuildInfo
		version, commit string
		want            buildInfo
	}{
		{"from build info", bi, "", "",
			buildInfo{Version: "v1.2.3", Commit: "abc123-dirty", Tags: "gateway,netgo", Go: "go1.99.1"}},
		{"ldflags win", bi, "v2.0.0", "feedface",
			buildInfo{Version: "v2.0.0", Commit: "feedface", Tags: "gateway,netgo", Go: "go1.99.1"}},
		{"clean tree", &debug.BuildInfo{Main: debug.Module{Version: "v1.0.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "false"}}}, "", "",
			buildInfo{Version: "v1.0.0", Commit: "abc123", Tags: "none", Go: runtime.Version()}},
		{"no build info", nil, "", "",
			buildInfo{Version: "(devel)", Commit: "unknown", Tags: "none", Go: runtime.Version()}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := readBuildInfo(c.bi, c.version, c.commit)
			c.want.OS, c.want.Arch = runtime.GOOS, runtime.GOARCH
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// Both builds print their version; -ldflags -X values win over build info.
func TestVersionCommand(t *testing.T) {
	r := runBin(t, toolchain(t), t.TempDir(), "version")
	for _, want := range []string{
		"ork " + testVersion + "\n",
		"  build:   toolchain\n",
		"  commit:  " + testCommit + "\n",
		"  tags:    none\n",
		"  go:      " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("toolchain version output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runBin(t, gateway(t), t.TempDir(), "version")
	for _, want := range []string{"  build:   gateway\n", "  tags:    gateway\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("gateway version output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.code != 0 {
		t.Errorf("gateway version exit code %d", r.code)
	}
}
