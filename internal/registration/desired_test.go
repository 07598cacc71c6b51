package registration

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

var testCA = []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")

// fullPolicy enables every feature: two CRDs, one namespaced with every
// webhook and a protected CRD, one cluster-scoped whose CRs are not protected.
func fullPolicy() *policy.Policy {
	return &policy.Policy{
		Name:    "platform-guard",
		Gateway: policy.Gateway{ServiceName: "orkestra-gateway", Namespace: "orkestra-system"},
		DeletionProtection: policy.DeletionProtection{
			Endpoint:   policy.Endpoint{Enabled: true, FailurePolicy: policy.Fail, TimeoutSeconds: 7, CleanupOnShutdown: true},
			StrictMode: true,
		},
		NamespaceProtection: policy.NamespaceProtection{
			Endpoint:   policy.Endpoint{Enabled: true, FailurePolicy: policy.Fail, TimeoutSeconds: 3},
			Namespaces: policy.Namespaces{Restricted: policy.Globs{"kube-system", "kube-public"}},
		},
		Admission: policy.Admission{Endpoint: policy.Endpoint{Enabled: true, FailurePolicy: policy.Ignore, TimeoutSeconds: 5, CleanupOnShutdown: true}},
		CRDs: []*policy.CRD{
			{
				Name: "website", Group: "web.example.com", Version: "v2", Kind: "Website", Plural: "websites",
				Namespaced: true, Versions: []string{"v1", "v2"},
				Validate: true, Mutate: true, Operations: []string{"CREATE", "UPDATE"},
				ProtectCRD: true, ProtectCRs: true,
				Namespaces: policy.Namespaces{Allowed: policy.Globs{"web-*"}},
			},
			{
				Name: "zone", Group: "dns.example.com", Version: "v1", Kind: "Zone", Plural: "zones",
				Namespaced: false, Versions: []string{"v1"},
				Validate: true, Operations: []string{"CREATE", "UPDATE", "DELETE"},
			},
		},
	}
}

func serviceEndpoint() Endpoint {
	return Endpoint{Namespace: "orkestra-system", Service: "orkestra-gateway"}
}

func configs(t *testing.T, p *policy.Policy, ep Endpoint) (map[string]admissionregistrationv1.ValidatingWebhookConfiguration, map[string]admissionregistrationv1.MutatingWebhookConfiguration) {
	t.Helper()
	v, m := Desired(p, ep, testCA)
	vs := map[string]admissionregistrationv1.ValidatingWebhookConfiguration{}
	for _, c := range v {
		if _, dup := vs[c.Name]; dup {
			t.Fatalf("configuration %s desired twice", c.Name)
		}
		// Every configuration ends with its probe webhook (TestDesiredProbe);
		// the other tests look at the rest.
		n := len(c.Webhooks)
		if n == 0 || !strings.HasPrefix(c.Webhooks[n-1].Name, "probe.") {
			t.Fatalf("configuration %s does not end with its probe webhook", c.Name)
		}
		c.Webhooks = c.Webhooks[:n-1]
		vs[c.Name] = c
	}
	ms := map[string]admissionregistrationv1.MutatingWebhookConfiguration{}
	for _, c := range m {
		n := len(c.Webhooks)
		if n == 0 || !strings.HasPrefix(c.Webhooks[n-1].Name, "probe.") {
			t.Fatalf("configuration %s does not end with its probe webhook", c.Name)
		}
		c.Webhooks = c.Webhooks[:n-1]
		ms[c.Name] = c
	}
	return vs, ms
}

func hook(t *testing.T, c admissionregistrationv1.ValidatingWebhookConfiguration, name string) admissionregistrationv1.ValidatingWebhook {
	t.Helper()
	for _, w := range c.Webhooks {
		if w.Name == name {
			return w
		}
	}
	var names []string
	for _, w := range c.Webhooks {
		names = append(names, w.Name)
	}
	t.Fatalf("%s has no webhook %s (has %v)", c.Name, name, names)
	return admissionregistrationv1.ValidatingWebhook{}
}

func TestDesiredNamesAndLabels(t *testing.T) {
	v, m := configs(t, fullPolicy(), serviceEndpoint())
	wantV := []string{
		"orkestra-gateway-platform-guard-deletion-protection",
		"orkestra-gateway-platform-guard-strict-mode",
		"orkestra-gateway-platform-guard-namespace-protection",
		"orkestra-gateway-platform-guard-validate",
	}
	if len(v) != len(wantV) {
		t.Fatalf("validating configurations: got %d, want %d", len(v), len(wantV))
	}
	for _, n := range wantV {
		if _, ok := v[n]; !ok {
			t.Errorf("missing validating configuration %s", n)
		}
	}
	if _, ok := m["orkestra-gateway-platform-guard-mutate"]; !ok || len(m) != 1 {
		t.Fatalf("mutating configurations: %v", m)
	}

	check := func(meta metav1.ObjectMeta, f webhook.Feature) {
		want := map[string]string{
			"app.kubernetes.io/managed-by":    "orkestra-gateway",
			"orkestra.io/deletion-protection": "true",
			"orkestra.orkspace.io/katalog":    "platform-guard",
			"orkestra.orkspace.io/feature":    string(f),
		}
		if !reflect.DeepEqual(meta.Labels, want) {
			t.Errorf("%s labels = %v, want %v", meta.Name, meta.Labels, want)
		}
		if meta.Name != ConfigName("platform-guard", f) {
			t.Errorf("%s: feature %s is named %s", meta.Name, f, ConfigName("platform-guard", f))
		}
		if errs := validation.IsDNS1123Subdomain(meta.Name); len(errs) > 0 {
			t.Errorf("%s: %v", meta.Name, errs)
		}
	}
	for _, c := range v {
		check(c.ObjectMeta, webhook.Feature(c.Labels[FeatureLabel]))
		if c.APIVersion != "admissionregistration.k8s.io/v1" || c.Kind != "ValidatingWebhookConfiguration" {
			t.Errorf("%s: type %s/%s", c.Name, c.APIVersion, c.Kind)
		}
	}
	for _, c := range m {
		check(c.ObjectMeta, webhook.Mutate)
		if c.APIVersion != "admissionregistration.k8s.io/v1" || c.Kind != "MutatingWebhookConfiguration" {
			t.Errorf("%s: type %s/%s", c.Name, c.APIVersion, c.Kind)
		}
	}
}

