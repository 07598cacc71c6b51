package registration

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// NamespaceNameLabel is the label the API server sets on every Namespace to
// its name; it cannot be changed, so selectors on it are safe.
const NamespaceNameLabel = "kubernetes.io/metadata.name"

// Endpoint is how the API server reaches the gateway.
type Endpoint struct {
	// Namespace is the gateway's own namespace: it holds the Service and is
	// excluded from the webhooks that could otherwise lock the gateway out.
	Namespace string
	// Service is the name of the Service in front of the replicas; used when
	// URL is nil.
	Service string
	// Port of the Service; 0 means 443.
	Port int32
	// URL is the base URL (https://host[:port][/prefix]); when set, webhooks
	// are registered by URL + path instead of by Service.
	URL *url.URL
	// CAInjectFrom, when set, is the cert-manager Certificate
	// ("namespace/name") whose CA cert-manager's CA injector writes into the
	// caBundles: configurations and conversion CRDs carry it as the
	// policy.CAInjectionAnnotation. See CAInjection.
	CAInjectFrom string
}

// CAInjection is the Endpoint.CAInjectFrom of a policy: with source
// cert-manager, the Certificate the bundle creates (named like its Secret)
// in the gateway's namespace; "" otherwise.
func CAInjection(p *policy.Policy, namespace string) string {
	if p == nil || p.Certs.Source != policy.CertsCertManager {
		return ""
	}
	return namespace + "/" + p.Certs.SecretName
}

// Validate reports what the API server would reject in an Endpoint, so a
// misconfiguration is one precise error at start-up instead of one per
// configuration.
func (e Endpoint) Validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(e.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("gateway namespace %q: %s", e.Namespace, strings.Join(msgs, "; ")))
	}
	if e.URL == nil {
		if msgs := validation.IsDNS1123Label(e.Service); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("gateway service name %q: %s", e.Service, strings.Join(msgs, "; ")))
		}
		if e.Port != 0 {
			if msgs := validation.IsValidPortNum(int(e.Port)); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("gateway service port %d: %s", e.Port, strings.Join(msgs, "; ")))
			}
		}
		return errors.Join(errs...)
	}
	u := e.URL
	switch {
	case u.Scheme != "https":
		errs = append(errs, fmt.Errorf("gateway url %q: the scheme must be https", u.Redacted()))
	case u.Host == "":
		errs = append(errs, fmt.Errorf("gateway url %q: no host", u.Redacted()))
	case u.User != nil:
		errs = append(errs, fmt.Errorf("gateway url %q: user information is not allowed", u.Redacted()))
	case u.RawQuery != "" || u.ForceQuery:
		errs = append(errs, fmt.Errorf("gateway url %q: a query is not allowed", u.Redacted()))
	case u.Fragment != "":
		errs = append(errs, fmt.Errorf("gateway url %q: a fragment is not allowed", u.Redacted()))
	}
	return errors.Join(errs...)
}

// clientConfig is the client configuration of a webhook served at path.
func (e Endpoint) clientConfig(path string, caBundle []byte) admissionregistrationv1.WebhookClientConfig {
	cc := admissionregistrationv1.WebhookClientConfig{CABundle: caBundle}
	if e.URL != nil {
		u := *e.URL
		u.Path = strings.TrimRight(u.Path, "/") + path
		u.RawPath = ""
		s := u.String()
		cc.URL = &s
		return cc
	}
	port := e.Port
	if port == 0 {
		port = 443
	}
	cc.Service = &admissionregistrationv1.ServiceReference{
		Namespace: e.Namespace,
		Name:      e.Service,
		Path:      &path,
		Port:      &port,
	}
	return cc
}

