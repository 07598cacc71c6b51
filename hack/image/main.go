// Command image assembles the gateway's container image without a container
// engine: an OCI image layout, as a tar file, holding what the Dockerfile's
// image holds. The base layer carries what gcr.io/distroless/static:nonroot
// gives a static Go binary (CA certificates, /etc/passwd and /etc/group with
// the nonroot user 65532, /tmp, /home/nonroot); the second layer is the
// binary at /ork. Entrypoint, user and labels match the Dockerfile.
//
// The output is reproducible: the same binary, CA file and flags give the
// same bytes (fixed timestamps and owners, sorted entries, a created time
// from SOURCE_DATE_EPOCH or the Unix epoch).
//
//	go run -C hack/image . -binary $PWD/bin/ork-gateway -out $PWD/dist/orkestra-gateway-image.tar \
//	    -tag ghcr.io/orkspace/orkestra-gateway:v1.2.3 -version v1.2.3 -revision $(git rev-parse HEAD)
//
// Load it with `docker load -i`, `podman load -i`, or push it with
// `skopeo copy oci-archive:dist/orkestra-gateway-image.tar docker://REGISTRY/IMAGE:TAG`
// or `crane push dist/orkestra-gateway-image.tar REGISTRY/IMAGE:TAG`.
package main

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's runtime settings; the Dockerfile sets the same.
var (
	entrypoint = []string{"/ork", "gateway"}
	user       = "65532:65532"
	workdir    = "/home/nonroot"
	ports      = []string{"8443/tcp", "8444/tcp", "8080/tcp"}
	envVars    = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
	}
)

const nonroot = 65532

// The users and groups of distroless/static.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\n" +
		"nobody:x:65534:\n" +
		"tty:x:5:\n" +
		"staff:x:50:\n" +
		"nonroot:x:65532:\n"
	nsswitch = "hosts: files dns\n"
)

type options struct {
	binary, out, caCerts, tag, version, revision string
	// binaries are more gateway binaries, one per architecture: with more
	// than one binary in all, the layout holds an image index.
	binaries  []string
	digestOut string // where to write the digest of what was built
	created   time.Time
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	var o options
	var bins multiFlag
	flag.Var(&bins, "binary", "the static gateway binary (go build -tags gateway, CGO_ENABLED=0); repeat it with one binary per architecture for a multi-platform image index")
	flag.StringVar(&o.digestOut, "digest-file", "", "also write the digest of the image (or of the index) to this file")
	flag.StringVar(&o.out, "out", "dist/orkestra-gateway-image.tar", "the OCI image layout tar to write")
	flag.StringVar(&o.caCerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to install at /etc/ssl/certs/ca-certificates.crt")
	flag.StringVar(&o.tag, "tag", "ghcr.io/orkspace/orkestra-gateway:dev", "image reference recorded in the layout (org.opencontainers.image.ref.name) and for docker load")
	flag.StringVar(&o.version, "version", "dev", "org.opencontainers.image.version label")
	flag.StringVar(&o.revision, "revision", "unknown", "org.opencontainers.image.revision label")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected argument %q", flag.Arg(0)))
	}
	if len(bins) > 0 {
		o.binary, o.binaries = bins[0], bins[1:]
	}
	var err error
	if o.created, err = sourceDate(os.Getenv("SOURCE_DATE_EPOCH")); err != nil {
		fail(err)
	}
	r, err := build(o)
	if err != nil {
		fail(err)
	}
	r.print(os.Stdout, o)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "image: %v\n", err)
	os.Exit(1)
}