// The longest Katalog name (a 63-character DNS label) still gives valid
// configuration and webhook names.
func TestDesiredLongNames(t *testing.T) {
	p := fullPolicy()
	p.Name = strings.Repeat("k", 63)
	p.CRDs[0].Name = strings.Repeat("e", 63)
	v, m := Desired(p, serviceEndpoint(), testCA)
	var names, hooks []string
	for _, c := range v {
		names = append(names, c.Name)
		for _, w := range c.Webhooks {
			hooks = append(hooks, w.Name)
		}
	}
	for _, c := range m {
		names = append(names, c.Name)
		for _, w := range c.Webhooks {
			hooks = append(hooks, w.Name)
		}
	}
	if len(names) != 5 {
		t.Fatalf("got %d configurations", len(names))
	}
	for _, n := range names {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 || len(n) > 253 {
			t.Errorf("configuration name %q (%d chars): %v", n, len(n), errs)
		}
	}
	for _, n := range hooks {
		if errs := validation.IsFullyQualifiedName(field.NewPath("name"), n); len(errs) > 0 {
			t.Errorf("webhook name %q: %v", n, errs)
		}
	}
}

func TestDesiredCommonFields(t *testing.T) {
	p := fullPolicy()
	v, m := Desired(p, serviceEndpoint(), testCA)
	type common struct {
		name      string
		cc        admissionregistrationv1.WebhookClientConfig
		fp        *admissionregistrationv1.FailurePolicyType
		mp        *admissionregistrationv1.MatchPolicyType
		se        *admissionregistrationv1.SideEffectClass
		timeout   *int32
		versions  []string
		config    string
		wantPath  string
		wantFP    policy.FailurePolicy
		wantTimeo int32
	}
	settings := map[webhook.Feature]policy.Endpoint{
		webhook.DeletionProtection:  p.DeletionProtection.Endpoint,
		webhook.StrictMode:          p.DeletionProtection.Endpoint,
		webhook.NamespaceProtection: p.NamespaceProtection.Endpoint,
		webhook.Validate:            p.Admission.Endpoint,
		webhook.Mutate:              p.Admission.Endpoint,
	}
	var all []common
	for _, c := range v {
		f := webhook.Feature(c.Labels[FeatureLabel])
		for _, w := range c.Webhooks {
			all = append(all, common{w.Name, w.ClientConfig, w.FailurePolicy, w.MatchPolicy, w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions, c.Name, f.Path(), settings[f].FailurePolicy, settings[f].TimeoutSeconds})
		}
	}
	for _, c := range m {
		for _, w := range c.Webhooks {
			all = append(all, common{w.Name, w.ClientConfig, w.FailurePolicy, w.MatchPolicy, w.SideEffects, w.TimeoutSeconds, w.AdmissionReviewVersions, c.Name, "/mutate", p.Admission.FailurePolicy, p.Admission.TimeoutSeconds})
			if w.ReinvocationPolicy == nil || *w.ReinvocationPolicy != admissionregistrationv1.NeverReinvocationPolicy {
				t.Errorf("%s: reinvocationPolicy %v", w.Name, w.ReinvocationPolicy)
			}
		}
	}
	if len(all) != 13 {
		t.Fatalf("got %d webhooks, want 8 and the 5 probe webhooks", len(all))
	}
	for _, w := range all {
		if strings.HasPrefix(w.name, "probe.") {
			w.wantFP = policy.Fail // an unanswered probe must not pass for an absent configuration
		}
		svc := w.cc.Service
		if w.cc.URL != nil || svc == nil {
			t.Fatalf("%s: client config %+v, want a service reference", w.name, w.cc)
		}
		if svc.Namespace != "orkestra-system" || svc.Name != "orkestra-gateway" || svc.Port == nil || *svc.Port != 443 || svc.Path == nil || *svc.Path != w.wantPath {
			t.Errorf("%s: service %s/%s port %v path %v, want orkestra-system/orkestra-gateway 443 %s", w.name, svc.Namespace, svc.Name, svc.Port, svc.Path, w.wantPath)
		}
		if string(w.cc.CABundle) != string(testCA) {
			t.Errorf("%s: caBundle %q", w.name, w.cc.CABundle)
		}
		if w.fp == nil || string(*w.fp) != string(w.wantFP) {
			t.Errorf("%s: failurePolicy %v, want %s", w.name, w.fp, w.wantFP)
		}
		if w.timeout == nil || *w.timeout != w.wantTimeo {
			t.Errorf("%s: timeoutSeconds %v, want %d", w.name, w.timeout, w.wantTimeo)
		}
		if w.mp == nil || *w.mp != admissionregistrationv1.Equivalent {
			t.Errorf("%s: matchPolicy %v", w.name, w.mp)
		}
		if w.se == nil || *w.se != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s: sideEffects %v", w.name, w.se)
		}
		if !reflect.DeepEqual(w.versions, []string{"v1"}) {
			t.Errorf("%s: admissionReviewVersions %v", w.name, w.versions)
		}
		if !strings.HasSuffix(w.name, ".platform-guard.orkestra.io") {
			t.Errorf("webhook name %s does not name the Katalog", w.name)
		}
	}
}

