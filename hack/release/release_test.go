package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The test binary itself stands in for a gateway binary: it is a Go build
// with modules, which is what the SBOM reads.
func testBinary(t *testing.T) (path, mainPkg string) {
	t.Helper()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build information")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe, bi.Path
}

// The SBOM is SPDX JSON that tools-golang reads back and validates, and it
// lists every Go module of the binary it describes (with a purl), the
// binary's SHA-256 and the standard library.
func TestSBOM(t *testing.T) {
	bin, mainPkg := testBinary(t)
	doc, err := sbom("v1.2.3", time.Unix(1700000000, 0), mainPkg, []string{bin})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeSBOM(doc, &buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sbom.spdx.json")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := verifySBOM(path, bin)
	if err != nil {
		t.Fatal(err)
	}
	bi, _ := debug.ReadBuildInfo()
	if n != len(bi.Deps) || n < 3 {
		t.Errorf("verified %d modules, the binary has %d", n, len(bi.Deps))
	}
	back, err := readSBOM(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if back.SPDXVersion != "SPDX-2.3" || back.CreationInfo.Created != "2023-11-14T22:13:20Z" || !strings.HasPrefix(back.DocumentNamespace, namespaceBase+"v1.2.3/sbom-") {
		t.Errorf("document %s %s %s", back.SPDXVersion, back.CreationInfo.Created, back.DocumentNamespace)
	}
	data, _ := os.ReadFile(bin)
	sum := sha256.Sum256(data)
	if !strings.Contains(buf.String(), hex.EncodeToString(sum[:])) || !strings.Contains(buf.String(), "pkg:golang/stdlib@"+bi.GoVersion) {
		t.Error("the SBOM lacks the binary's SHA-256 or the standard library")
	}
	// Same input, same bytes.
	doc2, _ := sbom("v1.2.3", time.Unix(1700000000, 0), mainPkg, []string{bin})
	var buf2 bytes.Buffer
	writeSBOM(doc2, &buf2)
	if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Error("two SBOMs of the same binary differ")
	}

	// An SBOM that lacks a module of the build, or does not parse, fails.
	dep := bi.Deps[0]
	cut := strings.ReplaceAll(buf.String(), "pkg:golang/"+dep.Path+"@"+dep.Version, "pkg:golang/example.com/other@v0.0.0")
	os.WriteFile(path, []byte(cut), 0o644)
	if _, err := verifySBOM(path, bin); err == nil || !strings.Contains(err.Error(), dep.Path+"@"+dep.Version) {
		t.Errorf("an SBOM without %s: %v", dep.Path, err)
	}
	os.WriteFile(path, []byte(`{"spdxVersion": 3}`), 0o644)
	if _, err := verifySBOM(path, bin); err == nil || !strings.Contains(err.Error(), "does not parse") {
		t.Errorf("a broken SBOM: %v", err)
	}
	if _, err := sbom("v1", time.Unix(0, 0), "example.com/other/cmd", []string{bin}); err == nil || !strings.Contains(err.Error(), "is not a build of example.com/other/cmd") {
		t.Errorf("a binary of another program: %v", err)
	}
}

func TestChecksums(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bundles"), 0o755)
	os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(dir, "bundles", "b.yaml"), []byte("b"), 0o644)
	if err := writeChecksums(dir); err != nil {
		t.Fatal(err)
	}
	sums, _ := os.ReadFile(filepath.Join(dir, ChecksumsFile))
	want := "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb  a\n3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d  bundles/b.yaml\n"
	if string(sums) != want {
		t.Errorf("SHA256SUMS:\n%s\nwant (as sha256sum writes it):\n%s", sums, want)
	}
	if n, err := verifyChecksums(dir); err != nil || n != 2 {
		t.Fatalf("%d, %v", n, err)
	}
	os.WriteFile(filepath.Join(dir, "a"), []byte("A"), 0o644)
	if _, err := verifyChecksums(dir); err == nil || !strings.Contains(err.Error(), "a: SHA-256") {
		t.Errorf("a changed file: %v", err)
	}
	writeChecksums(dir)
	os.WriteFile(filepath.Join(dir, "extra"), nil, 0o644)
	if _, err := verifyChecksums(dir); err == nil || !strings.Contains(err.Error(), "extra is not listed") {
		t.Errorf("an unlisted file: %v", err)
	}
}

