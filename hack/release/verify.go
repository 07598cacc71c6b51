package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// ChecksumsFile lists the SHA-256 of every other file of dist/, in the
// format of sha256sum (so `sha256sum -c SHA256SUMS` checks it).
const ChecksumsFile = "SHA256SUMS"

// The release artefacts, by name in dist/.
var (
	toolchainPlatforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"}
	gatewayPlatforms   = []string{"linux/amd64", "linux/arm64"}
)

const (
	imageTar = "orkestra-gateway-image.tar"
	sbomFile = "sbom.spdx.json"
	bundles  = "bundles"
)

func toolchainFile(p string) string { return "ork-" + strings.ReplaceAll(p, "/", "-") }
func gatewayFile(p string) string   { return "ork-gateway-" + strings.ReplaceAll(p, "/", "-") }

// distFiles lists the regular files under dir, relative and slash-separated,
// sorted.
func distFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeChecksums writes SHA256SUMS for every other file of dir.
func writeChecksums(dir string) error {
	files, err := distFiles(dir)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, f := range files {
		if f == ChecksumsFile {
			continue
		}
		sum, err := fileSHA256(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		fmt.Fprintf(&buf, "%s  %s\n", sum, f)
	}
	return os.WriteFile(filepath.Join(dir, ChecksumsFile), buf.Bytes(), 0o644)
}

// verifyChecksums checks SHA256SUMS: every line's file has that hash, and
// every other file of dir is listed.
func verifyChecksums(dir string) (int, error) {
	f, err := os.Open(filepath.Join(dir, ChecksumsFile))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	var errs []error
	for n := 1; sc.Scan(); n++ {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 || name == "" {
			errs = append(errs, fmt.Errorf("%s:%d: not \"SHA256  FILE\": %q", ChecksumsFile, n, sc.Text()))
			continue
		}
		listed[name] = true
		got, err := fileSHA256(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", ChecksumsFile, n, err))
		} else if got != sum {
			errs = append(errs, fmt.Errorf("%s: SHA-256 %s, but %s lists %s", name, got, ChecksumsFile, sum))
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	files, err := distFiles(dir)
	if err != nil {
		return 0, err
	}
	for _, f := range files {
		if f != ChecksumsFile && !listed[f] {
			errs = append(errs, fmt.Errorf("%s is not listed in %s", f, ChecksumsFile))
		}
	}
	return len(listed), errors.Join(errs...)
}

// binaryPlatform reads the OS and architecture of an executable.
func binaryPlatform(path string) (string, error) {
	if f, err := elf.Open(path); err == nil {
		defer f.Close()
		arch := map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64"}[f.Machine]
		return "linux/" + arch, nil
	}
	if f, err := macho.Open(path); err == nil {
		defer f.Close()
		arch := map[macho.Cpu]string{macho.CpuAmd64: "amd64", macho.CpuArm64: "arm64"}[f.Cpu]
		return "darwin/" + arch, nil
	}
	return "", fmt.Errorf("%s is neither an ELF nor a Mach-O executable", path)
}

// report is what verify checked.
type report struct {
	checksums int
	digest    v1.Hash
	platforms []string
	modules   int
	bundles   []string
	sizes     map[string]int64
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "verified %d checksums; image index %s for %s; SBOM lists %d Go modules; bundles %s\n",
		r.checksums, r.digest, strings.Join(r.platforms, ", "), r.modules, strings.Join(r.bundles, ", "))
	names := make([]string, 0, len(r.sizes))
	for n := range r.sizes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-36s %10d bytes %6.1f MiB\n", n, r.sizes[n], float64(r.sizes[n])/(1<<20))
	}
}

// verify checks a release directory: checksums, binaries (platform, build),
// the image index (both platforms, each running the gateway binary of dist
// for its architecture), the SBOM (parses, lists every Go module of the
// gateway build) and the bundles (one per example, naming the image by
// the index's digest).
func verify(dir, version, examples string) (*report, error) {
	r := &report{sizes: map[string]int64{}}
	var err error
	if r.checksums, err = verifyChecksums(dir); err != nil {
		return nil, err
	}
	files, err := distFiles(dir)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if st, err := os.Stat(filepath.Join(dir, f)); err == nil {
			r.sizes[f] = st.Size()
		}
	}
	var errs []error
	for _, p := range toolchainPlatforms {
		path := filepath.Join(dir, toolchainFile(p))
		if got, err := binaryPlatform(path); err != nil || got != p {
			errs = append(errs, fmt.Errorf("%s: platform %q, %v; want %s", toolchainFile(p), got, err, p))
		}
	}
	gateways := map[string]string{} // platform -> SHA-256
	for _, p := range gatewayPlatforms {
		path := filepath.Join(dir, gatewayFile(p))
		if got, err := binaryPlatform(path); err != nil || got != p {
			errs = append(errs, fmt.Errorf("%s: platform %q, %v; want %s", gatewayFile(p), got, err, p))
			continue
		}
		bi, err := buildinfo.ReadFile(path)
		if err != nil || !slices.Contains(strings.Split(setting(bi, "-tags"), ","), "gateway") {
			errs = append(errs, fmt.Errorf("%s is not the gateway build (%v)", gatewayFile(p), err))
			continue
		}
		gateways[p], _ = fileSHA256(path)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if r.digest, r.platforms, err = verifyImage(filepath.Join(dir, imageTar), version, gateways); err != nil {
		return nil, fmt.Errorf("%s: %w", imageTar, err)
	}
	if r.modules, err = verifySBOM(filepath.Join(dir, sbomFile), filepath.Join(dir, gatewayFile(gatewayPlatforms[0]))); err != nil {
		return nil, fmt.Errorf("%s: %w", sbomFile, err)
	}
	if r.bundles, err = verifyBundles(filepath.Join(dir, bundles), examples, r.digest); err != nil {
		return nil, err
	}
	return r, nil
}

// verifyImage reads the OCI layout tar: one image index, tagged with the
// version, with an image per gateway platform whose /ork is the gateway
// binary of that platform.
func verifyImage(path, version string, gateways map[string]string) (v1.Hash, []string, error) {
	tmp, err := os.MkdirTemp("", "orkestra-verify-")
	if err != nil {
		return v1.Hash{}, nil, err
	}
	defer os.RemoveAll(tmp)
	if err := untar(path, tmp); err != nil {
		return v1.Hash{}, nil, err
	}
	top, err := layout.ImageIndexFromPath(tmp)
	if err != nil {
		return v1.Hash{}, nil, fmt.Errorf("not an OCI image layout: %w", err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		return v1.Hash{}, nil, err
	}
	if len(tm.Manifests) != 1 || !tm.Manifests[0].MediaType.IsIndex() {
		return v1.Hash{}, nil, fmt.Errorf("index.json holds %d manifests; want one image index", len(tm.Manifests))
	}
	desc := tm.Manifests[0]
	if ref := desc.Annotations["org.opencontainers.image.ref.name"]; !strings.HasSuffix(ref, ":"+version) {
		return v1.Hash{}, nil, fmt.Errorf("the index is tagged %q, not with version %s", ref, version)
	}
	idx, err := top.ImageIndex(desc.Digest)
	if err != nil {
		return v1.Hash{}, nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, nil, err
	}
	var platforms []string
	for _, d := range im.Manifests {
		if d.Platform == nil {
			return v1.Hash{}, nil, fmt.Errorf("manifest %s has no platform", d.Digest)
		}
		p := d.Platform.OS + "/" + d.Platform.Architecture
		img, err := idx.Image(d.Digest)
		if err != nil {
			return v1.Hash{}, nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return v1.Hash{}, nil, err
		}
		if cf.OS+"/"+cf.Architecture != p {
			return v1.Hash{}, nil, fmt.Errorf("manifest for %s holds an image for %s/%s", p, cf.OS, cf.Architecture)
		}
		sum, err := imageFile(img, "ork")
		if err != nil {
			return v1.Hash{}, nil, fmt.Errorf("%s: %w", p, err)
		}
		if want, ok := gateways[p]; !ok || sum != want {
			return v1.Hash{}, nil, fmt.Errorf("%s: /ork has SHA-256 %s, not that of %s", p, sum, gatewayFile(p))
		}
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	if want := slices.Sorted(slices.Values(gatewayPlatforms)); !slices.Equal(platforms, want) {
		return v1.Hash{}, nil, fmt.Errorf("platforms %v, want %v", platforms, want)
	}
	return desc.Digest, platforms, nil
}

// imageFile is the SHA-256 of one file of an image's file system.
func imageFile(img v1.Image, name string) (string, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return "", fmt.Errorf("no /%s in the image", name)
		}
		if err != nil {
			return "", err
		}
		if strings.TrimPrefix(h.Name, "/") == name {
			sum := sha256.New()
			if _, err := io.Copy(sum, tr); err != nil {
				return "", err
			}
			return hex.EncodeToString(sum.Sum(nil)), nil
		}
	}
}

// verifySBOM parses the SBOM and requires every Go module of the gateway
// build (from the binary's build information) in it.
func verifySBOM(path, gateway string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	doc, err := readSBOM(f)
	if err != nil {
		return 0, fmt.Errorf("does not parse as SPDX JSON: %w", err)
	}
	listed := sbomModules(doc)
	bi, err := buildinfo.ReadFile(gateway)
	if err != nil {
		return 0, err
	}
	var missing []string
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		if !slices.Contains(listed, d.Path+"@"+d.Version) {
			missing = append(missing, d.Path+"@"+d.Version)
		}
	}
	if len(missing) > 0 {
		return 0, fmt.Errorf("lacks modules of the gateway build: %s", strings.Join(missing, ", "))
	}
	if len(bi.Deps) == 0 {
		return 0, errors.New("the gateway binary lists no Go modules")
	}
	return len(bi.Deps), nil
}