func TestDesiredDefaultsFailurePolicyPerFeature(t *testing.T) {
	p := fullPolicy()
	p.DeletionProtection.FailurePolicy = ""
	p.DeletionProtection.TimeoutSeconds = 0
	p.Admission.FailurePolicy = ""
	v, m := configs(t, p, serviceEndpoint())
	dp := hook(t, v[ConfigName(p.Name, webhook.DeletionProtection)], "deletion-protection.platform-guard.orkestra.io")
	if *dp.FailurePolicy != admissionregistrationv1.Fail || dp.TimeoutSeconds != nil {
		t.Errorf("deletion protection: failurePolicy %s timeout %v, want Fail and the server default", *dp.FailurePolicy, dp.TimeoutSeconds)
	}
	val := hook(t, v[ConfigName(p.Name, webhook.Validate)], "website.validate.platform-guard.orkestra.io")
	if *val.FailurePolicy != admissionregistrationv1.Ignore {
		t.Errorf("validate: failurePolicy %s, want Ignore", *val.FailurePolicy)
	}
	if fp := *m[ConfigName(p.Name, webhook.Mutate)].Webhooks[0].FailurePolicy; fp != admissionregistrationv1.Ignore {
		t.Errorf("mutate: failurePolicy %s, want Ignore", fp)
	}
}

func ruleOf(scope admissionregistrationv1.ScopeType, groups, versions, resources []string, ops ...admissionregistrationv1.OperationType) admissionregistrationv1.RuleWithOperations {
	return rule(scope, groups, versions, resources, ops...)
}

func notIn(ns ...string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: ns}}}
}

var protectionLabelSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"orkestra.io/deletion-protection": "true"}}

func TestDesiredDeletionProtection(t *testing.T) {
	p := fullPolicy()
	v, _ := configs(t, p, serviceEndpoint())
	c := v["orkestra-gateway-platform-guard-deletion-protection"]
	if len(c.Webhooks) != 2 {
		t.Fatalf("got %d webhooks, want the label one and the CRD one", len(c.Webhooks))
	}
	w := hook(t, c, "deletion-protection.platform-guard.orkestra.io")
	wantRules := []admissionregistrationv1.RuleWithOperations{ruleOf("*", []string{"*"}, []string{"*"}, []string{"*/*"}, "DELETE")}
	if !reflect.DeepEqual(w.Rules, wantRules) {
		t.Errorf("rules = %+v", w.Rules)
	}
	if !reflect.DeepEqual(w.ObjectSelector, protectionLabelSelector) {
		t.Errorf("objectSelector = %+v", w.ObjectSelector)
	}
	if w.NamespaceSelector != nil {
		t.Errorf("deletion protection must not exclude namespaces: %+v", w.NamespaceSelector)
	}
	// zones have protectCRs false: their deletions skip the webhook.
	if len(w.MatchConditions) != 1 {
		t.Fatalf("matchConditions = %+v", w.MatchConditions)
	}
	cond := w.MatchConditions[0].Expression
	del := func(group, resource string) map[string]any {
		return map[string]any{"request": map[string]any{"resource": map[string]any{"group": group, "version": "v1", "resource": resource}}}
	}
	if evalCEL(t, cond, del("dns.example.com", "zones")) {
		t.Errorf("%s: zones (protectCRs false) reach the webhook", cond)
	}
	for _, gr := range [][2]string{{"web.example.com", "websites"}, {"", "secrets"}, {"dns.example.com", "records"}, {"other.example.com", "zones"}} {
		if !evalCEL(t, cond, del(gr[0], gr[1])) {
			t.Errorf("%s: %s.%s does not reach the webhook", cond, gr[1], gr[0])
		}
	}

	crd := hook(t, c, "crd-deletion-protection.platform-guard.orkestra.io")
	wantRules = []admissionregistrationv1.RuleWithOperations{ruleOf("Cluster", []string{"apiextensions.k8s.io"}, []string{"v1"}, []string{"customresourcedefinitions"}, "DELETE")}
	if !reflect.DeepEqual(crd.Rules, wantRules) {
		t.Errorf("CRD rules = %+v", crd.Rules)
	}
	if crd.ObjectSelector != nil || crd.NamespaceSelector != nil {
		t.Errorf("CRD webhook selectors: %+v %+v", crd.ObjectSelector, crd.NamespaceSelector)
	}
	if len(crd.MatchConditions) != 1 {
		t.Fatalf("CRD matchConditions = %+v", crd.MatchConditions)
	}
	cond = crd.MatchConditions[0].Expression
	named := func(n string) map[string]any {
		return map[string]any{"object": nil, "oldObject": map[string]any{"metadata": map[string]any{"name": n}}}
	}
	if !evalCEL(t, cond, named("websites.web.example.com")) {
		t.Errorf("%s: the protected CRD does not reach the webhook", cond)
	}
	if evalCEL(t, cond, named("zones.dns.example.com")) || evalCEL(t, cond, named("websites.web.example.org")) {
		t.Errorf("%s: unprotected CRDs reach the webhook", cond)
	}
}

func TestDesiredDeletionProtectionWithoutCRDs(t *testing.T) {
	p := fullPolicy()
	p.CRDs = nil
	v, _ := configs(t, p, serviceEndpoint())
	c := v["orkestra-gateway-platform-guard-deletion-protection"]
	if len(c.Webhooks) != 1 || len(c.Webhooks[0].MatchConditions) != 0 {
		t.Fatalf("standalone deletion protection: %+v", c.Webhooks)
	}
}

