package check

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

const (
	defaultTimeoutSeconds = 5
	minTimeoutSeconds     = 1
	maxTimeoutSeconds     = 30 // the API server's own limit

	defaultSecretName        = "orkestra-internal-tls"
	defaultRotationThreshold = 30 * 24 * time.Hour
	defaultValidFor          = 365 * 24 * time.Hour
	minValidFor              = time.Hour
	maxValidFor              = 10 * 365 * 24 * time.Hour
)

// defaultRestricted is what namespace protection guards when its block names
// no namespaces at all.
var defaultRestricted = []string{"kube-system", "kube-public"}

// security builds the endpoint settings (K13, K14, K15). A block that is
// present is enabled unless it says enabled: false.
func (p *pass) security() {
	s := p.k.Security
	if s == nil {
		s = &katalog.Security{}
	}

	if dp := s.DeletionProtection; dp != nil {
		const base = "security.deletionProtection"
		out := &p.pol.DeletionProtection
		out.Endpoint = p.endpoint(base, dp.Enabled, dp.FailurePolicy, dp.TimeoutSeconds, dp.CleanupOnShutdown, policy.Fail)
		out.StrictMode = boolOr(dp.StrictMode, false)
		if dp.BreakGlass != nil {
			out.BreakGlass = policy.Subjects{
				Groups: p.subjects(base+".breakGlass.groups", "group", dp.BreakGlass.Groups),
				Users:  p.subjects(base+".breakGlass.users", "user", dp.BreakGlass.Users),
			}
		}
		switch {
		case out.StrictMode && !out.Enabled:
			p.errorf("K14", base+".strictMode", "remove strictMode, or enable deletion protection",
				"strictMode is true but deletion protection is disabled; strict mode guards the protection label, so it needs protection on")
		case out.StrictMode && len(out.BreakGlass.Users)+len(out.BreakGlass.Groups) == 0:
			p.warnf("K14", base+".strictMode", "add breakGlass.groups (e.g. [system:masters]) or breakGlass.users",
				"strictMode without breakGlass subjects: nobody can lift deletion protection from a protected object")
		}
	} else {
		p.pol.DeletionProtection.Endpoint = disabledEndpoint(policy.Fail)
	}

	if np := s.NamespaceProtection; np != nil {
		const base = "security.namespaceProtection"
		out := &p.pol.NamespaceProtection
		out.Endpoint = p.endpoint(base, np.Enabled, np.FailurePolicy, np.TimeoutSeconds, np.CleanupOnShutdown, policy.Fail)
		out.Namespaces = p.namespaces(base, np.AllowedNamespaces, np.RestrictedNamespaces)
		if out.Namespaces.Empty() {
			out.Namespaces.Restricted = append(policy.Globs(nil), defaultRestricted...)
		}
	} else {
		p.pol.NamespaceProtection.Endpoint = disabledEndpoint(policy.Fail)
	}

	if w := s.Webhooks; w != nil {
		// The admission toggle defaults to on when the webhooks block is
		// written at all: configuring it is asking for it.
		var enabled *bool
		engine := ""
		if w.Admission != nil {
			enabled, engine = w.Admission.Enabled, w.Admission.Engine
		}
		p.pol.Admission.Endpoint = p.endpoint("security.webhooks", enabled, w.FailurePolicy, w.TimeoutSeconds, w.CleanupOnShutdown, policy.Ignore)
		p.pol.Admission.Engine = p.engine("security.webhooks.admission.engine", engine)
	} else {
		p.pol.Admission.Endpoint = disabledEndpoint(policy.Ignore)
		p.pol.Admission.Engine = policy.EngineWebhook
	}

	if c := s.Conversion; c != nil {
		p.pol.Conversion.Enabled = boolOr(c.Enabled, true)
	}
}

func disabledEndpoint(fp policy.FailurePolicy) policy.Endpoint {
	return policy.Endpoint{FailurePolicy: fp, TimeoutSeconds: defaultTimeoutSeconds, CleanupOnShutdown: true}
}

// endpoint resolves the settings shared by every webhook endpoint (K15).
func (p *pass) endpoint(base string, enabled *bool, fp string, timeout *int, cleanup *bool, def policy.FailurePolicy) policy.Endpoint {
	e := policy.Endpoint{
		Enabled:           boolOr(enabled, true),
		FailurePolicy:     p.failurePolicy(base+".failurePolicy", fp, def),
		TimeoutSeconds:    defaultTimeoutSeconds,
		CleanupOnShutdown: boolOr(cleanup, true),
	}
	if timeout != nil {
		if t := *timeout; t < minTimeoutSeconds || t > maxTimeoutSeconds {
			p.errorf("K15", base+".timeoutSeconds", fmt.Sprintf("use a value from %d to %d (default %d)", minTimeoutSeconds, maxTimeoutSeconds, defaultTimeoutSeconds),
				"timeoutSeconds is %d; the API server accepts %d..%d seconds", t, minTimeoutSeconds, maxTimeoutSeconds)
		} else {
			e.TimeoutSeconds = int32(t)
		}
	}
	return e
}

