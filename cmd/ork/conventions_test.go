//go:build !gateway

package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Every command of the toolchain has help examples, and names the Katalog
// with -f/--file when it reads one.
func TestCommandConventions(t *testing.T) {
	var walk func(*cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || strings.HasPrefix(c.Name(), "__") {
			return
		}
		n++
		if c.Example == "" {
			t.Errorf("%q has no Example", c.CommandPath())
		}
		if f := c.Flags().Lookup("file"); f != nil && f.Shorthand != "f" {
			t.Errorf("%q: --file has shorthand %q, want -f", c.CommandPath(), f.Shorthand)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	if n < 9 {
		t.Errorf("walked %d commands; want at least root, gateway, eval, convert, validate, generate, bundle, completion, version", n)
	}
}

// `ork completion SHELL` prints the script of each shell through the built
// binary; the script's completion calls work.
func TestCompletion(t *testing.T) {
	bin := toolchain(t)
	for shell, want := range map[string]string{
		"bash":       "# bash completion V2 for ork",
		"zsh":        "#compdef ork",
		"fish":       "complete -c ork",
		"powershell": "Register-ArgumentCompleter -CommandName 'ork'",
	} {
		r := runBin(t, bin, t.TempDir(), "completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, want) || r.stderr != "" {
			t.Errorf("completion %s: exit %d, stderr %q, stdout lacks %q", shell, r.code, r.stderr, want)
		}
	}
	r := runBin(t, bin, t.TempDir(), "__complete", "generate", "bundle", "--fo")
	if r.code != 0 || !strings.Contains(r.stdout, "--for\t") || !strings.Contains(r.stdout, "--format\t") {
		t.Errorf("completing --fo: exit %d, stdout %q", r.code, r.stdout)
	}
	r = runBin(t, bin, t.TempDir(), "__complete", "completion", "")
	for _, s := range completionShells {
		if !strings.Contains(r.stdout, s+"\n") {
			t.Errorf("completing `ork completion` does not offer %s: %q", s, r.stdout)
		}
	}
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		r := runBin(t, bin, t.TempDir(), args...)
		if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, "Run 'ork completion --help' for usage.") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

// `ork version -o json|yaml` in both builds: a document with the same
// fields as the text.
func TestVersionOutput(t *testing.T) {
	for bin, build := range map[string]string{toolchain(t): "toolchain", gateway(t): "gateway"} {
		var fromJSON, fromYAML map[string]string
		r := runBin(t, bin, t.TempDir(), "version", "-o", "json")
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &fromJSON) != nil {
			t.Fatalf("%s version -o json: exit %d, %q %q", build, r.code, r.stdout, r.stderr)
		}
		r = runBin(t, bin, t.TempDir(), "version", "--output", "yaml")
		if r.code != 0 || yaml.UnmarshalStrict([]byte(r.stdout), &fromYAML) != nil {
			t.Fatalf("%s version -o yaml: exit %d, %q %q", build, r.code, r.stdout, r.stderr)
		}
		if fromJSON["build"] != build || fromJSON["go"] == "" || fromJSON["version"] == "" || len(fromJSON) != 7 {
			t.Errorf("%s: %v", build, fromJSON)
		}
		if !equalMaps(fromJSON, fromYAML) {
			t.Errorf("%s: json %v, yaml %v", build, fromJSON, fromYAML)
		}
		r = runBin(t, bin, t.TempDir(), "version", "-o", "xml")
		if r.code != exitUsage || !strings.Contains(r.stderr, `--output "xml": want text, json or yaml`) {
			t.Errorf("%s version -o xml: exit %d, stderr %q", build, r.code, r.stderr)
		}
	}
	var v map[string]string
	r := runBin(t, toolchain(t), t.TempDir(), "version", "-o", "json")
	if json.Unmarshal([]byte(r.stdout), &v) != nil || v["version"] != testVersion || v["commit"] != testCommit {
		t.Errorf("ldflags values not in the JSON: %v", v)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// --katalog still names the Katalog (an alias of --file) in every command.
func TestKatalogAlias(t *testing.T) {
	k := mustAbs(t, bundleKatalog)
	for _, args := range [][]string{
		{"validate", "--katalog", k},
		{"generate", "bundle", "--for", "gateway", "--katalog", k, "--image", "gw:v1"},
		{"gateway", "convert", "--katalog", mustAbs(t, "../../examples/website/katalog.yaml"), "--object", "nope.yaml", "--to", "v2"},
	} {
		r := runBin(t, toolchain(t), t.TempDir(), args...)
		if strings.Contains(r.stderr, "unknown flag") {
			t.Errorf("%v: %s", args, r.stderr)
		}
		if args[0] != "gateway" && r.code != 0 {
			t.Errorf("%v: exit %d, %s", args, r.code, r.stderr)
		}
	}
	r := runBin(t, toolchain(t), t.TempDir(), "validate", "--help")
	if !strings.Contains(r.stdout, "-f, --file") || strings.Contains(r.stdout, "--katalog") {
		t.Errorf("validate --help shows:\n%s", r.stdout)
	}
}

// The gateway's durations and ports are typed flags: a bad value is a
// usage error when the flag is parsed, before the pod guard.
func TestGatewayFlagTypes(t *testing.T) {
	bin := gateway(t)
	r := runBin(t, bin, t.TempDir(), "gateway", "--help")
	for _, want := range []string{"--sync-interval duration", "--drain-timeout duration", "--trust-grace duration", "--webhook-port port", "-f, --file string", "--pprof-address string", "Examples:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("gateway --help lacks %q:\n%s", want, r.stdout)
		}
	}
	for args, want := range map[string]string{
		"--sync-interval soon": `invalid argument "soon" for "--sync-interval" flag`,
		"--drain-timeout -1s":  `invalid argument "-1s" for "--drain-timeout" flag: duration "-1s" is negative`,
		"--probe-port 99999":   `invalid argument "99999" for "--probe-port" flag: "99999" is not a port`,
	} {
		r := runBin(t, bin, t.TempDir(), append([]string{"gateway"}, strings.Fields(args)...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("gateway %s: exit %d, stderr %q; want 2 and %q", args, r.code, r.stderr, want)
		}
	}
	// Durations with days are durations too.
	r = runBin(t, bin, t.TempDir(), "gateway", "--sync-interval", "1d")
	if strings.Contains(r.stderr, "invalid argument") {
		t.Errorf("--sync-interval 1d: %s", r.stderr)
	}
}