func TestDesiredStrictMode(t *testing.T) {
	v, _ := configs(t, fullPolicy(), serviceEndpoint())
	c := v["orkestra-gateway-platform-guard-strict-mode"]
	if len(c.Webhooks) != 1 {
		t.Fatalf("got %d webhooks", len(c.Webhooks))
	}
	w := c.Webhooks[0]
	wantRules := []admissionregistrationv1.RuleWithOperations{ruleOf("*", []string{"*"}, []string{"*"}, []string{"*/*"}, "UPDATE")}
	if !reflect.DeepEqual(w.Rules, wantRules) {
		t.Errorf("rules = %+v", w.Rules)
	}
	if !reflect.DeepEqual(w.ObjectSelector, protectionLabelSelector) {
		t.Errorf("objectSelector = %+v", w.ObjectSelector)
	}
	if want := notIn("orkestra-system", "kube-system"); !reflect.DeepEqual(w.NamespaceSelector, want) {
		t.Errorf("namespaceSelector = %+v, want %+v", w.NamespaceSelector, want)
	}
	if len(w.MatchConditions) != 1 {
		t.Fatalf("matchConditions = %+v", w.MatchConditions)
	}
	cond := w.MatchConditions[0].Expression
	update := func(newLabels map[string]any) map[string]any {
		meta := map[string]any{"name": "x"}
		if newLabels != nil {
			meta["labels"] = newLabels
		}
		return map[string]any{
			"object":    map[string]any{"metadata": meta},
			"oldObject": map[string]any{"metadata": map[string]any{"name": "x", "labels": map[string]any{"orkestra.io/deletion-protection": "true"}}},
		}
	}
	for _, tc := range []struct {
		labels map[string]any
		want   bool
	}{
		{map[string]any{"orkestra.io/deletion-protection": "true", "app": "x"}, false}, // kept: never reaches the gateway
		{map[string]any{"orkestra.io/deletion-protection": "false"}, true},
		{map[string]any{"app": "x"}, true},
		{map[string]any{}, true},
		{nil, true},
	} {
		if got := evalCEL(t, cond, update(tc.labels)); got != tc.want {
			t.Errorf("%s with new labels %v = %v, want %v", cond, tc.labels, got, tc.want)
		}
	}
}

// The gateway's own TLS Secret is not exempt from strict mode by the
// exclusion of its namespace, wherever the gateway runs (kube-system too):
// a second webhook selects it by namespace and name.
func TestDesiredStrictModeGatewaySecret(t *testing.T) {
	for _, ns := range []string{"orkestra-system", "kube-system"} {
		p := fullPolicy()
		p.Certs.SecretName = "gw-tls"
		ep := serviceEndpoint()
		ep.Namespace = ns
		v, _ := configs(t, p, ep)
		c := v["orkestra-gateway-platform-guard-strict-mode"]
		if len(c.Webhooks) != 2 {
			t.Fatalf("%s: got %d webhooks, want strict mode and the TLS Secret's", ns, len(c.Webhooks))
		}
		if main := hook(t, c, "strict-mode.platform-guard.orkestra.io"); !reflect.DeepEqual(main.NamespaceSelector, notIn(ep.Namespace, "kube-system")) && ns != "kube-system" {
			t.Errorf("%s: strict mode's namespaceSelector %+v", ns, main.NamespaceSelector)
		}
		w := hook(t, c, "secret-strict-mode.platform-guard.orkestra.io")
		if want := []admissionregistrationv1.RuleWithOperations{ruleOf("Namespaced", []string{""}, []string{"v1"}, []string{"secrets"}, "UPDATE")}; !reflect.DeepEqual(w.Rules, want) {
			t.Errorf("%s: rules %+v", ns, w.Rules)
		}
		want := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: NamespaceNameLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{ns}}}}
		if !reflect.DeepEqual(w.NamespaceSelector, want) || !reflect.DeepEqual(w.ObjectSelector, protectionLabelSelector) || *w.FailurePolicy != "Fail" {
			t.Errorf("%s: namespaceSelector %+v objectSelector %+v failurePolicy %s", ns, w.NamespaceSelector, w.ObjectSelector, *w.FailurePolicy)
		}
		secret := func(name string, labels map[string]any) map[string]any {
			return map[string]any{
				"object":    map[string]any{"metadata": map[string]any{"name": name, "labels": labels}},
				"oldObject": map[string]any{"metadata": map[string]any{"name": name, "labels": map[string]any{"orkestra.io/deletion-protection": "true"}}},
			}
		}
		for _, tc := range []struct {
			name   string
			labels map[string]any
			want   bool
		}{
			{"gw-tls", map[string]any{}, true},
			{"gw-tls", map[string]any{"orkestra.io/deletion-protection": "no"}, true},
			{"gw-tls", map[string]any{"orkestra.io/deletion-protection": "true"}, false},
			{"other", map[string]any{}, false},
		} {
			all := true
			for _, mc := range w.MatchConditions {
				all = all && evalCEL(t, mc.Expression, secret(tc.name, tc.labels))
			}
			if all != tc.want {
				t.Errorf("%s: Secret %s with labels %v reaches the gateway = %v, want %v", ns, tc.name, tc.labels, all, tc.want)
			}
		}
	}
	// No namespace known: nothing to select.
	p := fullPolicy()
	p.Certs.SecretName = "gw-tls"
	v, _ := configs(t, p, Endpoint{Service: "orkestra-gateway"})
	if n := len(v["orkestra-gateway-platform-guard-strict-mode"].Webhooks); n != 1 {
		t.Errorf("without a namespace: %d webhooks", n)
	}
}