// sourceDate is the image's creation time: SOURCE_DATE_EPOCH (seconds), or
// the Unix epoch, never the clock, so builds are reproducible.
func sourceDate(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// result is what was built, for the report.
type result struct {
	images  []*platformImage
	tarSize int64
	digest  v1.Hash // of the image, or of the index when there are several
	index   bool
	// The first image's sizes, for the report and the tests.
	binarySize                        int64
	baseCompressed, appCompressed     int64
	baseUncompressed, appUncompressed int64
	arch                              string
}

// platformImage is the image of one architecture.
type platformImage struct {
	img                               v1.Image
	arch                              string
	digest                            v1.Hash
	binarySize                        int64
	baseCompressed, appCompressed     int64
	baseUncompressed, appUncompressed int64
}

func build(o options) (*result, error) {
	if o.binary == "" {
		return nil, errors.New("-binary is required: build it with CGO_ENABLED=0 go build -tags gateway -trimpath -ldflags \"-s -w\" ./cmd/ork")
	}
	if _, err := name.ParseReference(o.tag); err != nil {
		return nil, fmt.Errorf("-tag %q: %w", o.tag, err)
	}
	var pis []*platformImage
	seen := map[string]string{}
	for _, bin := range append([]string{o.binary}, o.binaries...) {
		pi, err := platform(o, bin)
		if err != nil {
			return nil, err
		}
		if other, dup := seen[pi.arch]; dup {
			return nil, fmt.Errorf("%s and %s are both linux/%s: give one binary per architecture", other, bin, pi.arch)
		}
		seen[pi.arch] = bin
		pis = append(pis, pi)
	}

	tmp, err := os.MkdirTemp("", "orkestra-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return nil, err
	}
	// containerd (ctr images import, kind load image-archive) names the
	// image from io.containerd.image.name, as docker save writes it.
	ref := layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": o.tag, "io.containerd.image.name": o.tag})
	r := &result{images: pis}
	if len(pis) == 1 {
		if err := p.AppendImage(pis[0].img, ref); err != nil {
			return nil, err
		}
		// docker load reads manifest.json (older Docker only that), podman
		// and skopeo the OCI index: write both, as docker save does since
		// Docker 25.
		if err := dockerManifest(tmp, pis[0].img, o.tag); err != nil {
			return nil, err
		}
		r.digest = pis[0].digest
	} else {
		// One index of the platforms, as `docker buildx build --platform
		// linux/amd64,linux/arm64 --output type=oci` writes: a registry and
		// a node pick their architecture from it.
		var adds []mutate.IndexAddendum
		for _, pi := range pis {
			adds = append(adds, mutate.IndexAddendum{Add: pi.img, Descriptor: v1.Descriptor{
				Platform: &v1.Platform{OS: "linux", Architecture: pi.arch},
			}})
		}
		idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
		if err := p.AppendIndex(idx, ref); err != nil {
			return nil, err
		}
		if r.digest, err = idx.Digest(); err != nil {
			return nil, err
		}
		r.index = true
	}
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return nil, err
	}
	if err := tarDir(tmp, o.out); err != nil {
		return nil, err
	}
	st, err := os.Stat(o.out)
	if err != nil {
		return nil, err
	}
	r.tarSize = st.Size()
	if o.digestOut != "" {
		if err := os.WriteFile(o.digestOut, []byte(r.digest.String()+"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	f := pis[0]
	r.binarySize, r.arch = f.binarySize, f.arch
	r.baseCompressed, r.appCompressed, r.baseUncompressed, r.appUncompressed = f.baseCompressed, f.appCompressed, f.baseUncompressed, f.appUncompressed
	return r, nil
}

// platform builds the image of one gateway binary.
func platform(o options, binary string) (*platformImage, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	arch, err := staticArch(binary)
	if err != nil {
		return nil, err
	}
	if err := checkGatewayBuild(binary); err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(o.caCerts)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w (install the ca-certificates package, or pass -ca-certs)", err)
	}
	if !bytes.Contains(ca, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("%s holds no PEM certificate", o.caCerts)
	}

	base, err := layer([]entry{
		dir("etc", 0o755, 0), dir("etc/ssl", 0o755, 0), dir("etc/ssl/certs", 0o755, 0),
		file("etc/ssl/certs/ca-certificates.crt", 0o644, 0, ca),
		file("etc/passwd", 0o644, 0, []byte(passwd)),
		file("etc/group", 0o644, 0, []byte(group)),
		file("etc/nsswitch.conf", 0o644, 0, []byte(nsswitch)),
		dir("home", 0o755, 0), dir("home/nonroot", 0o700, nonroot),
		dir("tmp", 0o1777, 0),
	})
	if err != nil {
		return nil, err
	}
	app, err := layer([]entry{file("ork", 0o755, 0, bin)})
	if err != nil {
		return nil, err
	}

	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: o.created}, CreatedBy: "hack/image: distroless/static:nonroot contents", Comment: "CA certificates, passwd, group, /tmp, /home/nonroot"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: v1.Time{Time: o.created}, CreatedBy: "hack/image: COPY ork /ork"}},
	)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = arch, "linux"
	cf.Created = v1.Time{Time: o.created}
	cf.Config.Entrypoint = entrypoint
	cf.Config.Cmd = nil
	cf.Config.User = user
	cf.Config.WorkingDir = workdir
	cf.Config.Env = envVars
	cf.Config.ExposedPorts = map[string]struct{}{}
	for _, p := range ports {
		cf.Config.ExposedPorts[p] = struct{}{}
	}
	cf.Config.Labels = labels(o.version, o.revision)
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}

	r := &platformImage{img: img, arch: arch, binarySize: int64(len(bin))}
	if r.digest, err = img.Digest(); err != nil {
		return nil, err
	}
	for _, l := range []struct {
		layer              v1.Layer
		compressed, uncomp *int64
	}{{base, &r.baseCompressed, &r.baseUncompressed}, {app, &r.appCompressed, &r.appUncompressed}} {
		if *l.compressed, err = l.layer.Size(); err != nil {
			return nil, err
		}
		rc, err := l.layer.Uncompressed()
		if err != nil {
			return nil, err
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		*l.uncomp = n
	}
	return r, nil
}