// Desired returns the webhook configurations a Katalog needs, one per enabled
// feature that has something to register (see Feature and ConfigName). It is
// pure: the same inputs give the same objects, which is what lets Apply skip
// the write when nothing changed.
//
// caBundle is the PEM bundle the API server verifies the gateway with; an
// empty caBundle means the user owns it (external certificates): Apply then
// keeps whatever caBundle the live configurations carry.
//
// Scoping, so that nothing registered can lock out the cluster or the gateway
// and a gateway outage blocks only what its policies are meant to block:
//
//   - deletion-protection: DELETE of any resource (*/*), objectSelector on
//     orkestra.io/deletion-protection=true, so unlabelled objects never reach
//     the gateway. No namespace exclusion: protecting labelled objects in
//     kube-system and in the gateway's namespace (its TLS Secret) is the point,
//     and the label keeps it safe. CRD entries with protectCRs: false are
//     excluded by a matchCondition on request.resource. CRDs with protectCRD
//     get a second webhook on customresourcedefinitions DELETE with a
//     matchCondition on oldObject.metadata.name (an objectSelector cannot
//     select by name). DeleteCollection is admitted item by item as DELETE, so
//     it is covered.
//   - strict-mode: UPDATE of any resource and subresource (*/*: status
//     subresources of e.g. nodes and pods can change labels), objectSelector on
//     the protection label, which the API server evaluates against the old and
//     the new object and matches when either matches, so an update that drops
//     the label still reaches the gateway. A matchCondition passes only updates
//     whose new object no longer carries the label with value "true", so the
//     frequent status writes of protected objects never depend on the gateway.
//     The gateway's namespace and kube-system are excluded, except for the
//     gateway's own TLS Secret: a second webhook, on UPDATE of secrets in the
//     gateway's namespace, with a matchCondition on the Secret's name.
//   - namespace-protection: CREATE and UPDATE of every namespaced Katalog CRD
//     that a namespace list applies to, all its versions; plus DELETE of
//     namespaces matching the Katalog-level restrictedNamespaces: an
//     objectSelector kubernetes.io/metadata.name In [...] when all are exact
//     names, a matchCondition in CEL (globs translated to RE2) when any is a
//     glob, and every namespace deletion when a glob cannot be translated (the
//     check pass rejects those, so this is a last resort).
//   - validate / mutate: per CRD, its rules version, plural and operations,
//     matchPolicy Equivalent so requests at other versions are converted first.
//
// Every webhook except deletion protection and the TLS Secret's strict mode
// excludes, with a namespaceSelector on kubernetes.io/metadata.name NotIn,
// the gateway's namespace and kube-system. For namespace protection a namespace is excluded only if every
// namespace list of the Katalog allows it (otherwise protecting it is the
// point, and the webhook only sees Katalog CRD objects, which nothing in the
// cluster needs in order to run).
//
// The gateway's own configurations carry the protection label but cannot be
// protected by it: see the package documentation.
func Desired(p *policy.Policy, ep Endpoint, caBundle []byte) (validating []admissionregistrationv1.ValidatingWebhookConfiguration, mutating []admissionregistrationv1.MutatingWebhookConfiguration) {
	if p == nil {
		return nil, nil
	}
	b := builder{p: p, ep: ep, ca: caBundle}
	for _, f := range webhook.Features {
		if f.Mutating() {
			if hooks := b.mutate(); len(hooks) > 0 {
				hooks = append(hooks, b.mutatingProbe())
				c := admissionregistrationv1.MutatingWebhookConfiguration{Webhooks: hooks}
				c.APIVersion, c.Kind = "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"
				c.ObjectMeta = b.meta(f)
				mutating = append(mutating, c)
			}
			continue
		}
		var hooks []admissionregistrationv1.ValidatingWebhook
		switch f {
		case webhook.DeletionProtection:
			hooks = b.deletionProtection()
		case webhook.StrictMode:
			hooks = b.strictMode()
		case webhook.NamespaceProtection:
			hooks = b.namespaceProtection()
		case webhook.Validate:
			hooks = b.validate()
		}
		if len(hooks) > 0 {
			hooks = append(hooks, b.validatingProbe(f))
			c := admissionregistrationv1.ValidatingWebhookConfiguration{Webhooks: hooks}
			c.APIVersion, c.Kind = "admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"
			c.ObjectMeta = b.meta(f)
			validating = append(validating, c)
		}
	}
	return validating, mutating
}