func TestDesiredNamespaceProtection(t *testing.T) {
	p := fullPolicy()
	v, _ := configs(t, p, serviceEndpoint())
	c := v["orkestra-gateway-platform-guard-namespace-protection"]
	if len(c.Webhooks) != 2 {
		t.Fatalf("got %d webhooks", len(c.Webhooks))
	}
	w := hook(t, c, "namespace-protection.platform-guard.orkestra.io")
	// Only the namespaced CRD, at every version.
	wantRules := []admissionregistrationv1.RuleWithOperations{ruleOf("Namespaced", []string{"web.example.com"}, []string{"v1", "v2"}, []string{"websites"}, "CREATE", "UPDATE")}
	if !reflect.DeepEqual(w.Rules, wantRules) {
		t.Errorf("rules = %+v", w.Rules)
	}
	// kube-system is restricted: protecting it is the point, so it is not
	// excluded; orkestra-system is not allowed by web-*, so neither.
	if w.NamespaceSelector != nil {
		t.Errorf("namespaceSelector = %+v, want none", w.NamespaceSelector)
	}

	d := hook(t, c, "namespace-deletion.platform-guard.orkestra.io")
	wantRules = []admissionregistrationv1.RuleWithOperations{ruleOf("Cluster", []string{""}, []string{"v1"}, []string{"namespaces"}, "DELETE")}
	if !reflect.DeepEqual(d.Rules, wantRules) {
		t.Errorf("namespace deletion rules = %+v", d.Rules)
	}
	wantSel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{"kube-public", "kube-system"}}}}
	if !reflect.DeepEqual(d.ObjectSelector, wantSel) || len(d.MatchConditions) != 0 || d.NamespaceSelector != nil {
		t.Errorf("exact names: objectSelector %+v matchConditions %+v namespaceSelector %+v", d.ObjectSelector, d.MatchConditions, d.NamespaceSelector)
	}
}

func TestDesiredNamespaceExclusion(t *testing.T) {
	p := fullPolicy()
	p.NamespaceProtection.Namespaces = policy.Namespaces{Restricted: policy.Globs{"prod-*"}}
	p.CRDs[0].Namespaces = policy.Namespaces{}
	v, _ := configs(t, p, serviceEndpoint())
	w := hook(t, v[ConfigName(p.Name, webhook.NamespaceProtection)], "namespace-protection.platform-guard.orkestra.io")
	// Both system namespaces are allowed by every list: excluded.
	if want := notIn("orkestra-system", "kube-system"); !reflect.DeepEqual(w.NamespaceSelector, want) {
		t.Errorf("namespaceSelector = %+v, want %+v", w.NamespaceSelector, want)
	}

	p.CRDs[0].Namespaces = policy.Namespaces{Restricted: policy.Globs{"kube-*"}}
	v, _ = configs(t, p, serviceEndpoint())
	w = hook(t, v[ConfigName(p.Name, webhook.NamespaceProtection)], "namespace-protection.platform-guard.orkestra.io")
	if want := notIn("orkestra-system"); !reflect.DeepEqual(w.NamespaceSelector, want) {
		t.Errorf("namespaceSelector = %+v, want %+v", w.NamespaceSelector, want)
	}

	// The gateway running in kube-system is excluded once.
	ep := serviceEndpoint()
	ep.Namespace = "kube-system"
	v, _ = configs(t, fullPolicy(), ep)
	w = hook(t, v[ConfigName(p.Name, webhook.Validate)], "website.validate.platform-guard.orkestra.io")
	if want := notIn("kube-system"); !reflect.DeepEqual(w.NamespaceSelector, want) {
		t.Errorf("namespaceSelector = %+v, want %+v", w.NamespaceSelector, want)
	}
}

func TestDesiredNamespaceDeletionGlobs(t *testing.T) {
	p := fullPolicy()
	p.NamespaceProtection.Namespaces = policy.Namespaces{Restricted: policy.Globs{"kube-*", "*-system", "payments", "team-?"}}
	v, _ := configs(t, p, serviceEndpoint())
	d := hook(t, v[ConfigName(p.Name, webhook.NamespaceProtection)], "namespace-deletion.platform-guard.orkestra.io")
	if d.ObjectSelector != nil || len(d.MatchConditions) != 1 {
		t.Fatalf("globs: objectSelector %+v matchConditions %+v", d.ObjectSelector, d.MatchConditions)
	}
	cond := d.MatchConditions[0].Expression
	for name, want := range map[string]bool{
		"kube-system": true, "kube-node-lease": true, "orkestra-system": true, "payments": true, "team-a": true,
		"kube": false, "payments-dev": false, "team-ab": false, "default": false, "system": false,
	} {
		in := map[string]any{"object": nil, "oldObject": map[string]any{"metadata": map[string]any{"name": name}}}
		if got := evalCEL(t, cond, in); got != want {
			t.Errorf("%s on namespace %q = %v, want %v", cond, name, got, want)
		}
	}

	// A glob that cannot be translated scopes nothing: every namespace
	// deletion reaches the webhook, which decides with path.Match.
	p.NamespaceProtection.Namespaces = policy.Namespaces{Restricted: policy.Globs{"kube-system", "bad-["}}
	v, _ = configs(t, p, serviceEndpoint())
	d = hook(t, v[ConfigName(p.Name, webhook.NamespaceProtection)], "namespace-deletion.platform-guard.orkestra.io")
	if d.ObjectSelector != nil || len(d.MatchConditions) != 0 {
		t.Errorf("malformed glob: objectSelector %+v matchConditions %+v, want neither", d.ObjectSelector, d.MatchConditions)
	}
}