func labels(version, revision string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "orkestra-gateway",
		"org.opencontainers.image.description": "Orkestra Gateway: admission and conversion webhooks and notification relay, configured by a Katalog",
		"org.opencontainers.image.source":      "https://github.com/orkspace/orkestra-gateway",
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    revision,
	}
}

func (r *result) print(w io.Writer, o options) {
	mib := func(n int64) string { return fmt.Sprintf("%10d bytes %6.2f MiB", n, float64(n)/(1<<20)) }
	if r.index {
		fmt.Fprintf(w, "image index %s (%s)\n", o.tag, r.digest)
	}
	for _, pi := range r.images {
		fmt.Fprintf(w, "image %s (%s, linux/%s)\n", o.tag, pi.digest, pi.arch)
		fmt.Fprintf(w, "  gateway binary        %s\n", mib(pi.binarySize))
		fmt.Fprintf(w, "  base layer            %s compressed, %s uncompressed\n", mib(pi.baseCompressed), strings.TrimSpace(mib(pi.baseUncompressed)))
		fmt.Fprintf(w, "  binary layer          %s compressed, %s uncompressed\n", mib(pi.appCompressed), strings.TrimSpace(mib(pi.appUncompressed)))
		fmt.Fprintf(w, "  image, compressed     %s (what a registry stores and a node pulls)\n", mib(pi.baseCompressed+pi.appCompressed))
		fmt.Fprintf(w, "  image, uncompressed   %s (on the node's disk)\n", mib(pi.baseUncompressed+pi.appUncompressed))
	}
	fmt.Fprintf(w, "  %s %s\n", o.out, strings.TrimSpace(mib(r.tarSize)))
}

// staticArch checks that the binary is a static Linux executable (no
// interpreter, no shared libraries: distroless/static has no libc) and
// returns its GOARCH.
func staticArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s is not a Linux executable: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%s is dynamically linked (it has an ELF interpreter); build it with CGO_ENABLED=0", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return "", fmt.Errorf("%s needs shared libraries %v; build it with CGO_ENABLED=0", path, libs)
	}
	archs := map[elf.Machine]string{
		elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64", elf.EM_386: "386", elf.EM_ARM: "arm",
		elf.EM_PPC64: "ppc64le", elf.EM_S390: "s390x", elf.EM_RISCV: "riscv64",
	}
	arch, ok := archs[f.Machine]
	if !ok {
		return "", fmt.Errorf("%s: unsupported machine %s", path, f.Machine)
	}
	return arch, nil
}

// checkGatewayBuild requires the gateway build (go build -tags gateway),
// read from the build information Go embeds, so binaries of every
// architecture are checked: the toolchain build does not belong in the
// image.
func checkGatewayBuild(path string) error {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: no Go build information: %w", path, err)
	}
	for _, s := range bi.Settings {
		if s.Key == "-tags" && slices.Contains(strings.Split(s.Value, ","), "gateway") {
			return nil
		}
	}
	return fmt.Errorf("%s is not the gateway build (go build -tags gateway): its build information has no gateway tag", path)
}

// entry is one file or directory of a layer.
type entry struct {
	name string
	mode int64
	uid  int
	data []byte
	dir  bool
}

func dir(name string, mode int64, uid int) entry {
	return entry{name: name, mode: mode, uid: uid, dir: true}
}
func file(name string, mode int64, uid int, data []byte) entry {
	return entry{name: name, mode: mode, uid: uid, data: data}
}

// layer builds a gzip-compressed OCI layer from entries, deterministically.
func layer(entries []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, e.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

// dockerManifest writes the manifest.json of docker save next to the OCI
// layout, pointing at the same blobs.
func dockerManifest(dir string, img v1.Image, tag string) error {
	cfg, err := img.ConfigName()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	m := []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{{Config: "blobs/sha256/" + cfg.Hex, RepoTags: []string{tag}}}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		m[0].Layers = append(m[0].Layers, "blobs/sha256/"+d.Hex)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
}

// tarDir writes the tree under dir to a tar file, sorted, with fixed owners
// and times.
func tarDir(dir, out string) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, p := range names {
		st, err := os.Stat(p)
		if err != nil {
			f.Close()
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, dir+string(filepath.Separator)))
		h := &tar.Header{Name: rel, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if st.IsDir() {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, rel+"/", 0o755
		} else {
			h.Typeflag, h.Size = tar.TypeReg, st.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			f.Close()
			return err
		}
		if !st.IsDir() {
			src, err := os.Open(p)
			if err != nil {
				f.Close()
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			if err != nil {
				f.Close()
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