// probeTest is true for the gateway's probe of the webhook configuration
// of feature f: a dry-run UPDATE of its TLS Secret annotated with
// ProbeTarget(webhook, configuration name). Every configuration holds one
// webhook for it, so that a switch of engine can tell the configuration is
// in force before it removes the policies it replaces.
func (b builder) probeTest(f webhook.Feature) string {
	a := celStr(ProbeAnnotation)
	return fmt.Sprintf("request.resource.group == '' && request.resource.resource == 'secrets' && "+celReqNamespace+" == %s && "+
		celReqName+" == %s && "+celDryRun+" && object != null && has(object.metadata.annotations) && "+
		"%s in object.metadata.annotations && object.metadata.annotations[%s] == %s",
		celStr(b.ep.Namespace), celStr(b.p.Certs.SecretName), a, a, celStr(ProbeTarget(policy.EngineWebhook, ConfigName(b.p.Name, f))))
}

// validatingProbe is the probe webhook of feature f's configuration.
func (b builder) validatingProbe(f webhook.Feature) admissionregistrationv1.ValidatingWebhook {
	settings := b.settings(f)
	w := b.webhook(b.hookName("probe", string(f)), f, settings, policy.Fail)
	fp := admissionregistrationv1.Fail
	w.FailurePolicy = &fp
	w.Rules = []admissionregistrationv1.RuleWithOperations{
		rule(admissionregistrationv1.NamespacedScope, []string{""}, []string{"v1"}, []string{"secrets"}, admissionregistrationv1.Update),
	}
	w.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "probe", Expression: b.probeTest(f)}}
	return w
}

func (b builder) mutatingProbe() admissionregistrationv1.MutatingWebhook {
	v := b.validatingProbe(webhook.Mutate)
	never := admissionregistrationv1.NeverReinvocationPolicy
	return admissionregistrationv1.MutatingWebhook{
		Name: v.Name, ClientConfig: v.ClientConfig, Rules: v.Rules, FailurePolicy: v.FailurePolicy, MatchPolicy: v.MatchPolicy,
		SideEffects: v.SideEffects, TimeoutSeconds: v.TimeoutSeconds, AdmissionReviewVersions: v.AdmissionReviewVersions,
		MatchConditions: v.MatchConditions, ReinvocationPolicy: &never,
	}
}

// settings are the endpoint settings of a feature's block.
func (b builder) settings(f webhook.Feature) policy.Endpoint {
	switch f {
	case webhook.DeletionProtection, webhook.StrictMode:
		return b.p.DeletionProtection.Endpoint
	case webhook.NamespaceProtection:
		return b.p.NamespaceProtection.Endpoint
	}
	return b.p.Admission.Endpoint
}

type builder struct {
	p  *policy.Policy
	ep Endpoint
	ca []byte
}

// crds are the Katalog's CRD entries (nil entries skipped).
func (b builder) crds() []*policy.CRD {
	out := make([]*policy.CRD, 0, len(b.p.CRDs))
	for _, c := range b.p.CRDs {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

func (b builder) meta(f webhook.Feature) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: ConfigName(b.p.Name, f), Labels: labels(b.p.Name, f)}
	if b.ep.CAInjectFrom != "" {
		m.Annotations = map[string]string{policy.CAInjectionAnnotation: b.ep.CAInjectFrom}
	}
	return m
}

// hookName is a webhook's name: fully qualified (at least three DNS labels) as
// the API server requires, and unique per Katalog, because the API server's
// webhook metrics and error messages name the webhook, not its configuration.
func (b builder) hookName(parts ...string) string {
	return strings.Join(append(parts, b.p.Name, "orkestra.io"), ".")
}