func TestDesiredNamespaceProtectionScope(t *testing.T) {
	// No Katalog-level restricted namespaces: no namespace deletion webhook;
	// only CRDs with a list of their own are registered.
	p := fullPolicy()
	p.NamespaceProtection.Namespaces = policy.Namespaces{}
	v, _ := configs(t, p, serviceEndpoint())
	c := v[ConfigName(p.Name, webhook.NamespaceProtection)]
	if len(c.Webhooks) != 1 || c.Webhooks[0].Name != "namespace-protection.platform-guard.orkestra.io" {
		t.Fatalf("webhooks = %+v", c.Webhooks)
	}
	// Nothing to protect at all: no configuration.
	p.CRDs[0].Namespaces = policy.Namespaces{}
	v, _ = configs(t, p, serviceEndpoint())
	if _, ok := v[ConfigName(p.Name, webhook.NamespaceProtection)]; ok {
		t.Error("a namespace protection with no namespace list registers a configuration")
	}
	// Standalone: no CRDs, restricted namespaces only.
	p = fullPolicy()
	p.CRDs = nil
	v, _ = configs(t, p, serviceEndpoint())
	c = v[ConfigName(p.Name, webhook.NamespaceProtection)]
	if len(c.Webhooks) != 1 || c.Webhooks[0].Name != "namespace-deletion.platform-guard.orkestra.io" {
		t.Fatalf("standalone webhooks = %+v", c.Webhooks)
	}
}

func TestDesiredValidateMutate(t *testing.T) {
	p := fullPolicy()
	v, m := configs(t, p, serviceEndpoint())
	c := v[ConfigName(p.Name, webhook.Validate)]
	if len(c.Webhooks) != 2 {
		t.Fatalf("got %d validate webhooks", len(c.Webhooks))
	}
	web := hook(t, c, "website.validate.platform-guard.orkestra.io")
	// The rules version (storage version with conversion), not every version.
	want := []admissionregistrationv1.RuleWithOperations{ruleOf("Namespaced", []string{"web.example.com"}, []string{"v2"}, []string{"websites"}, "CREATE", "UPDATE")}
	if !reflect.DeepEqual(web.Rules, want) {
		t.Errorf("website rules = %+v", web.Rules)
	}
	zone := hook(t, c, "zone.validate.platform-guard.orkestra.io")
	want = []admissionregistrationv1.RuleWithOperations{ruleOf("Cluster", []string{"dns.example.com"}, []string{"v1"}, []string{"zones"}, "CREATE", "UPDATE", "DELETE")}
	if !reflect.DeepEqual(zone.Rules, want) {
		t.Errorf("zone rules = %+v", zone.Rules)
	}
	for _, w := range c.Webhooks {
		if ns := notIn("orkestra-system", "kube-system"); !reflect.DeepEqual(w.NamespaceSelector, ns) {
			t.Errorf("%s: namespaceSelector %+v", w.Name, w.NamespaceSelector)
		}
		if w.ObjectSelector != nil || len(w.MatchConditions) != 0 {
			t.Errorf("%s: unexpected scoping %+v %+v", w.Name, w.ObjectSelector, w.MatchConditions)
		}
	}
	mc := m[ConfigName(p.Name, webhook.Mutate)]
	if len(mc.Webhooks) != 1 || mc.Webhooks[0].Name != "website.mutate.platform-guard.orkestra.io" {
		t.Fatalf("mutate webhooks = %+v", mc.Webhooks)
	}
	want = []admissionregistrationv1.RuleWithOperations{ruleOf("Namespaced", []string{"web.example.com"}, []string{"v2"}, []string{"websites"}, "CREATE", "UPDATE")}
	if !reflect.DeepEqual(mc.Webhooks[0].Rules, want) {
		t.Errorf("mutate rules = %+v", mc.Webhooks[0].Rules)
	}

	// Operations default to CREATE, UPDATE.
	p.CRDs[0].Operations = nil
	v, _ = configs(t, p, serviceEndpoint())
	web = hook(t, v[ConfigName(p.Name, webhook.Validate)], "website.validate.platform-guard.orkestra.io")
	if ops := web.Rules[0].Operations; !reflect.DeepEqual(ops, []admissionregistrationv1.OperationType{"CREATE", "UPDATE"}) {
		t.Errorf("default operations = %v", ops)
	}
}

func TestDesiredDisabledFeatures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(p *policy.Policy)
		missing []webhook.Feature
	}{
		{"strict mode off", func(p *policy.Policy) { p.DeletionProtection.StrictMode = false }, []webhook.Feature{webhook.StrictMode}},
		{"deletion protection off", func(p *policy.Policy) { p.DeletionProtection.Enabled = false }, []webhook.Feature{webhook.DeletionProtection, webhook.StrictMode}},
		{"namespace protection off", func(p *policy.Policy) { p.NamespaceProtection.Enabled = false }, []webhook.Feature{webhook.NamespaceProtection}},
		{"admission off", func(p *policy.Policy) { p.Admission.Enabled = false }, []webhook.Feature{webhook.Validate, webhook.Mutate}},
		{"no rules", func(p *policy.Policy) {
			for _, c := range p.CRDs {
				c.Validate, c.Mutate = false, false
			}
		}, []webhook.Feature{webhook.Validate, webhook.Mutate}},
		{"everything off", func(p *policy.Policy) {
			p.DeletionProtection.Enabled, p.NamespaceProtection.Enabled, p.Admission.Enabled = false, false, false
		}, webhook.Features},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fullPolicy()
			tc.edit(p)
			v, m := configs(t, p, serviceEndpoint())
			gone := map[webhook.Feature]bool{}
			for _, f := range tc.missing {
				gone[f] = true
			}
			for _, f := range webhook.Features {
				_, inV := v[ConfigName(p.Name, f)]
				_, inM := m[ConfigName(p.Name, f)]
				if got := inV || inM; got == gone[f] {
					t.Errorf("%s: present = %v, want %v", f, got, !gone[f])
				}
			}
		})
	}
	if v, m := Desired(nil, serviceEndpoint(), testCA); v != nil || m != nil {
		t.Error("a nil policy registers something")
	}
}

