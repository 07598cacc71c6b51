//go:build !gateway

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/bundle"
)

const bundleKatalog = "../../examples/gateway/katalog.yaml"

// Bad command lines exit 2 with one precise error and write nothing.
func TestBundleUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no --for", []string{"-f", bundleKatalog}, "Error: --for is required: the supported target is gateway"},
		{"unknown --for", []string{"--for", "runtime", "-f", bundleKatalog}, `Error: --for "runtime" is not a supported target: the supported target is gateway`},
		{"missing Katalog", []string{"--for", "gateway", "-f", filepath.Join(dir, "nope.yaml")}, "Error: cannot read " + filepath.Join(dir, "nope.yaml") + ": no such file or directory"},
		{"zero replicas", []string{"--for", "gateway", "-f", bundleKatalog, "--replicas", "0"}, "Error: --replicas 0: must be at least 1"},
		{"bad image", []string{"--for", "gateway", "-f", bundleKatalog, "--image", "gw:-1"}, `Error: --image: image "gw:-1": tag "-1"`},
		{"bad namespace", []string{"--for", "gateway", "-f", bundleKatalog, "-n", "Sec"}, `Error: --namespace "Sec": a lowercase RFC 1123 label`},
		{"namespace conflict", []string{"--for", "gateway", "-f", bundleKatalog, "-n", "other"}, `Error: --namespace "other" contradicts gateway.namespace "orkestra-system"`},
		{"empty output", []string{"--for", "gateway", "-f", bundleKatalog, "-o", ""}, "Error: --output is empty"},
		{"positional", []string{"--for", "gateway", "katalog.yaml"}, `Error: unexpected argument "katalog.yaml": give the Katalog with -f`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runInProcess(append([]string{"generate", "bundle"}, c.args...)...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "Run 'ork generate bundle --help' for usage.") {
				t.Errorf("stderr:\n%s\nwant it to contain %q and the usage hint", r.stderr, c.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty:\n%s", r.stdout)
			}
		})
	}
}

// An invalid Katalog: its findings, exit 1, no manifests.
func TestBundleInvalidKatalog(t *testing.T) {
	r := runInProcess("generate", "bundle", "--for", "gateway", "-f", "testdata/validate/errors.yaml")
	if r.code != exitFailure || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "testdata/validate/errors.yaml:") || !strings.Contains(r.stderr, " error K") {
		t.Errorf("stderr does not list the findings:\n%s", r.stderr)
	}
}