// webhook is the part every validating webhook shares.
func (b builder) webhook(name string, f webhook.Feature, settings policy.Endpoint, def policy.FailurePolicy) admissionregistrationv1.ValidatingWebhook {
	fp := admissionregistrationv1.FailurePolicyType(settings.FailurePolicy)
	if fp == "" {
		fp = admissionregistrationv1.FailurePolicyType(def)
	}
	mp := admissionregistrationv1.Equivalent
	se := admissionregistrationv1.SideEffectClassNone
	w := admissionregistrationv1.ValidatingWebhook{
		Name:                    name,
		ClientConfig:            b.ep.clientConfig(f.Path(), b.ca),
		FailurePolicy:           &fp,
		MatchPolicy:             &mp,
		SideEffects:             &se,
		AdmissionReviewVersions: []string{"v1"},
	}
	if settings.TimeoutSeconds > 0 {
		t := settings.TimeoutSeconds
		w.TimeoutSeconds = &t
	}
	return w
}

func rule(scope admissionregistrationv1.ScopeType, groups, versions, resources []string, ops ...admissionregistrationv1.OperationType) admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{
		Operations: ops,
		Rule:       admissionregistrationv1.Rule{APIGroups: groups, APIVersions: versions, Resources: resources, Scope: &scope},
	}
}

func protectionSelector() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{policy.ProtectionLabel: "true"}}
}

// excludeNamespaces selects every namespace except names.
func excludeNamespaces(names []string) *metav1.LabelSelector {
	if len(names) == 0 {
		return nil
	}
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: NamespaceNameLabel, Operator: metav1.LabelSelectorOpNotIn, Values: names,
	}}}
}

// systemNamespaces are the namespaces whose objects the gateway must never
// make depend on itself: its own and kube-system.
func (b builder) systemNamespaces() []string {
	var ns []string
	if b.ep.Namespace != "" {
		ns = append(ns, b.ep.Namespace)
	}
	if b.ep.Namespace != "kube-system" {
		ns = append(ns, "kube-system")
	}
	return ns
}

func (b builder) deletionProtection() []admissionregistrationv1.ValidatingWebhook {
	dp := b.p.DeletionProtection
	if !dp.Enabled {
		return nil
	}
	w := b.webhook(b.hookName("deletion-protection"), webhook.DeletionProtection, dp.Endpoint, policy.Fail)
	w.Rules = []admissionregistrationv1.RuleWithOperations{
		rule(admissionregistrationv1.AllScopes, []string{"*"}, []string{"*"}, []string{"*/*"}, admissionregistrationv1.Delete),
	}
	w.ObjectSelector = protectionSelector()
	var unprotected []string
	var protectedCRDs []string
	for _, c := range b.crds() {
		if !c.ProtectCRs {
			unprotected = append(unprotected, fmt.Sprintf("(request.resource.group == %s && request.resource.resource == %s)", celStr(c.Group), celStr(c.Plural)))
		}
		if c.ProtectCRD {
			protectedCRDs = append(protectedCRDs, c.CRDName())
		}
	}
	if len(unprotected) > 0 {
		w.MatchConditions = []admissionregistrationv1.MatchCondition{{
			Name:       "skip-kinds-without-protect-crs",
			Expression: "!(" + strings.Join(unprotected, " || ") + ")",
		}}
	}
	hooks := []admissionregistrationv1.ValidatingWebhook{w}
	if len(protectedCRDs) > 0 {
		c := b.webhook(b.hookName("crd-deletion-protection"), webhook.DeletionProtection, dp.Endpoint, policy.Fail)
		c.Rules = []admissionregistrationv1.RuleWithOperations{
			rule(admissionregistrationv1.ClusterScope, []string{"apiextensions.k8s.io"}, []string{"v1"}, []string{"customresourcedefinitions"}, admissionregistrationv1.Delete),
		}
		c.MatchConditions = []admissionregistrationv1.MatchCondition{{
			Name:       "protected-crd-names",
			Expression: "oldObject != null && oldObject.metadata.name in " + celList(protectedCRDs),
		}}
		hooks = append(hooks, c)
	}
	return hooks
}