func TestDesiredURL(t *testing.T) {
	for _, base := range []string{"https://gw.example.com:8443", "https://gw.example.com:8443/", "https://gw.example.com/prefix/"} {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		ep := Endpoint{Namespace: "orkestra-system", Service: "orkestra-gateway", URL: u}
		if err := ep.Validate(); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		v, m := Desired(fullPolicy(), ep, testCA)
		root := strings.TrimRight(base, "/")
		check := func(name string, cc admissionregistrationv1.WebhookClientConfig, path string) {
			if cc.Service != nil || cc.URL == nil || *cc.URL != root+path {
				t.Errorf("%s: url %v service %v, want %s", name, cc.URL, cc.Service, root+path)
			}
		}
		for _, c := range v {
			for _, w := range c.Webhooks {
				check(w.Name, w.ClientConfig, webhook.Feature(c.Labels[FeatureLabel]).Path())
			}
		}
		for _, c := range m {
			for _, w := range c.Webhooks {
				check(w.Name, w.ClientConfig, "/mutate")
			}
		}
		// Namespace exclusion still needs the gateway namespace.
		w := v[1].Webhooks[0]
		if w.Name != "strict-mode.platform-guard.orkestra.io" || !reflect.DeepEqual(w.NamespaceSelector, notIn("orkestra-system", "kube-system")) {
			t.Errorf("%s: namespaceSelector %+v", w.Name, w.NamespaceSelector)
		}
	}
}

func TestDesiredIsPure(t *testing.T) {
	p := fullPolicy()
	v1, m1 := Desired(p, serviceEndpoint(), testCA)
	v2, m2 := Desired(p, serviceEndpoint(), testCA)
	if !reflect.DeepEqual(v1, v2) || !reflect.DeepEqual(m1, m2) {
		t.Fatal("two calls with the same inputs differ")
	}
	// Without a caBundle (external certificates) none is set.
	v, m := Desired(p, serviceEndpoint(), nil)
	for _, c := range v {
		for _, w := range c.Webhooks {
			if w.ClientConfig.CABundle != nil {
				t.Errorf("%s: caBundle set", w.Name)
			}
		}
	}
	if m[0].Webhooks[0].ClientConfig.CABundle != nil {
		t.Error("mutate: caBundle set")
	}
}

func TestEndpointValidate(t *testing.T) {
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, tc := range []struct {
		ep   Endpoint
		want string // substring of the error; "" for valid
	}{
		{Endpoint{Namespace: "orkestra-system", Service: "gw"}, ""},
		{Endpoint{Namespace: "orkestra-system", Service: "gw", Port: 8443}, ""},
		{Endpoint{Namespace: "", Service: "gw"}, "gateway namespace"},
		{Endpoint{Namespace: "orkestra-system", Service: "Gw"}, "service name"},
		{Endpoint{Namespace: "orkestra-system", Service: "gw", Port: 70000}, "port"},
		{Endpoint{Namespace: "ns", URL: mustURL("https://gw.example.com")}, ""},
		{Endpoint{Namespace: "ns", URL: mustURL("http://gw.example.com")}, "https"},
		{Endpoint{Namespace: "ns", URL: mustURL("https:///path")}, "no host"},
		{Endpoint{Namespace: "ns", URL: mustURL("https://u:p@gw.example.com")}, "user information"},
		{Endpoint{Namespace: "ns", URL: mustURL("https://gw.example.com?a=b")}, "query"},
		{Endpoint{Namespace: "ns", URL: mustURL("https://gw.example.com#frag")}, "fragment"},
	} {
		err := tc.ep.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.ep, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: err = %v, want it to mention %q", tc.ep, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "u:p@") {
			t.Errorf("error leaks the URL password: %v", err)
		}
	}
}

func TestCleanupFeatures(t *testing.T) {
	p := fullPolicy() // deletion protection and admission clean up, namespace protection stays
	got := CleanupFeatures(p)
	want := []webhook.Feature{webhook.DeletionProtection, webhook.StrictMode, webhook.Validate, webhook.Mutate}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CleanupFeatures = %v, want %v", got, want)
	}
	p.DeletionProtection.CleanupOnShutdown, p.Admission.CleanupOnShutdown = false, false
	if got := CleanupFeatures(p); len(got) != 0 {
		t.Errorf("CleanupFeatures = %v, want none", got)
	}
}

func TestDesiredSkipsNilCRDs(t *testing.T) {
	p := fullPolicy()
	p.CRDs = append([]*policy.CRD{nil}, p.CRDs...)
	v, m := Desired(p, serviceEndpoint(), testCA)
	want, wantM := Desired(fullPolicy(), serviceEndpoint(), testCA)
	if !reflect.DeepEqual(v, want) || !reflect.DeepEqual(m, wantM) {
		t.Error("a nil CRD entry changes the configurations")
	}
}