// failurePolicy never falls back silently: a misspelt policy is an error.
func (p *pass) failurePolicy(field, fp string, def policy.FailurePolicy) policy.FailurePolicy {
	switch policy.FailurePolicy(fp) {
	case "":
		return def
	case policy.Fail, policy.Ignore:
		return policy.FailurePolicy(fp)
	}
	hint := `use "Fail" or "Ignore"`
	for _, want := range []policy.FailurePolicy{policy.Fail, policy.Ignore} {
		if strings.EqualFold(fp, string(want)) {
			hint = fmt.Sprintf("write %q: failure policies are case-sensitive", want)
		}
	}
	p.errorf("K15", field, hint, "failurePolicy %q is not Fail or Ignore", fp)
	return def
}

// engine resolves the admission engine (K15); like a failure policy, a
// misspelt engine is an error, never a silent default.
func (p *pass) engine(field, e string) policy.Engine {
	if e == "" {
		return policy.EngineWebhook
	}
	names := make([]string, len(policy.Engines))
	for i, want := range policy.Engines {
		if policy.Engine(e) == want {
			return want
		}
		names[i] = string(want)
	}
	hint := katalog.Suggest(e, names)
	if hint == "" {
		hint = "use webhook (the default), native or auto"
	}
	p.errorf("K15", field, hint, "engine %q is not webhook, native or auto", e)
	return policy.EngineWebhook
}

// subjects checks break-glass user or group names (K14).
func (p *pass) subjects(field, what string, names []string) []string {
	var out []string
	for i, s := range names {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case s == "":
			p.errorf("K14", f, "remove the empty entry", "break-glass %s is empty", what)
		case strings.IndexFunc(s, unicode.IsSpace) >= 0:
			p.errorf("K14", f, "write the name exactly as it appears in the request's userInfo",
				"break-glass %s %q contains whitespace", what, s)
		default:
			out = append(out, s)
		}
	}
	return out
}

// namespaces checks an allowed/restricted pair of lists (K13), at Katalog or
// entry level.
func (p *pass) namespaces(base string, allowed, restricted []string) policy.Namespaces {
	n := policy.Namespaces{
		Allowed:    p.globs(base+".allowedNamespaces", allowed),
		Restricted: p.globs(base+".restrictedNamespaces", restricted),
	}
	if len(allowed) > 0 && len(restricted) > 0 {
		p.errorf("K13", p.later(base+".allowedNamespaces", base+".restrictedNamespaces"),
			"keep one list: allowedNamespaces admits only matching namespaces, restrictedNamespaces refuses matching ones",
			"allowedNamespaces and restrictedNamespaces are both set")
	}
	return n
}

func (p *pass) globs(field string, list []string) policy.Globs {
	var out policy.Globs
	for i, g := range list {
		if msg := globProblem(g); msg != "" {
			p.errorf("K13", fmt.Sprintf("%s[%d]", field, i),
				"write a namespace name or a glob with * and ?, e.g. kube-* or *-system",
				"namespace %q %s", g, msg)
			continue
		}
		out = append(out, g)
	}
	return out
}