func (b builder) strictMode() []admissionregistrationv1.ValidatingWebhook {
	dp := b.p.DeletionProtection
	if !dp.Enabled || !dp.StrictMode {
		return nil
	}
	w := b.webhook(b.hookName("strict-mode"), webhook.StrictMode, dp.Endpoint, policy.Fail)
	w.Rules = []admissionregistrationv1.RuleWithOperations{
		rule(admissionregistrationv1.AllScopes, []string{"*"}, []string{"*"}, []string{"*/*"}, admissionregistrationv1.Update),
	}
	w.ObjectSelector = protectionSelector()
	w.NamespaceSelector = excludeNamespaces(b.systemNamespaces())
	l := celStr(policy.ProtectionLabel)
	lifted := admissionregistrationv1.MatchCondition{
		Name: "protection-label-lifted",
		Expression: "object == null || !has(object.metadata.labels) || !(" + l + " in object.metadata.labels) || " +
			"object.metadata.labels[" + l + "] != 'true'",
	}
	w.MatchConditions = []admissionregistrationv1.MatchCondition{lifted}
	hooks := []admissionregistrationv1.ValidatingWebhook{w}
	// The exclusion of the gateway's namespace (kube-system, when it runs
	// there) must not exempt its own TLS Secret: a second webhook guards
	// that one Secret's label, by name.
	if b.ep.Namespace != "" && b.p.Certs.SecretName != "" {
		s := b.webhook(b.hookName("secret-strict-mode"), webhook.StrictMode, dp.Endpoint, policy.Fail)
		s.Rules = []admissionregistrationv1.RuleWithOperations{
			rule(admissionregistrationv1.NamespacedScope, []string{""}, []string{"v1"}, []string{"secrets"}, admissionregistrationv1.Update),
		}
		s.ObjectSelector = protectionSelector()
		s.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: NamespaceNameLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{b.ep.Namespace},
		}}}
		s.MatchConditions = []admissionregistrationv1.MatchCondition{
			{Name: "gateway-tls-secret", Expression: "object.metadata.name == " + celStr(b.p.Certs.SecretName)},
			lifted,
		}
		hooks = append(hooks, s)
	}
	return hooks
}

func (b builder) namespaceProtection() []admissionregistrationv1.ValidatingWebhook {
	np := b.p.NamespaceProtection
	if !np.Enabled {
		return nil
	}
	var hooks []admissionregistrationv1.ValidatingWebhook
	var rules []admissionregistrationv1.RuleWithOperations
	lists := []policy.Namespaces{np.Namespaces}
	for _, c := range b.crds() {
		if !c.Namespaced || (np.Namespaces.Empty() && c.Namespaces.Empty()) {
			continue
		}
		lists = append(lists, c.Namespaces)
		rules = append(rules, rule(admissionregistrationv1.NamespacedScope, []string{c.Group}, crdVersions(c), []string{c.Plural},
			admissionregistrationv1.Create, admissionregistrationv1.Update))
	}
	if len(rules) > 0 {
		w := b.webhook(b.hookName("namespace-protection"), webhook.NamespaceProtection, np.Endpoint, policy.Fail)
		w.Rules = rules
		var exclude []string
		for _, ns := range b.systemNamespaces() {
			if allowedByAll(lists, ns) {
				exclude = append(exclude, ns)
			}
		}
		w.NamespaceSelector = excludeNamespaces(exclude)
		hooks = append(hooks, w)
	}
	if restricted := np.Namespaces.Restricted; len(restricted) > 0 {
		w := b.webhook(b.hookName("namespace-deletion"), webhook.NamespaceProtection, np.Endpoint, policy.Fail)
		w.Rules = []admissionregistrationv1.RuleWithOperations{
			rule(admissionregistrationv1.ClusterScope, []string{""}, []string{"v1"}, []string{"namespaces"}, admissionregistrationv1.Delete),
		}
		w.ObjectSelector, w.MatchConditions = restrictedNamespaces(restricted)
		hooks = append(hooks, w)
	}
	return hooks
}