// imageWith is an image for linux/arch whose /ork holds data.
func imageWith(t *testing.T, arch string, data []byte) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "ork", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), l)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// writeLayoutTar writes an OCI layout of an index of imgs, tagged tag.
func writeLayoutTar(t *testing.T, tag string, imgs map[string]v1.Image) (string, v1.Hash) {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		if img, ok := imgs[arch]; ok {
			adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
		}
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "image.tar")
	f, _ := os.Create(out)
	tw := tar.NewWriter(f)
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		rel, _ := filepath.Rel(dir, path)
		if rel == "." {
			return nil
		}
		if info.IsDir() {
			return tw.WriteHeader(&tar.Header{Name: rel + "/", Typeflag: tar.TypeDir, Mode: 0o755})
		}
		b, _ := os.ReadFile(path)
		tw.WriteHeader(&tar.Header{Name: rel, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
		return nil
	})
	tw.Close()
	f.Close()
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return out, d
}

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// The image tar must be one index, tagged with the version, with both
// platforms, each running the gateway binary of its architecture.
func TestVerifyImage(t *testing.T) {
	amd, arm := []byte("amd64 gateway"), []byte("arm64 gateway")
	gateways := map[string]string{"linux/amd64": hexSum(amd), "linux/arm64": hexSum(arm)}
	both := map[string]v1.Image{"amd64": imageWith(t, "amd64", amd), "arm64": imageWith(t, "arm64", arm)}
	path, digest := writeLayoutTar(t, "ghcr.io/x/gw:v1.2.3", both)
	got, platforms, err := verifyImage(path, "v1.2.3", gateways)
	if err != nil || got != digest || strings.Join(platforms, ",") != "linux/amd64,linux/arm64" {
		t.Fatalf("%s %v %v", got, platforms, err)
	}
	if _, _, err := verifyImage(path, "v1.2.4", gateways); err == nil || !strings.Contains(err.Error(), "not with version v1.2.4") {
		t.Errorf("another version: %v", err)
	}
	one, _ := writeLayoutTar(t, "ghcr.io/x/gw:v1.2.3", map[string]v1.Image{"amd64": both["amd64"]})
	if _, _, err := verifyImage(one, "v1.2.3", gateways); err == nil || !strings.Contains(err.Error(), "platforms [linux/amd64]") {
		t.Errorf("one platform: %v", err)
	}
	swapped, _ := writeLayoutTar(t, "ghcr.io/x/gw:v1.2.3", map[string]v1.Image{"amd64": both["amd64"], "arm64": imageWith(t, "arm64", amd)})
	if _, _, err := verifyImage(swapped, "v1.2.3", gateways); err == nil || !strings.Contains(err.Error(), "linux/arm64: /ork has SHA-256") {
		t.Errorf("the amd64 binary in the arm64 image: %v", err)
	}
}

func TestVerifyBundles(t *testing.T) {
	examples, dir := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(examples, "guard"), 0o755)
	os.WriteFile(filepath.Join(examples, "guard", "katalog.yaml"), nil, 0o644)
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	os.WriteFile(filepath.Join(dir, "guard.yaml"), []byte("kind: Deployment\n          image: gw:v1@"+d.String()+"\n"), 0o644)
	if names, err := verifyBundles(dir, examples, d); err != nil || len(names) != 1 {
		t.Fatalf("%v %v", names, err)
	}
	os.WriteFile(filepath.Join(dir, "guard.yaml"), []byte("kind: Deployment\n          image: gw:v1\n"), 0o644)
	if _, err := verifyBundles(dir, examples, d); err == nil || !strings.Contains(err.Error(), "does not run the image by its digest") {
		t.Errorf("a bundle by tag: %v", err)
	}
	os.Remove(filepath.Join(dir, "guard.yaml"))
	if _, err := verifyBundles(dir, examples, d); err == nil {
		t.Error("a missing bundle passed")
	}
}