// globProblem says why g is neither a namespace name nor a glob over names.
// Globs support only * and ?: character classes would make a typo silently
// match nothing, and namespace names need no more.
func globProblem(g string) string {
	if g == "" {
		return "is empty"
	}
	if strings.ContainsAny(g, `[]\`) {
		return "uses [ ] or \\; only the wildcards * and ? are supported"
	}
	if !strings.ContainsAny(g, "*?") {
		if msg := dnsLabel(g); msg != "" {
			return "is not a DNS-1123 label: " + msg
		}
		return ""
	}
	if len(g) > 63 {
		return "is longer than 63 characters, the longest a namespace name can be"
	}
	for _, r := range g {
		if r != '*' && r != '?' && r != '-' && (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return fmt.Sprintf("contains %q; namespace names hold only lowercase letters, digits and '-'", r)
		}
	}
	return ""
}

// certs checks certManager (K18).
func (p *pass) certs() {
	out := policy.Certs{
		Source:            policy.CertsSelf,
		AutoRotate:        true,
		RotationThreshold: defaultRotationThreshold,
		ValidFor:          defaultValidFor,
		SecretName:        defaultSecretName,
	}
	defer func() { p.pol.Certs = out }()
	var cm *katalog.CertManager
	if p.k.Security != nil {
		cm = p.k.Security.CertManager
	}
	if cm == nil {
		return
	}
	const base = "security.certManager"
	out.AutoRotate = boolOr(cm.AutoRotate, true)
	p.certSource(base, cm, &out)
	if cm.SecretName != "" {
		out.SecretName = cm.SecretName
		if msg := dnsSubdomain(cm.SecretName); msg != "" {
			p.errorf("K18", base+".secretName", "use lowercase letters, digits, '-' and '.'",
				"secretName %q is not a valid Secret name: %s", cm.SecretName, msg)
		}
	}
	thrOK, validOK := true, true
	if cm.RotationThreshold != "" {
		out.RotationThreshold, thrOK = p.duration("K18", base+".rotationThreshold", cm.RotationThreshold)
	}
	if cm.ValidFor != "" {
		out.ValidFor, validOK = p.duration("K18", base+".validFor", cm.ValidFor)
	}
	if validOK && (out.ValidFor < minValidFor || out.ValidFor > maxValidFor) {
		p.errorf("K18", base+".validFor", "use a value from 1h to 10y, e.g. 1y",
			"validFor %s is outside 1h..10y", cm.ValidFor)
		validOK = false
	}
	if !thrOK {
		return
	}
	if out.RotationThreshold <= 0 {
		p.errorf("K18", base+".rotationThreshold", "use a positive duration, e.g. 30d",
			"rotationThreshold %s is not positive", cm.RotationThreshold)
		return
	}
	if validOK && out.RotationThreshold >= out.ValidFor {
		thr, vf := string(cm.RotationThreshold), string(cm.ValidFor)
		if thr == "" {
			thr = "30d (default)"
		}
		if vf == "" {
			vf = "1y (default)"
		}
		field := base + ".rotationThreshold"
		if cm.RotationThreshold == "" {
			field = base + ".validFor"
		}
		p.errorf("K18", field, "rotationThreshold must be shorter than validFor, e.g. 30d for 1y",
			"rotationThreshold %s is not shorter than validFor %s: the certificate would be renewed continuously", thr, vf)
	}
}

// certSource checks source and issuerRef (K18).
func (p *pass) certSource(base string, cm *katalog.CertManager, out *policy.Certs) {
	switch src := policy.CertSource(cm.Source); src {
	case "":
	case policy.CertsSelf, policy.CertsCertManager, policy.CertsFiles:
		out.Source = src
	default:
		p.errorf("K18", base+".source", "use self (the default), cert-manager or files",
			"source %q is not one of self, cert-manager, files", cm.Source)
	}
	if cm.AutoRotate != nil && out.External() {
		p.warnf("K18", base+".autoRotate", "remove autoRotate",
			"autoRotate applies to source self only; with source %s the issuer renews the certificate", out.Source)
	}
	if out.Source == policy.CertsFiles {
		for _, f := range []struct {
			name string
			set  bool
		}{{"rotationThreshold", cm.RotationThreshold != ""}, {"validFor", cm.ValidFor != ""}} {
			if f.set {
				p.warnf("K18", base+"."+f.name, "remove "+f.name,
					"%s is ignored with source files: whoever writes the files decides the validity", f.name)
			}
		}
	}
	r := cm.IssuerRef
	if r == nil {
		return
	}
	const field = "security.certManager.issuerRef"
	if out.Source != policy.CertsCertManager {
		p.errorf("K18", field, "set source: cert-manager, or remove issuerRef",
			"issuerRef needs source cert-manager (source is %s)", out.Source)
		return
	}
	ref := &policy.IssuerRef{Name: r.Name, Kind: r.Kind, Group: r.Group}
	ok := true
	if r.Name == "" {
		p.errorf("K18", field+".name", "name the Issuer or ClusterIssuer", "issuerRef.name is required")
		ok = false
	} else if msg := dnsSubdomain(r.Name); msg != "" {
		p.errorf("K18", field+".name", "use lowercase letters, digits, '-' and '.'",
			"issuerRef.name %q is not a valid object name: %s", r.Name, msg)
		ok = false
	}
	switch {
	case r.Kind == "":
		ref.Kind = "Issuer"
	case r.Kind == "Issuer" || r.Kind == "ClusterIssuer" || r.Group != "" && r.Group != "cert-manager.io":
		// An external issuer (another group) has kinds of its own.
	default:
		p.errorf("K18", field+".kind", "use Issuer (in the gateway's namespace) or ClusterIssuer",
			"issuerRef.kind %q is not Issuer or ClusterIssuer", r.Kind)
		ok = false
	}
	if ref.Group == "" {
		ref.Group = "cert-manager.io"
	} else if msg := dnsSubdomain(r.Group); msg != "" {
		p.errorf("K18", field+".group", "use the API group of the issuer, e.g. cert-manager.io",
			"issuerRef.group %q is not an API group: %s", r.Group, msg)
		ok = false
	}
	if ok {
		out.IssuerRef = ref
	}
}

// duration parses a Katalog duration; ok is false after reporting an error.
func (p *pass) duration(id, field string, d katalog.Duration) (time.Duration, bool) {
	v, err := katalog.ParseDuration(string(d))
	if err != nil {
		p.errorf(id, field, "write a number and a unit: s, m, h, d, w or y (e.g. 90m, 30d, 1y)",
			"duration %q does not parse: %v", string(d), err)
		return 0, false
	}
	return v, true
}