// restrictedNamespaces scopes namespace deletion to the restricted names:
// exact names go into an objectSelector on the immutable name label (cheap,
// evaluated before any CEL); with any glob, one CEL matchCondition holds both
// the names and the globs. An untranslatable glob scopes nothing.
func restrictedNamespaces(restricted policy.Globs) (*metav1.LabelSelector, []admissionregistrationv1.MatchCondition) {
	var names, patterns []string
	for _, r := range restricted {
		if !isGlob(r) {
			names = append(names, r)
			continue
		}
		re, err := globRegexp(r)
		if err != nil {
			return nil, nil
		}
		patterns = append(patterns, re)
	}
	names = sortedUnique(names)
	if len(patterns) == 0 {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: NamespaceNameLabel, Operator: metav1.LabelSelectorOpIn, Values: names,
		}}}, nil
	}
	var terms []string
	if len(names) > 0 {
		terms = append(terms, "oldObject.metadata.name in "+celList(names))
	}
	for _, re := range patterns {
		terms = append(terms, "oldObject.metadata.name.matches("+celStr(re)+")")
	}
	return nil, []admissionregistrationv1.MatchCondition{{
		Name:       "restricted-namespaces",
		Expression: "oldObject != null && (" + strings.Join(terms, " || ") + ")",
	}}
}

// allowedByAll reports whether every list allows objects in namespace ns:
// not restricted, and allowed when an allow list exists.
func allowedByAll(lists []policy.Namespaces, ns string) bool {
	for _, l := range lists {
		if l.Restricted.Match(ns) || (len(l.Allowed) > 0 && !l.Allowed.Match(ns)) {
			return false
		}
	}
	return true
}

// crdVersions are all known versions of a CRD: namespace protection reads only
// metadata, so it needs no conversion and should not depend on /convert.
func crdVersions(c *policy.CRD) []string {
	vs := sortedUnique(append([]string{c.Version}, c.Versions...))
	if len(vs) == 0 {
		return []string{"*"}
	}
	return vs
}

func sortedUnique(ss []string) []string {
	out := make([]string, 0, len(ss))
	seen := map[string]bool{}
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func crdRule(c *policy.CRD) admissionregistrationv1.RuleWithOperations {
	scope := admissionregistrationv1.ClusterScope
	if c.Namespaced {
		scope = admissionregistrationv1.NamespacedScope
	}
	ops := c.Operations
	if len(ops) == 0 {
		ops = []string{"CREATE", "UPDATE"}
	}
	r := rule(scope, []string{c.Group}, []string{c.Version}, []string{c.Plural})
	for _, op := range ops {
		r.Operations = append(r.Operations, admissionregistrationv1.OperationType(op))
	}
	return r
}

func (b builder) validate() []admissionregistrationv1.ValidatingWebhook {
	if !b.p.Admission.Enabled {
		return nil
	}
	var hooks []admissionregistrationv1.ValidatingWebhook
	for _, c := range b.crds() {
		if !c.Validate {
			continue
		}
		w := b.webhook(b.hookName(c.Name, "validate"), webhook.Validate, b.p.Admission.Endpoint, policy.Ignore)
		w.Rules = []admissionregistrationv1.RuleWithOperations{crdRule(c)}
		w.NamespaceSelector = excludeNamespaces(b.systemNamespaces())
		hooks = append(hooks, w)
	}
	return hooks
}

func (b builder) mutate() []admissionregistrationv1.MutatingWebhook {
	if !b.p.Admission.Enabled {
		return nil
	}
	var hooks []admissionregistrationv1.MutatingWebhook
	for _, c := range b.crds() {
		if !c.Mutate {
			continue
		}
		v := b.webhook(b.hookName(c.Name, "mutate"), webhook.Mutate, b.p.Admission.Endpoint, policy.Ignore)
		never := admissionregistrationv1.NeverReinvocationPolicy
		hooks = append(hooks, admissionregistrationv1.MutatingWebhook{
			Name:                    v.Name,
			ClientConfig:            v.ClientConfig,
			Rules:                   []admissionregistrationv1.RuleWithOperations{crdRule(c)},
			FailurePolicy:           v.FailurePolicy,
			MatchPolicy:             v.MatchPolicy,
			NamespaceSelector:       excludeNamespaces(b.systemNamespaces()),
			SideEffects:             v.SideEffects,
			TimeoutSeconds:          v.TimeoutSeconds,
			AdmissionReviewVersions: v.AdmissionReviewVersions,
			ReinvocationPolicy:      &never,
		})
	}
	return hooks
}