// A built-in resource of the core group is matched with apiGroups [""],
// its own version and plural; it never reaches the CRD-deletion webhook.
func TestDesiredBuiltInResource(t *testing.T) {
	p := fullPolicy()
	p.CRDs = append(p.CRDs, &policy.CRD{
		Name: "pod", Group: "", Version: "v1", Kind: "Pod", Plural: "pods", Namespaced: true, BuiltIn: true,
		Versions: []string{"v1"}, Validate: true, Mutate: true, ProtectCRs: true,
	})
	v, m := configs(t, p, serviceEndpoint())
	want := []admissionregistrationv1.RuleWithOperations{ruleOf("Namespaced", []string{""}, []string{"v1"}, []string{"pods"}, "CREATE", "UPDATE")}
	if w := hook(t, v[ConfigName(p.Name, webhook.Validate)], "pod.validate.platform-guard.orkestra.io"); !reflect.DeepEqual(w.Rules, want) {
		t.Errorf("pod validate rules = %+v", w.Rules)
	}
	var mutate *admissionregistrationv1.MutatingWebhook
	for i, w := range m[ConfigName(p.Name, webhook.Mutate)].Webhooks {
		if w.Name == "pod.mutate.platform-guard.orkestra.io" {
			mutate = &m[ConfigName(p.Name, webhook.Mutate)].Webhooks[i]
		}
	}
	if mutate == nil || !reflect.DeepEqual(mutate.Rules, want) {
		t.Errorf("pod mutate webhook = %+v", mutate)
	}
	for _, c := range v {
		for _, w := range c.Webhooks {
			for _, mc := range w.MatchConditions {
				if strings.Contains(mc.Expression, "pods.") {
					t.Errorf("%s names the built-in pods as a CRD: %s", w.Name, mc.Expression)
				}
			}
		}
	}
}

// Every configuration ends with a probe webhook that only the gateway's
// probe of that configuration reaches.
func TestDesiredProbe(t *testing.T) {
	p := fullPolicy()
	p.Certs.SecretName = "orkestra-internal-tls"
	v, m := Desired(p, serviceEndpoint(), testCA)
	var probes []admissionregistrationv1.ValidatingWebhook
	for _, c := range v {
		probes = append(probes, c.Webhooks[len(c.Webhooks)-1])
	}
	for _, c := range m {
		w := c.Webhooks[len(c.Webhooks)-1]
		probes = append(probes, admissionregistrationv1.ValidatingWebhook{Name: w.Name, Rules: w.Rules, FailurePolicy: w.FailurePolicy,
			NamespaceSelector: w.NamespaceSelector, ObjectSelector: w.ObjectSelector, MatchConditions: w.MatchConditions, ClientConfig: w.ClientConfig})
	}
	if len(probes) != len(webhook.Features) {
		t.Fatalf("%d probe webhooks, want one per configuration", len(probes))
	}
	request := func(target string, dryRun bool, name string) map[string]any {
		req := map[string]any{
			"resource":  map[string]any{"group": "", "version": "v1", "resource": "secrets"},
			"namespace": "orkestra-system", "name": name, "operation": "UPDATE",
		}
		if dryRun {
			req["dryRun"] = true // absent when false, as the API server sends it
		}
		return map[string]any{"request": req, "object": map[string]any{"metadata": map[string]any{"annotations": map[string]any{policy.ProbeAnnotation: target}}}}
	}
	for i, w := range probes {
		f := webhook.Features[i]
		if w.Name != "probe."+string(f)+".platform-guard.orkestra.io" {
			t.Errorf("probe webhook %q", w.Name)
		}
		if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Fail {
			t.Errorf("%s: failurePolicy %v: an unanswered probe must not pass for an absent configuration", w.Name, w.FailurePolicy)
		}
		if w.ClientConfig.Service == nil || *w.ClientConfig.Service.Path != f.Path() {
			t.Errorf("%s: not served on %s", w.Name, f.Path())
		}
		if want := []admissionregistrationv1.RuleWithOperations{ruleOf("Namespaced", []string{""}, []string{"v1"}, []string{"secrets"}, "UPDATE")}; !reflect.DeepEqual(w.Rules, want) {
			t.Errorf("%s: rules %+v", w.Name, w.Rules)
		}
		if len(w.MatchConditions) != 1 {
			t.Fatalf("%s: matchConditions %+v", w.Name, w.MatchConditions)
		}
		expr := w.MatchConditions[0].Expression
		target := policy.ProbeTarget(policy.EngineWebhook, ConfigName(p.Name, f))
		if !evalCEL(t, expr, request(target, true, "orkestra-internal-tls")) {
			t.Errorf("%s: its probe does not reach it", w.Name)
		}
		for _, other := range []map[string]any{
			request(target, false, "orkestra-internal-tls"),
			request(target, true, "other-secret"),
			request(policy.ProbeTarget(policy.EngineNative, ConfigName(p.Name, f)), true, "orkestra-internal-tls"),
			request(policy.ProbeTarget(policy.EngineWebhook, ConfigName(p.Name, webhook.Features[(i+1)%len(webhook.Features)])), true, "orkestra-internal-tls"),
		} {
			if evalCEL(t, expr, other) {
				t.Errorf("%s: reached by %v", w.Name, other)
			}
		}
	}
}

func TestDesiredCAInjection(t *testing.T) {
	p := &policy.Policy{Name: "inject", DeletionProtection: policy.DeletionProtection{Endpoint: policy.Endpoint{Enabled: true, FailurePolicy: policy.Fail, TimeoutSeconds: 5}}}
	ep := Endpoint{Namespace: "ns", Service: "svc"}
	if got := CAInjection(p, "ns"); got != "" {
		t.Errorf("CAInjection of a self-managed policy = %q", got)
	}
	p.Certs = policy.Certs{Source: policy.CertsCertManager, SecretName: "tls"}
	ep.CAInjectFrom = CAInjection(p, "ns")
	v, _ := Desired(p, ep, nil)
	if len(v) == 0 {
		t.Fatal("nothing desired")
	}
	for _, c := range v {
		if c.Annotations[policy.CAInjectionAnnotation] != "ns/tls" {
			t.Errorf("%s annotations %v", c.Name, c.Annotations)
		}
	}
}
