package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// DefaultNamespace is the gateway's namespace when neither -n nor
// gateway.namespace names one.
const DefaultNamespace = "orkestra-system"

// Source is a valid Katalog with the files the bundle ships next to it.
type Source struct {
	Path   string // as given
	Policy *policy.Policy
	// Katalog is the file's content, verbatim: the ConfigMap holds exactly
	// what was checked.
	Katalog []byte
	// Files are the files the Katalog names (crdFile), sorted by Path.
	Files []File
}

// File is a file the Katalog refers to.
type File struct {
	// Path is relative to the Katalog's directory, slash-separated and clean
	// (what the Katalog names, resolved the way the gateway resolves it).
	Path string
	Data []byte
}

// Load reads a Katalog and runs the check pass on it. The Result is returned
// whenever the file could be read, so the caller can print its findings;
// Source is nil when the Katalog has errors. err reports a file that cannot
// be read and a crdFile the bundle cannot ship (absolute, or outside the
// Katalog's directory).
func Load(name string) (*Source, *check.Result, error) {
	data, err := readFile(name)
	if err != nil {
		return nil, nil, err
	}
	src, res, err := parse(name, data)
	return src, res, err
}

// parse is Load for a Katalog already read from the file name (crdFiles are
// still read relative to it). The Result is never nil.
func parse(name string, data []byte) (*Source, *check.Result, error) {
	f, errs := katalog.Parse(name, data)
	res := check.Run(f, errs)
	if res.File == "" {
		res.File = name
	}
	if res.Policy == nil {
		return nil, res, nil
	}
	src := &Source{Path: name, Policy: res.Policy, Katalog: data}
	var err error
	if src.Files, err = crdFiles(name, f.Katalog); err != nil {
		return nil, res, err
	}
	return src, res, nil
}

// readFile reads a file the bundle ships, refusing one larger than a
// Katalog may be.
func readFile(name string) ([]byte, error) {
	data, err := katalog.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if len(data) > katalog.MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d MiB", name, katalog.MaxFileSize>>20)
	}
	return data, nil
}

