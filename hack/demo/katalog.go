package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/orkspace/orkestra-gateway/internal/check"
)

// katalogSettings are the local endpoints the demo Katalog points at.
type katalogSettings struct {
	// URL is the gateway's webhook base URL (https://127.0.0.1:PORT): the
	// local API server cannot resolve Service names.
	URL string
	// SMTPHost, SMTPPort and SMTPCAFile point notification.email.smtp at
	// the demo's mailpit (STARTTLS with a self-signed certificate).
	SMTPHost   string
	SMTPPort   int
	SMTPCAFile string
}

// demoHeader says where the demo Katalog comes from; it is the first thing
// a user reading $DEMO_DIR/katalog.yaml sees.
const demoHeader = `Assembled by hack/demo (make demo) from the two examples:
examples/gateway/katalog.yaml, with gateway.url set to the local webhook URL
and notification.email.smtp pointed at the demo's mailpit, plus the website
entry of examples/website/katalog.yaml (spec.crds.website), its CRD file and
the conversion switch it needs (security.conversion).
`

// assembleKatalog builds the demo Katalog: the standalone security layer of
// examples/gateway (deletion protection, strict mode and break-glass,
// namespace protection, certificates, notifications) plus the Website CRD
// entry of examples/website (validation, mutation, namespaces, CRD
// protection, conversion), so one gateway shows every feature. Comments of
// both examples are kept. Every structural surprise in the inputs is an
// error naming the file and the field.
func assembleKatalog(gatewayYAML, websiteYAML []byte, s katalogSettings) ([]byte, error) {
	const gwFile, webFile = "examples/gateway/katalog.yaml", "examples/website/katalog.yaml"
	if s.URL == "" || s.SMTPHost == "" || s.SMTPPort < 1 || s.SMTPPort > 65535 {
		return nil, fmt.Errorf("demo Katalog: incomplete settings %+v", s)
	}
	gw, err := parseDoc(gwFile, gatewayYAML)
	if err != nil {
		return nil, err
	}
	web, err := parseDoc(webFile, websiteYAML)
	if err != nil {
		return nil, err
	}

	gateway, err := mapping(gwFile, gw, "gateway", true)
	if err != nil {
		return nil, err
	}
	setScalar(gateway, "url", s.URL, "the local API server reaches the gateway by URL, not through a Service")
	setScalar(gateway, "replicas", "1", "one replica: in URL mode it is the last to stop, and cleans up")

	notification, err := mapping(gwFile, gw, "notification", false)
	if err != nil {
		return nil, err
	}
	if notification == nil {
		return nil, fmt.Errorf("%s: no notification block: the demo delivers a notification", gwFile)
	}
	email, err := mapping(gwFile+": notification", notification, "email", false)
	if err != nil {
		return nil, err
	}
	if email == nil {
		return nil, fmt.Errorf("%s: no notification.email block: the demo shows the email it receives", gwFile)
	}
	smtp, err := mapping(gwFile+": notification.email", email, "smtp", false)
	if err != nil {
		return nil, err
	}
	if smtp == nil {
		return nil, fmt.Errorf("%s: no notification.email.smtp block", gwFile)
	}
	setScalar(smtp, "host", s.SMTPHost, "the demo's mailpit")
	setScalar(smtp, "port", strconv.Itoa(s.SMTPPort), "")
	setScalar(smtp, "tls", "starttls", "")
	if s.SMTPCAFile != "" {
		setScalar(smtp, "caFile", s.SMTPCAFile, "mailpit's self-signed certificate")
	}

	webSpec, err := mapping(webFile, web, "spec", false)
	if err != nil {
		return nil, err
	}
	if webSpec == nil {
		return nil, fmt.Errorf("%s: no spec block", webFile)
	}
	webCRDs, err := mapping(webFile+": spec", webSpec, "crds", false)
	if err != nil {
		return nil, err
	}
	website := lookup(webCRDs, "website")
	if website == nil {
		return nil, fmt.Errorf("%s: no spec.crds.website entry", webFile)
	}
	// The entry declares conversion; the feature switch is Katalog-level.
	webSecurity, err := mapping(webFile, web, "security", false)
	if err != nil {
		return nil, err
	}
	conversion := lookup(webSecurity, "conversion")
	if conversion == nil {
		return nil, fmt.Errorf("%s: no security.conversion block: the website entry declares conversion", webFile)
	}
	security, err := mapping(gwFile, gw, "security", true)
	if err != nil {
		return nil, err
	}
	if lookup(security, "conversion") != nil {
		return nil, fmt.Errorf("%s: already has a security.conversion block", gwFile)
	}
	security.Content = append(security.Content, scalar("conversion"), conversion)

	spec, err := mapping(gwFile, gw, "spec", true)
	if err != nil {
		return nil, err
	}
	crds, err := mapping(gwFile+": spec", spec, "crds", true)
	if err != nil {
		return nil, err
	}
	if lookup(crds, "website") != nil {
		return nil, fmt.Errorf("%s: already has a spec.crds.website entry", gwFile)
	}
	crds.Content = append(crds.Content, scalar("website"), website)

	gw.HeadComment = demoHeader + "\n" + gw.HeadComment
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(gw); err != nil {
		return nil, fmt.Errorf("demo Katalog: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("demo Katalog: %w", err)
	}
	return buf.Bytes(), nil
}

// parseDoc parses one YAML document whose root is a mapping.
func parseDoc(file string, b []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("%s: empty document", file)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d:%d: the Katalog is not a mapping", file, root.Line, root.Column)
	}
	if hasAlias(root) {
		// An alias copied into another document would dangle.
		return nil, fmt.Errorf("%s: YAML anchors and aliases are not supported by the demo", file)
	}
	return root, nil
}