// verifyBundles requires bundles/NAME.yaml for every examples/NAME/katalog.yaml,
// each naming the image by the index's digest.
func verifyBundles(dir, examples string, digest v1.Hash) ([]string, error) {
	katalogs, err := filepath.Glob(filepath.Join(examples, "*", "katalog.yaml"))
	if err != nil {
		return nil, err
	}
	if len(katalogs) == 0 {
		return nil, fmt.Errorf("no %s/*/katalog.yaml", examples)
	}
	var names []string
	for _, k := range katalogs {
		name := filepath.Base(filepath.Dir(k))
		b, err := os.ReadFile(filepath.Join(dir, name+".yaml"))
		if err != nil {
			return nil, fmt.Errorf("the bundle of example %s: %w", name, err)
		}
		if !bytes.Contains(b, []byte("@"+digest.String()+"\n")) || !bytes.Contains(b, []byte("kind: Deployment\n")) {
			return nil, fmt.Errorf("bundles/%s.yaml does not run the image by its digest %s", name, digest)
		}
		names = append(names, name)
	}
	return names, nil
}

// untar unpacks a tar file of regular files and directories into dir.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(filepath.FromSlash(h.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return fmt.Errorf("tar entry %q leaves the directory", h.Name)
		}
		p := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := os.Create(p)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("tar entry %q: unexpected type %c", h.Name, h.Typeflag)
		}
	}
}