// Stdout by default and with -o -; the same bytes every time; -o DIR splits
// them into one file per object.
func TestBundleOutput(t *testing.T) {
	args := []string{"generate", "bundle", "--for", "gateway", "-f", bundleKatalog, "--image", "ghcr.io/orkspace/orkestra-gateway:v1.0.0"}
	a := runInProcess(args...)
	b := runInProcess(append(args, "-o", "-")...)
	if a.code != 0 || b.code != 0 {
		t.Fatalf("exit %d / %d: %s%s", a.code, b.code, a.stderr, b.stderr)
	}
	if a.stdout != b.stdout {
		t.Error("two runs gave different output")
	}
	if n := strings.Count(a.stdout, "\n---\n") + 1; n != 10 {
		t.Errorf("%d documents, want 10", n)
	}
	// Warnings are shown, on stderr only.
	if !strings.Contains(a.stderr, "warning K22") {
		t.Errorf("stderr lacks the Katalog's warning:\n%s", a.stderr)
	}

	dir := filepath.Join(t.TempDir(), "deploy")
	d := runInProcess(append(args, "-o", dir)...)
	if d.code != 0 {
		t.Fatalf("exit %d: %s", d.code, d.stderr)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var joined []string
	var listed []string
	for _, e := range entries {
		if e.Name() == bundle.KustomizationFile {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		joined = append(joined, string(data))
		listed = append(listed, filepath.Join(dir, e.Name()))
	}
	if len(entries) != 11 || entries[0].Name() != "01-namespace.yaml" || entries[9].Name() != "10-poddisruptionbudget.yaml" || entries[10].Name() != bundle.KustomizationFile {
		t.Errorf("files %v", listed)
	}
	if strings.Join(joined, "---\n") != a.stdout {
		t.Error("the files of -o DIR differ from the stream")
	}
	listed = append(listed, filepath.Join(dir, bundle.KustomizationFile))
	if d.stdout != strings.Join(listed, "\n")+"\n" {
		t.Errorf("stdout %q, want the files written", d.stdout)
	}
}

// Without --image a release build runs the image of its version, a build
// linked with the image it was released with runs that digest, and a
// development build refuses (there is no "latest" default).
func TestBundleDefaultImage(t *testing.T) {
	out, err := exec.Command(toolchain(t), "generate", "bundle", "--for", "gateway", "-f", bundleKatalog).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "image: " + bundle.ImageRepository + ":" + testVersion + "\n"; !strings.Contains(string(out), want) {
		t.Errorf("the bundle does not run %q", want)
	}
	const digest = "registry.example.com/gw:v1.2.3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	pinned, err := goBuild("ork-pinned", "-ldflags", "-X main.image="+digest)
	if err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(pinned, "generate", "bundle", "--for", "gateway", "-f", bundleKatalog).Output()
	if err != nil || !strings.Contains(string(out), "image: "+digest+"\n") {
		t.Errorf("a build linked with its image does not run it (%v)", err)
	}
	r := runInProcess("generate", "bundle", "--for", "gateway", "-f", bundleKatalog)
	if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, "is not a release and names no gateway image: pass --image") {
		t.Errorf("a development build without --image: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, ":latest") {
		t.Error("latest is mentioned")
	}
}

// --format helm writes a chart into -o DIR (Helm renders it in
// hack/install); it needs a directory.
func TestBundleHelm(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chart")
	r := runBin(t, toolchain(t), t.TempDir(), "generate", "bundle", "--for", "gateway", "-f", mustAbs(t, bundleKatalog), "--format", "helm", "-o", dir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, f := range []string{"Chart.yaml", "values.yaml", "values.schema.json", "templates/08-deployment.yaml", "templates/03-clusterrole.yaml"} {
		if !strings.Contains(r.stdout, filepath.Join(dir, f)+"\n") {
			t.Errorf("stdout does not list %s:\n%s", f, r.stdout)
		}
	}
	chart, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil || !strings.Contains(string(chart), "version: "+strings.TrimPrefix(testVersion, "v")+"\n") {
		t.Errorf("Chart.yaml (%v):\n%s", err, chart)
	}
	values, _ := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if !strings.Contains(string(values), "image: "+bundle.ImageRepository+":"+testVersion+"\n") {
		t.Errorf("values.yaml:\n%s", values)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "helm"}, "Error: --format helm writes a chart directory: give it with -o DIR"},
		{[]string{"--format", "chart", "-o", dir}, `Error: --format "chart": want manifests or helm`},
	} {
		r := runInProcess(append([]string{"generate", "bundle", "--for", "gateway", "-f", bundleKatalog, "--image", "gw:v1"}, c.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// --monitoring adds the metrics Service, the ServiceMonitor and the
// PrometheusRule.
func TestBundleMonitoring(t *testing.T) {
	r := runInProcess("generate", "bundle", "--for", "gateway", "-f", bundleKatalog, "--image", "gw:v1", "--monitoring")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"kind: ServiceMonitor\n", "kind: PrometheusRule\n", "name: orkestra-gateway-metrics\n", "alert: OrkestraGatewayCertificateExpiring\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the bundle lacks %q", want)
		}
	}
	if n := strings.Count(r.stdout, "\n---\n") + 1; n != 13 {
		t.Errorf("%d documents, want 13", n)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