func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}

// lookup returns the value of key in mapping m, nil when absent.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

var errNotMapping = errors.New("is not a mapping")

// mapping returns the mapping under key, creating it when create is set.
// Absent and not created: nil, nil. Present but null: an empty mapping
// replaces the null.
func mapping(where string, m *yaml.Node, key string, create bool) (*yaml.Node, error) {
	v := lookup(m, key)
	switch {
	case v == nil && !create:
		return nil, nil
	case v == nil:
		v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		m.Content = append(m.Content, scalar(key), v)
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		*v = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: v.Line, Column: v.Column}
	case v.Kind != yaml.MappingNode:
		return nil, fmt.Errorf("%s:%d:%d: %s %w", where, v.Line, v.Column, key, errNotMapping)
	}
	return v, nil
}

// setScalar sets key to a string scalar (the Katalog's loader types it),
// replacing any value, with an optional line comment saying why.
func setScalar(m *yaml.Node, key, value, why string) {
	n := scalar(value)
	if why != "" {
		n.LineComment = "# demo: " + why
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			m.Content[i+1] = n
			return
		}
	}
	m.Content = append(m.Content, scalar(key), n)
}

func scalar(v string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: v}
	// Let the encoder pick the style, but keep numbers and booleans typed
	// as the loader expects: "587" must stay an int, a URL a string.
	if _, err := strconv.Atoi(v); err == nil {
		n.Tag = "!!int"
	} else {
		n.Tag = "!!str"
	}
	return n
}

// writeKatalog assembles the demo Katalog from the examples under root and
// writes it, with the website CRD file it names, into dir. It returns the
// Katalog's path after checking it with the gateway's own check pass:
// warnings are fine, errors are not.
func writeKatalog(root, dir string, s katalogSettings) (string, error) {
	gw, err := os.ReadFile(filepath.Join(root, "examples", "gateway", "katalog.yaml"))
	if err != nil {
		return "", err
	}
	web, err := os.ReadFile(filepath.Join(root, "examples", "website", "katalog.yaml"))
	if err != nil {
		return "", err
	}
	crd, err := os.ReadFile(filepath.Join(root, "examples", "website", "crds", "website.yaml"))
	if err != nil {
		return "", err
	}
	out, err := assembleKatalog(gw, web, s)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(dir, "crds"), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "crds", "website.yaml"), crd, 0o644); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "katalog.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return "", err
	}
	res, err := check.RunFile(path)
	if err != nil {
		return "", err
	}
	if res.Errors() > 0 {
		var msgs []string
		for _, f := range res.Findings {
			msgs = append(msgs, f.String())
		}
		return "", fmt.Errorf("the demo Katalog %s does not pass the check pass:\n%s", path, strings.Join(msgs, "\n"))
	}
	return path, nil
}