// crdFiles reads every crdFile of the Katalog. The gateway resolves them
// against the Katalog's directory, so they must lie under it to be mounted
// next to katalog.yaml.
func crdFiles(name string, k *katalog.Katalog) ([]File, error) {
	if k.Spec == nil {
		return nil, nil
	}
	entries := make([]string, 0, len(k.Spec.CRDs))
	for e := range k.Spec.CRDs {
		entries = append(entries, e)
	}
	sort.Strings(entries)
	seen := map[string]bool{}
	var files []File
	for _, e := range entries {
		c := k.Spec.CRDs[e]
		if c == nil || c.CRDFile == "" {
			continue
		}
		rel, err := shippable(c.CRDFile)
		if err != nil {
			return nil, fmt.Errorf("spec.crds.%s.crdFile: %w", e, err)
		}
		if seen[rel] {
			continue
		}
		seen[rel] = true
		data, err := readFile(filepath.Join(filepath.Dir(name), filepath.FromSlash(rel)))
		if err != nil {
			return nil, fmt.Errorf("spec.crds.%s.crdFile: %w", e, err)
		}
		files = append(files, File{Path: rel, Data: data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// shippable returns crdFile as a clean relative path under the Katalog's
// directory.
func shippable(crdFile string) (string, error) {
	p := filepath.ToSlash(crdFile)
	if filepath.IsAbs(crdFile) || path.IsAbs(p) {
		return "", fmt.Errorf("%q is an absolute path; the bundle mounts the Katalog's files at %s, so give crdFile relative to the Katalog", crdFile, KatalogDir)
	}
	clean := path.Clean(p)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%q is outside the Katalog's directory; the bundle can only ship files under it", crdFile)
	}
	if clean == KatalogKey {
		return "", fmt.Errorf("%q is the Katalog's own file name in the ConfigMap; rename the CRD file", crdFile)
	}
	return clean, nil
}

// Options are the choices the command line makes.
type Options struct {
	// Namespace of the gateway; "" means gateway.namespace, else
	// DefaultNamespace. It must agree with gateway.namespace when both are set.
	Namespace string
	// Image is the gateway image reference (see DefaultImage); required.
	Image string
	// Replicas overrides gateway.replicas when positive.
	Replicas int
	// Monitoring adds a metrics Service, a Prometheus Operator
	// ServiceMonitor and a PrometheusRule with the gateway's alerts.
	Monitoring bool
}

// Object is one generated manifest.
type Object struct {
	// File is the object's file name in a bundle directory ("01-namespace.yaml").
	File       string
	APIVersion string
	Kind       string
	Namespace  string // "" for cluster-scoped objects
	Name       string
	// YAML is the object as one commented YAML document.
	YAML []byte
}

// Bundle is every object of an installation, in the order to apply them.
type Bundle struct {
	Objects []Object
}

// YAML returns the bundle as one multi-document YAML stream.
func (b *Bundle) YAML() []byte {
	var buf bytes.Buffer
	for i, o := range b.Objects {
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(o.YAML)
	}
	return buf.Bytes()
}

// WriteDir writes one file per object into dir (created if absent), and a
// kustomization.yaml listing them, and returns the paths written. Other
// files in dir are left alone.
func (b *Bundle) WriteDir(dir string) ([]string, error) {
	if dir == "" {
		return nil, errors.New("empty output directory name")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the output directory: %w", err)
	}
	var written []string
	for _, o := range b.Objects {
		p := filepath.Join(dir, o.File)
		if err := os.WriteFile(p, o.YAML, 0o644); err != nil {
			return written, fmt.Errorf("writing %s: %w", p, err)
		}
		written = append(written, p)
	}
	p := filepath.Join(dir, KustomizationFile)
	if err := os.WriteFile(p, b.kustomization(), 0o644); err != nil {
		return written, fmt.Errorf("writing %s: %w", p, err)
	}
	return append(written, p), nil
}

// settings are the resolved options and names of one bundle.
type settings struct {
	src       *Source
	p         *policy.Policy
	namespace string
	image     string
	replicas  int
	app       string // the Service name: also Deployment, ServiceAccount, Role, PDB
	cluster   string // ClusterRole and ClusterRoleBinding (cluster-wide, so per Katalog)
	configMap string
	secret    string // the optional Secret holding {env: NAME} values
}

func resolve(src *Source, opts Options) (*settings, error) {
	if src == nil || src.Policy == nil {
		return nil, errors.New("no valid Katalog to generate from")
	}
	p := src.Policy
	s := &settings{src: src, p: p, image: opts.Image, replicas: p.Gateway.Replicas}
	var errs []error
	switch {
	case opts.Namespace != "" && p.Gateway.Namespace != "" && opts.Namespace != p.Gateway.Namespace:
		errs = append(errs, fmt.Errorf("namespace %q contradicts gateway.namespace %q in the Katalog (the gateway would keep its Secret and Service there); drop -n or change the Katalog", opts.Namespace, p.Gateway.Namespace))
	case opts.Namespace != "":
		s.namespace = opts.Namespace
	case p.Gateway.Namespace != "":
		s.namespace = p.Gateway.Namespace
	default:
		s.namespace = DefaultNamespace
	}
	if s.namespace != "" {
		if msgs := validation.IsDNS1123Label(s.namespace); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("namespace %q: %s", s.namespace, strings.Join(msgs, "; ")))
		}
	}
	if err := CheckImage(opts.Image); err != nil {
		errs = append(errs, err)
	}
	switch {
	case opts.Replicas < 0:
		errs = append(errs, fmt.Errorf("replicas %d: must be at least 1", opts.Replicas))
	case opts.Replicas > 0:
		s.replicas = opts.Replicas
	}
	if s.replicas < 1 {
		s.replicas = 1
	}
	if !utf8.Valid(src.Katalog) {
		errs = append(errs, fmt.Errorf("%s is not valid UTF-8; a ConfigMap holds text only", src.Path))
	}
	for _, f := range src.Files {
		if !utf8.Valid(f.Data) {
			errs = append(errs, fmt.Errorf("%s is not valid UTF-8; a ConfigMap holds text only", f.Path))
		}
	}
	s.app = p.Gateway.ServiceName
	if p.Certs.Source == policy.CertsCertManager && p.Certs.IssuerRef == nil && p.Certs.SecretName == s.app+"-ca" {
		errs = append(errs, fmt.Errorf("security.certManager.secretName %q is the Secret of the bundle's own CA; choose another name", p.Certs.SecretName))
	}
	s.cluster = "orkestra-gateway-" + p.Name
	s.configMap = s.app + "-katalog"
	s.secret = s.app + "-secrets"
	return s, errors.Join(errs...)
}

// Generate builds the bundle of a valid Katalog.
func Generate(src *Source, opts Options) (*Bundle, error) {
	s, err := resolve(src, opts)
	if err != nil {
		return nil, err
	}
	cm, items, err := s.katalogConfigMap()
	if err != nil {
		return nil, err
	}
	docs := []document{
		s.namespaceDoc(),
		s.serviceAccountDoc(),
		s.clusterRoleDoc(),
		s.roleDoc(),
		s.clusterRoleBindingDoc(),
		s.roleBindingDoc(),
		cm,
	}
	docs = append(docs, s.certManagerDocs()...) // certmanager.go
	docs = append(docs,
		s.deploymentDoc(items, checksum(cm)),
		s.serviceDoc(),
		s.pdbDoc(),
		s.networkPolicyDoc(),
	)
	if opts.Monitoring {
		docs = append(docs, s.monitoringDocs()...) // monitoring.go
	}
	b := &Bundle{}
	for i, d := range docs {
		y, err := render(d.obj, d.head, d.notes, d.orders)
		if err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
		b.Objects = append(b.Objects, Object{
			File:       fmt.Sprintf("%02d-%s.yaml", i+1, strings.ToLower(d.kind)),
			APIVersion: d.apiVersion,
			Kind:       d.kind,
			Namespace:  d.namespace,
			Name:       d.name,
			YAML:       y,
		})
	}
	return b, nil
}

// document is one object before rendering.
type document struct {
	apiVersion, kind, namespace, name string
	obj                               any
	head                              string
	notes                             []note
	orders                            []order
}
