package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// fakeGateway builds a small static program with the gateway build tag,
// so the test needs no build of the real gateway.
func fakeGateway(t *testing.T) string {
	t.Helper()
	return fakeBinary(t, runtime.GOARCH, "gateway")
}

// fakeBinary builds the small program for linux/arch with the given tags.
func fakeBinary(t *testing.T, arch, tags string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fake\n\ngo 1.26\n"), 0o644)
	os.WriteFile(src, []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"ork v1\\n  build:   gateway\") }\n"), 0o644)
	bin := filepath.Join(dir, "ork")
	args := []string{"build", "-o", bin}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOOS=linux", "GOARCH="+arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake gateway: %v\n%s", err, out)
	}
	return bin
}

func caFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.crt")
	os.WriteFile(p, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644)
	return p
}

func TestBuild(t *testing.T) {
	bin := fakeGateway(t)
	o := options{binary: bin, caCerts: caFile(t), tag: "example.com/gw:v1", version: "v1", revision: "abc", created: time.Unix(0, 0)}
	o.out = filepath.Join(t.TempDir(), "a", "image.tar")
	r, err := build(o)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(o.out)
	if int64(len(first)) != r.tarSize || r.binarySize == 0 || r.appCompressed == 0 {
		t.Errorf("sizes %+v", r)
	}
	// Reproducible: a second build gives the same bytes.
	if _, err := build(o); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(o.out)
	if !bytes.Equal(first, second) {
		t.Error("two builds of the same input differ")
	}

	// The tar is an OCI layout (plus docker's manifest.json).
	dir := t.TempDir()
	untar(t, first, dir)
	for _, f := range []string{"oci-layout", "index.json", "manifest.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("the tar has no %s", f)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != o.tag {
		t.Fatalf("index %+v, %v", im, err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"/ork", "gateway"}) || c.User != "65532:65532" || cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("config %+v", cf)
	}
	if c.Labels["org.opencontainers.image.version"] != "v1" || c.Labels["org.opencontainers.image.revision"] != "abc" {
		t.Errorf("labels %v", c.Labels)
	}

	// The file system: what distroless/static:nonroot gives, and /ork.
	files := map[string]*tar.Header{}
	contents := map[string]string{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = h
		b, _ := io.ReadAll(tr)
		contents[strings.TrimSuffix(h.Name, "/")] = string(b)
	}
	if h := files["ork"]; h == nil || h.Mode&0o111 == 0 || h.Size != r.binarySize {
		t.Errorf("/ork: %+v", h)
	}
	if h := files["tmp"]; h == nil || h.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp: %+v", h)
	}
	if h := files["home/nonroot"]; h == nil || h.Uid != 65532 {
		t.Errorf("/home/nonroot: %+v", h)
	}
	if !strings.Contains(contents["etc/passwd"], "nonroot:x:65532:65532:") || !strings.Contains(contents["etc/group"], "nonroot:x:65532:") {
		t.Errorf("passwd %q group %q", contents["etc/passwd"], contents["etc/group"])
	}
	if !strings.Contains(contents["etc/ssl/certs/ca-certificates.crt"], "BEGIN CERTIFICATE") {
		t.Error("no CA certificates")
	}
}

// Several binaries, one per architecture, make one image index with a
// manifest per platform; every binary is checked, whatever its
// architecture.
func TestBuildIndex(t *testing.T) {
	amd, arm := fakeBinary(t, "amd64", "gateway"), fakeBinary(t, "arm64", "gateway")
	o := options{binary: amd, binaries: []string{arm}, caCerts: caFile(t), tag: "example.com/gw:v1", version: "v1", revision: "abc", created: time.Unix(0, 0)}
	o.out = filepath.Join(t.TempDir(), "image.tar")
	o.digestOut = filepath.Join(t.TempDir(), "digest")
	r, err := build(o)
	if err != nil {
		t.Fatal(err)
	}
	if !r.index || len(r.images) != 2 {
		t.Fatalf("result %+v", r)
	}
	data, _ := os.ReadFile(o.out)
	dir := t.TempDir()
	untar(t, data, dir)
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		t.Error("a multi-platform layout has docker's single-image manifest.json")
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil || len(tm.Manifests) != 1 || tm.Manifests[0].Digest != r.digest || tm.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != o.tag || tm.Manifests[0].Annotations["io.containerd.image.name"] != o.tag {
		t.Fatalf("index.json %+v, %v; want the image index %s", tm, err, r.digest)
	}
	idx, err := top.ImageIndex(r.digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if d.Platform == nil || d.Platform.Architecture != cf.Architecture || d.Platform.OS != "linux" {
			t.Errorf("descriptor platform %+v, config %s/%s", d.Platform, cf.OS, cf.Architecture)
		}
		platforms = append(platforms, cf.OS+"/"+cf.Architecture)
	}
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("platforms %v", platforms)
	}
	if b, _ := os.ReadFile(o.digestOut); string(b) != r.digest.String()+"\n" {
		t.Errorf("digest file %q, want %s", b, r.digest)
	}
	// The same inputs give the same index.
	r2, err := build(o)
	if err != nil || r2.digest != r.digest {
		t.Errorf("second build: %v, %v", r2.digest, err)
	}

	// Two binaries of one architecture, and a toolchain build of another
	// architecture, are refused.
	o.binaries = []string{amd}
	if _, err := build(o); err == nil || !strings.Contains(err.Error(), "give one binary per architecture") {
		t.Errorf("two amd64 binaries: %v", err)
	}
	o.binaries = []string{fakeBinary(t, "arm64", "")}
	if _, err := build(o); err == nil || !strings.Contains(err.Error(), "is not the gateway build") {
		t.Errorf("an arm64 toolchain build: %v", err)
	}
}

func TestBuildRefuses(t *testing.T) {
	out := filepath.Join(t.TempDir(), "image.tar")
	if _, err := build(options{binary: "", out: out}); err == nil || !strings.Contains(err.Error(), "-binary is required") {
		t.Errorf("no binary: %v", err)
	}
	if _, err := build(options{binary: "x", tag: "example.com/gw:", out: out}); err == nil || !strings.Contains(err.Error(), "-tag") {
		t.Errorf("bad tag: %v", err)
	}
	if _, err := build(options{binary: caFile(t), tag: "gw", out: out}); err == nil || !strings.Contains(err.Error(), "not a Linux executable") {
		t.Errorf("not ELF: %v", err)
	}
	for _, dyn := range []string{"/bin/sh", "/usr/bin/env"} {
		if _, err := os.Stat(dyn); err != nil {
			continue
		}
		if _, err := build(options{binary: dyn, tag: "gw", out: out}); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Errorf("dynamic %s: %v", dyn, err)
		}
		break
	}
	if _, err := build(options{binary: fakeGateway(t), tag: "gw", out: out, caCerts: filepath.Join(t.TempDir(), "none")}); err == nil || !strings.Contains(err.Error(), "ca-certificates") {
		t.Errorf("no CA file: %v", err)
	}
	if _, err := sourceDate("yesterday"); err == nil {
		t.Error("SOURCE_DATE_EPOCH=yesterday accepted")
	}
	if d, err := sourceDate("1700000000"); err != nil || d.Unix() != 1700000000 {
		t.Errorf("sourceDate: %v %v", d, err)
	}
}

func untar(t *testing.T, data []byte, dir string) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		b, _ := io.ReadAll(tr)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
