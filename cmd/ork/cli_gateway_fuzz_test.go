package main

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/orkspace/orkestra-gateway/internal/server"
)

// probeCommands are the gateway build's commands with the same flags, whose
// runs only resolve the configuration (server.Resolve, with an empty
// environment) instead of starting anything.
func probeCommands(ran *string) commandLine {
	cmds := append(commandLine(nil), gatewayCommands...)
	cmds[0].run = func(fs *pflag.FlagSet, _ io.Writer) error {
		*ran = "gateway"
		if _, err := server.Resolve(fs, func(string) string { return "" }); err != nil {
			return usage(err)
		}
		return nil
	}
	version := cmds[1].run
	cmds[1].run = func(fs *pflag.FlagSet, w io.Writer) error {
		*ran = "version"
		return version(fs, w)
	}
	return cmds
}

var usageHint = regexp.MustCompile(`\nRun 'ork( gateway| version| help)? --help' for usage\.\n$`)

// The gateway build's parser on any command line: no panic, exit 0, 1 or
// 2; help and output only on success; every usage error one "Error:" line
// (a suggestion list may follow) and the usage hint of the command at fault.
func FuzzGatewayCommandLine(f *testing.F) {
	for _, seed := range []string{
		"", "--help", "gateway", "gateway\x00-f\x00k.yaml", "gateway\x00--katalog=k.yaml\x00--sync-interval\x001d",
		"gateway\x00--pprof-allow-remote", "gateway\x00--probe-port\x0099999", "version\x00-o\x00json", "version\x00-o",
		"help\x00gateway", "help\x00nope", "gatway", "-h\x00gateway", "gateway\x00--\x00extra", "gateway\x00-fk.yaml\x00-h",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var args []string
		if line != "" {
			args = strings.Split(line, "\x00")
		}
		var ran string
		var stdout, stderr bytes.Buffer
		code := probeCommands(&ran).run(args, &stdout, &stderr)
		switch code {
		case exitOK:
			if stderr.Len() > 0 {
				t.Fatalf("%q: exit 0 with stderr %q", args, stderr.String())
			}
			if ran == "" && !strings.Contains(stdout.String(), "Usage:") {
				t.Fatalf("%q: exit 0, nothing run and no help: %q", args, stdout.String())
			}
		case exitFailure:
			if !strings.HasPrefix(stderr.String(), "Error: ") || ran == "" {
				t.Fatalf("%q: exit 1 (ran %q), stderr %q", args, ran, stderr.String())
			}
		case exitUsage:
			if stdout.Len() > 0 {
				t.Fatalf("%q: usage error with stdout %q", args, stdout.String())
			}
			if !strings.HasPrefix(stderr.String(), "Error: ") || !usageHint.MatchString(stderr.String()) {
				t.Fatalf("%q: usage error %q", args, stderr.String())
			}
		default:
			t.Fatalf("%q: exit %d", args, code)
		}
	})
}

// In-process: what the gateway build runs for a command line, and with
// which values; the transcripts of TestGatewayCommandLine cover the output.
func TestGatewayCommandLineRuns(t *testing.T) {
	var ran string
	var got *pflag.FlagSet
	cmds := probeCommands(&ran)
	inner := cmds[0].run
	cmds[0].run = func(fs *pflag.FlagSet, w io.Writer) error { got = fs; return inner(fs, w) }
	for _, c := range []struct {
		args      []string
		code      int
		ran, file string
	}{
		{[]string{"gateway"}, 0, "gateway", "/etc/orkestra/katalog.yaml"},
		{[]string{"gateway", "--katalog", "a.yaml"}, 0, "gateway", "a.yaml"},
		{[]string{"gateway", "-f=b.yaml", "--sync-interval", "1d"}, 0, "gateway", "b.yaml"},
		{[]string{"gateway", "--file", "c.yaml", "--help"}, 0, "", ""},
		{[]string{"gateway", "--webhook-port", "8080"}, 2, "gateway", ""}, // the probe port's default
		{[]string{"gateway", "extra"}, 2, "", ""},
		{[]string{"version", "-o", "yaml"}, 0, "version", ""},
		{[]string{"version", "-o", "xml"}, 2, "version", ""},
	} {
		ran, got = "", nil
		var stdout, stderr bytes.Buffer
		code := cmds.run(c.args, &stdout, &stderr)
		if code != c.code || ran != c.ran {
			t.Errorf("%q: exit %d, ran %q; want %d, %q\n%s", c.args, code, ran, c.code, c.ran, stderr.String())
			continue
		}
		if c.file != "" {
			if v, _ := got.GetString("file"); v != c.file {
				t.Errorf("%q: --file %q, want %q", c.args, v, c.file)
			}
		}
	}
}
