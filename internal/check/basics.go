package check

import (
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// Defaults of the gateway block.
const (
	defaultServiceName = "orkestra-gateway"
	defaultReplicas    = 2
)

// K01
func (p *pass) header() {
	const hintV = `set apiVersion: ` + katalog.APIVersion
	switch v := p.k.APIVersion; {
	case v == "":
		p.errorf("K01", "apiVersion", hintV, "apiVersion is missing")
	case v != katalog.APIVersion:
		p.errorf("K01", "apiVersion", hintV, "apiVersion %q is not supported; want %q", v, katalog.APIVersion)
	}
	const hintK = `set kind: ` + katalog.Kind
	switch k := p.k.Kind; {
	case k == "":
		p.errorf("K01", "kind", hintK, "kind is missing")
	case k != katalog.Kind:
		p.errorf("K01", "kind", hintK, "kind %q is not %q", k, katalog.Kind)
	}
}

// K03
func (p *pass) metadata() {
	name := p.k.Metadata.Name
	p.pol.Name = name
	if name == "" {
		p.errorf("K03", "metadata.name", "add metadata.name, e.g. platform-guard", "metadata.name is missing")
		return
	}
	if msg := dnsLabel(name); msg != "" {
		p.errorf("K03", "metadata.name", "use lowercase letters, digits and '-', e.g. platform-guard",
			"metadata.name %q is not a DNS-1123 label: %s", name, msg)
	}
}

// K21
func (p *pass) gateway() {
	g := p.k.Gateway
	out := policy.Gateway{ServiceName: defaultServiceName, Replicas: defaultReplicas}
	defer func() { p.pol.Gateway = out }()
	if g == nil {
		return
	}
	out.Standalone = boolOr(g.Standalone, false)
	if g.ServiceName != "" {
		out.ServiceName = g.ServiceName
		// Service names are DNS-1035 labels (the API server refuses a leading digit).
		if msgs := validation.IsDNS1035Label(g.ServiceName); len(msgs) > 0 {
			p.errorf("K21", "gateway.serviceName", "use lowercase letters, digits and '-', starting with a letter",
				"gateway.serviceName %q is not a valid Service name: %s", g.ServiceName, strings.Join(msgs, "; "))
		}
	}
	if g.Namespace != "" {
		out.Namespace = g.Namespace
		if msg := dnsLabel(g.Namespace); msg != "" {
			p.errorf("K21", "gateway.namespace", "use lowercase letters, digits and '-'",
				"gateway.namespace %q is not a DNS-1123 label: %s", g.Namespace, msg)
		}
	}
	if g.URL != "" {
		u, msg := baseURL(g.URL)
		if msg != "" {
			p.errorf("K21", "gateway.url", "write https://host[:port], e.g. https://gateway.example.com:8443",
				"gateway.url %q %s", g.URL, msg)
		} else {
			out.URL = u
		}
	}
	if g.Replicas != nil {
		out.Replicas = *g.Replicas
		if *g.Replicas < 1 {
			p.errorf("K21", "gateway.replicas", "use 2 or more for high availability",
				"gateway.replicas is %d; it must be at least 1", *g.Replicas)
		}
	}
	if out.Standalone && g.RuntimeEndpoint != "" {
		p.errorf("K21", p.later("gateway.standalone", "gateway.runtimeEndpoint"),
			"remove runtimeEndpoint, or set standalone: false when a Runtime runs on this cluster",
			"gateway.standalone is true but gateway.runtimeEndpoint is set; a standalone gateway has no Runtime")
	}
}

// baseURL parses a webhook base URL: https, a host, nothing after the port.
func baseURL(s string) (*url.URL, string) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, "does not parse: " + err.Error()
	case u.Scheme != "https":
		return nil, "must use https (the API server only calls webhooks over TLS)"
	case u.Host == "" || u.Hostname() == "":
		return nil, "has no host"
	case u.User != nil:
		return nil, "must not carry user information"
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.ForceQuery, u.Fragment != "":
		return nil, "must not have a path, query or fragment (the gateway appends its own paths)"
	}
	u.Path = ""
	return u, ""
}

// dnsLabel returns why s is not a DNS-1123 label, or "".
func dnsLabel(s string) string { return strings.Join(validation.IsDNS1123Label(s), "; ") }

// dnsSubdomain returns why s is not a DNS-1123 subdomain, or "".
func dnsSubdomain(s string) string { return strings.Join(validation.IsDNS1123Subdomain(s), "; ") }
