package check

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

func load(t *testing.T, path string) *Result {
	t.Helper()
	r, err := RunFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The spec's section 3 example is valid as written and compiles to the
// documented defaults.
func TestSpecExample(t *testing.T) {
	r := load(t, "testdata/katalog.yaml")
	if len(r.Findings) != 0 {
		t.Fatalf("want no findings, got:\n%s", dump(r))
	}
	p := r.Policy
	if p == nil {
		t.Fatal("no policy")
	}
	if p.Name != "platform-guard" || p.Source != "testdata/katalog.yaml" {
		t.Errorf("name %q source %q", p.Name, p.Source)
	}
	if g := p.Gateway; !g.Standalone || g.ServiceName != "orkestra-gateway" || g.Namespace != "orkestra-system" || g.URL != nil || g.Replicas != 2 {
		t.Errorf("gateway %+v", g)
	}
	wantDP := policy.Endpoint{Enabled: true, FailurePolicy: policy.Fail, TimeoutSeconds: 5, CleanupOnShutdown: true}
	if dp := p.DeletionProtection; dp.Endpoint != wantDP || dp.StrictMode || !slices.Equal(dp.BreakGlass.Groups, []string{"system:masters"}) {
		t.Errorf("deletion protection %+v", dp)
	}
	if np := p.NamespaceProtection; np.Endpoint != wantDP || !slices.Equal(np.Namespaces.Restricted, policy.Globs{"kube-system", "kube-public"}) || len(np.Namespaces.Allowed) != 0 {
		t.Errorf("namespace protection %+v", np)
	}
	if a := p.Admission; a.Endpoint != (policy.Endpoint{Enabled: true, FailurePolicy: policy.Ignore, TimeoutSeconds: 5, CleanupOnShutdown: true}) || a.Engine != policy.EngineWebhook {
		t.Errorf("admission %+v", a)
	}
	if !p.Conversion.Enabled {
		t.Error("conversion disabled")
	}
	if c := p.Certs; c != (policy.Certs{Source: policy.CertsSelf, AutoRotate: true, RotationThreshold: 30 * 24 * time.Hour, ValidFor: 365 * 24 * time.Hour, SecretName: "orkestra-internal-tls"}) {
		t.Errorf("certs %+v", c)
	}

	if len(p.CRDs) != 1 {
		t.Fatalf("%d CRDs", len(p.CRDs))
	}
	c := p.CRDs[0]
	if c.Name != "website" || c.Group != "web.example.com" || c.Kind != "Website" || c.Plural != "websites" || !c.Namespaced || c.CRDName() != "websites.web.example.com" {
		t.Errorf("identity %+v", c)
	}
	// Rules are written against the storage version when converting.
	if c.Version != "v2" || !slices.Equal(c.Versions, []string{"v1", "v2"}) || c.Definition == nil {
		t.Errorf("version %q versions %v definition %v", c.Version, c.Versions, c.Definition != nil)
	}
	if !c.Validate || !c.Mutate || c.Validation == nil || c.Mutation == nil || !slices.Equal(c.Operations, []string{"CREATE", "UPDATE"}) {
		t.Errorf("admission: validate %v mutate %v ops %v", c.Validate, c.Mutate, c.Operations)
	}
	if !slices.Equal(c.Namespaces.Allowed, policy.Globs{"web-*"}) || !c.ProtectCRD || !c.ProtectCRs {
		t.Errorf("namespaces %+v protect %v %v", c.Namespaces, c.ProtectCRD, c.ProtectCRs)
	}
	cv := c.Conversion
	if cv == nil || cv.StorageVersion != "v2" || !cv.UpdateCRD || len(cv.Paths) != 2 {
		t.Fatalf("conversion %+v", cv)
	}
	if p0 := cv.Paths[0]; p0.From != "v1" || p0.To != "v2" || len(p0.Spec) != 1 || p0.Spec["replicas"] != "{{ .spec.size }}" {
		t.Errorf("path 0 %+v", p0)
	}

	n := p.Notification
	if n == nil {
		t.Fatal("notifications off")
	}
	if !slices.Equal(n.AllowedCallers, []string{"orkestra-system/orkestra-runtime"}) || n.Interval != 15*time.Minute {
		t.Errorf("callers %v interval %v", n.AllowedCallers, n.Interval)
	}
	if s := n.Slack; s == nil || *s.WebhookURL != (policy.SecretRef{Env: "SLACK_WEBHOOK_URL"}) ||
		*s.BotToken != (policy.SecretRef{File: "/var/run/secrets/orkestra/slack/token"}) || s.APIURL != "https://slack.com/api" {
		t.Errorf("slack %+v", s)
	}
	if m := n.SMTP; m == nil || m.Host != "smtp.example.com" || m.Port != 587 || m.TLS != "starttls" || m.From != "orkestra@example.com" ||
		*m.Username != (policy.SecretRef{Env: "SMTP_USER"}) || m.Password.File != "/var/run/secrets/orkestra/smtp/password" {
		t.Errorf("smtp %+v", m)
	}
	if len(n.Teams) != 1 {
		t.Fatalf("%d teams", len(n.Teams))
	}
	tm := n.Teams[0]
	if tm.Name != "platform" || !slices.Equal(tm.Email, []string{"ops@example.com"}) || !slices.Equal(tm.Slack, []string{"#platform-alerts"}) ||
		*tm.WebhookURL != (policy.SecretRef{Env: "PLATFORM_SLACK_URL"}) || tm.Interval != 5*time.Minute || tm.Message == nil || tm.Subject != nil {
		t.Errorf("team %+v", tm)
	}
	var b strings.Builder
	if err := tm.Message.Execute(&b, map[string]any{"crNamespace": "web", "crName": "shop", "subject": "down"}); err != nil || b.String() != "web/shop: down" {
		t.Errorf("team message renders %q, %v", b.String(), err)
	}
}

// Blocks written empty get every documented default.
func TestDefaults(t *testing.T) {
	r := run(header + `gateway:
  namespace: platform
security:
  deletionProtection: {}
  namespaceProtection: {}
  webhooks: {}
  conversion: {}
  certManager: {}
notification:
  teams:
    ops:
      email: [ops@example.com]
  email:
    smtp: {host: smtp.example.com, from: o@example.com}
spec:
  crds:
    website:
      apiTypes: ` + website + `
      deletionProtection: {}
      validation:
        rules:
          - {field: spec.replicas, gt: 0, message: m}
      conversion:
        storageVersion: v2
        versions: [v1, v2]
        paths:
          - from: v1
            to: v2
            spec:
              template:
                replicas: "{{ .spec.size }}"
              tier: gold
          - {from: v2, to: v1}
    backend:
      apiTypes: {group: web.example.com, version: v1, kind: Backend, plural: backends}
      webhooks: {validation: false}
      validation:
        rules:
          - {field: spec.replicas, gt: 0, message: m}
`)
	if r.Errors() != 0 {
		t.Fatalf("errors:\n%s", dump(r))
	}
	p := r.Policy
	on := func(fp policy.FailurePolicy) policy.Endpoint {
		return policy.Endpoint{Enabled: true, FailurePolicy: fp, TimeoutSeconds: 5, CleanupOnShutdown: true}
	}
	if p.DeletionProtection.Endpoint != on(policy.Fail) || p.NamespaceProtection.Endpoint != on(policy.Fail) || p.Admission.Endpoint != on(policy.Ignore) || !p.Conversion.Enabled {
		t.Errorf("endpoints %+v %+v %+v", p.DeletionProtection.Endpoint, p.NamespaceProtection.Endpoint, p.Admission.Endpoint)
	}
	if !slices.Equal(p.NamespaceProtection.Namespaces.Restricted, policy.Globs{"kube-system", "kube-public"}) {
		t.Errorf("restricted %v", p.NamespaceProtection.Namespaces.Restricted)
	}
	if p.Certs.SecretName != "orkestra-internal-tls" || p.Certs.ValidFor != 365*24*time.Hour || p.Certs.RotationThreshold != 30*24*time.Hour || !p.Certs.AutoRotate {
		t.Errorf("certs %+v", p.Certs)
	}
	if g := p.Gateway; g.ServiceName != "orkestra-gateway" || g.Replicas != 2 || g.Standalone {
		t.Errorf("gateway %+v", g)
	}
	n := p.Notification
	if !slices.Equal(n.AllowedCallers, []string{"platform/orkestra-runtime"}) || n.Interval != 15*time.Minute || n.Teams[0].Interval != 15*time.Minute {
		t.Errorf("notification %+v", n)
	}
	if n.Audience != "orkestra-gateway" || !slices.Equal(n.Callers("elsewhere"), []string{"platform/orkestra-runtime"}) {
		t.Errorf("audience %q callers %v", n.Audience, n.Callers("elsewhere"))
	}
	if n.SMTP.Port != 587 || n.SMTP.TLS != "starttls" || n.Slack != nil {
		t.Errorf("smtp %+v slack %+v", n.SMTP, n.Slack)
	}
	// CRDs in name order.
	if len(p.CRDs) != 2 || p.CRDs[0].Name != "backend" || p.CRDs[1].Name != "website" {
		t.Fatalf("CRDs %v", p.CRDs)
	}
	be, ws := p.CRDs[0], p.CRDs[1]
	// Labelled objects are protected without a deletionProtection block, and
	// so is their CRD (its deletion would delete them without admission).
	if be.Validate || be.Validation == nil || !be.ProtectCRD || !be.ProtectCRs || be.Conversion != nil {
		t.Errorf("backend %+v", be)
	}
	if !ws.Validate || ws.Mutate || !ws.Namespaced || !ws.ProtectCRD || !ws.ProtectCRs || !slices.Equal(ws.Operations, []string{"CREATE", "UPDATE"}) {
		t.Errorf("website %+v", ws)
	}
	if ws.Version != "v2" || !ws.Conversion.UpdateCRD {
		t.Errorf("website version %q conversion %+v", ws.Version, ws.Conversion)
	}
	spec := ws.Conversion.Paths[0].Spec
	if len(spec) != 2 || spec["template.replicas"] != "{{ .spec.size }}" || spec["tier"] != "gold" {
		t.Errorf("flattened mapping %v", spec)
	}
}

// A disabled feature turns the flags that depend on it off, and absent
// blocks leave everything off.
func TestDisabled(t *testing.T) {
	r := run(header + `notification:
  enabled: false
spec:
  crds:
    website:
      apiTypes: ` + website + `
      deletionProtection: {}
      validation:
        rules:
          - {field: spec.replicas, gt: 0, message: m}
`)
	if r.Errors() != 0 {
		t.Fatalf("errors:\n%s", dump(r))
	}
	p := r.Policy
	if p.DeletionProtection.Enabled || p.NamespaceProtection.Enabled || p.Admission.Enabled || p.Conversion.Enabled || p.Notification != nil {
		t.Errorf("something is on: %+v", p)
	}
	if p.Admission.Engine != policy.EngineWebhook {
		t.Errorf("engine %q, want the default webhook", p.Admission.Engine)
	}
	if c := p.CRDs[0]; c.Validate || c.ProtectCRD || c.ProtectCRs || c.Validation == nil {
		t.Errorf("CRD %+v", c)
	}
	// Each ignored setting is reported.
	if r.Warnings() != 2 {
		t.Errorf("want 2 warnings, got:\n%s", dump(r))
	}
}

func TestParseAndRunAgree(t *testing.T) {
	f, errs := katalog.Parse("testdata/katalog.yaml", []byte(header))
	if r := Run(f, errs); r.File != "testdata/katalog.yaml" || r.Policy == nil || r.Policy.Name != "guard" {
		t.Errorf("result %+v", r)
	}
}

// Without gateway.namespace the default caller is the Runtime in the pod's
// namespace, known only at run time.
func TestDefaultCallerFollowsThePodNamespace(t *testing.T) {
	r := run(`apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: shop
notification:
  teams:
    ops:
      slackWebhookURLFrom: {env: HOOK}
`)
	if r.Errors() != 0 {
		t.Fatalf("errors:\n%s", dump(r))
	}
	n := r.Policy.Notification
	if n.AllowedCallers != nil || !slices.Equal(n.Callers("platform"), []string{"platform/orkestra-runtime"}) {
		t.Errorf("callers %v, in platform %v", n.AllowedCallers, n.Callers("platform"))
	}
}

// protectCRD follows protectCRs unless written: deleting a CRD deletes its
// labelled objects without admission. K14 warns exactly when protected
// objects stay deletable through their CRD.
func TestCRDProtectionDefaults(t *testing.T) {
	for _, tc := range []struct {
		block          string
		crd, crs, warn bool
	}{
		{"", true, true, false},
		{"deletionProtection: {}", true, true, false},
		{"deletionProtection: {protectCRs: true}", true, true, false},
		{"deletionProtection: {protectCRs: false}", false, false, false},
		{"deletionProtection: {protectCRD: true, protectCRs: false}", true, false, false},
		{"deletionProtection: {protectCRD: false}", false, true, true},
		{"deletionProtection: {protectCRD: false, protectCRs: true}", false, true, true},
	} {
		r := run(header + `security:
  deletionProtection:
    enabled: true
spec:
  crds:
    website:
      apiTypes: ` + website + `
      ` + tc.block + `
`)
		if r.Errors() != 0 {
			t.Fatalf("%q: errors:\n%s", tc.block, dump(r))
		}
		c := r.Policy.CRDs[0]
		if c.ProtectCRD != tc.crd || c.ProtectCRs != tc.crs {
			t.Errorf("%q: protectCRD %v protectCRs %v, want %v %v", tc.block, c.ProtectCRD, c.ProtectCRs, tc.crd, tc.crs)
		}
		warned := false
		for _, f := range r.Findings {
			if f.ID == "K14" && strings.Contains(f.Message, "protectCRs without protectCRD") {
				warned = true
			}
		}
		if warned != tc.warn {
			t.Errorf("%q: K14 warning %v, want %v\n%s", tc.block, warned, tc.warn, dump(r))
		}
	}
}

// Only the string "true" protects: a rule that sets or compares the
// protection label with anything else gets a K14 warning where it says so.
func TestProtectionLabelValues(t *testing.T) {
	for _, tc := range []struct {
		name, rules string
		warn        []string // fields warned about, in order
	}{
		{"true is fine", `      mutation:
        rules:
          - field: metadata.labels["orkestra.io/deletion-protection"]
            default: "true"
      validation:
        rules:
          - field: metadata.labels["orkestra.io/deletion-protection"]
            equals: "true"
            message: m
          - field: metadata.labels["orkestra.io/deletion-protection"]
            exists: true
            message: m
`, nil},
		{"other label values", `      mutation:
        rules:
          - field: metadata.labels["orkestra.io/deletion-protection"]
            override: "yes"
          - field: metadata.labels["orkestra.io/deletion-protection"]
            default: "True"
          - field: metadata.labels["other"]
            default: "yes"
      validation:
        rules:
          - field: metadata.labels["orkestra.io/deletion-protection"]
            in: ["true", "enabled"]
            message: m
          - field: spec.replicas
            gt: 1
            message: m
            when:
              - field: metadata.labels["orkestra.io/deletion-protection"]
                operator: equals
                value: "on"
`, []string{
			"spec.crds.website.mutation.rules[0].override",
			"spec.crds.website.mutation.rules[1].default",
			"spec.crds.website.validation.rules[0].in",
			"spec.crds.website.validation.rules[1].when[0].value",
		}},
	} {
		r := run(header + `spec:
  crds:
    website:
      apiTypes: ` + website + `
` + tc.rules)
		if r.Errors() != 0 {
			t.Fatalf("%s: errors:\n%s", tc.name, dump(r))
		}
		var got []string
		for _, f := range r.Findings {
			if f.ID == "K14" && strings.Contains(f.Message, `only the string "true" protects`) {
				got = append(got, f.Field)
			}
		}
		if !slices.Equal(got, tc.warn) {
			t.Errorf("%s: K14 warnings at %q, want %q\n%s", tc.name, got, tc.warn, dump(r))
		}
	}
}

// keepOnShutdown defaults to false; it is pointless without updateCRD, and
// its absence is a hazard when replicas cannot see each other (URL mode).
func TestKeepOnShutdown(t *testing.T) {
	for _, tc := range []struct {
		name, gateway, conversion string
		keep                      bool
		warn                      string
	}{
		{"default", "", "", false, ""},
		{"kept", "", "keepOnShutdown: true", true, ""},
		{"without updateCRD", "", "updateCRD: false\n        keepOnShutdown: true", true, "keepOnShutdown has no effect with updateCRD: false"},
		{"URL mode, 2 replicas", "gateway:\n  url: https://gw.example.com\n", "", false, "with gateway.url and 2 replicas a stopping replica counts itself as the last"},
		{"URL mode, 2 replicas, kept", "gateway:\n  url: https://gw.example.com\n", "keepOnShutdown: true", true, ""},
		{"URL mode, 1 replica", "gateway:\n  url: https://gw.example.com\n  replicas: 1\n", "", false, ""},
	} {
		conv := ""
		if tc.conversion != "" {
			conv = "        " + tc.conversion + "\n"
		}
		r := run(header + tc.gateway + `security:
  conversion: {enabled: true}
spec:
  crds:
    website:
      apiTypes: ` + website + `
      conversion:
        storageVersion: v1
        versions: [v1]
` + conv)
		if r.Errors() != 0 {
			t.Fatalf("%s: errors:\n%s", tc.name, dump(r))
		}
		if got := r.Policy.CRDs[0].Conversion.KeepOnShutdown; got != tc.keep {
			t.Errorf("%s: keepOnShutdown %v, want %v", tc.name, got, tc.keep)
		}
		var warned []string
		for _, f := range r.Findings {
			if f.ID == "K22" && (strings.Contains(f.Message, "keepOnShutdown") || strings.Contains(f.Message, "counts itself as the last")) {
				warned = append(warned, f.Message)
			}
		}
		switch {
		case tc.warn == "" && len(warned) > 0:
			t.Errorf("%s: unexpected warnings %q", tc.name, warned)
		case tc.warn != "" && (len(warned) != 1 || !strings.Contains(warned[0], tc.warn)):
			t.Errorf("%s: warnings %q, want one saying %q", tc.name, warned, tc.warn)
		}
	}
}

// The engine is read as written; every feature follows it.
func TestEngine(t *testing.T) {
	for _, e := range policy.Engines {
		r := run(header + "security:\n  webhooks:\n    admission:\n      engine: " + string(e) + "\n")
		if r.Policy == nil {
			t.Fatalf("engine %s: errors:\n%s", e, dump(r))
		}
		if got := r.Policy.Admission.Engine; got != e {
			t.Errorf("engine %s compiled to %q", e, got)
		}
	}
	r := run(header + "security:\n  webhooks:\n    admission:\n      engine: Native\n")
	found := false
	for _, f := range r.Findings {
		found = found || f.ID == "K15" && f.Severity == Error && f.Field == "security.webhooks.admission.engine" && strings.Contains(f.Hint, "native")
	}
	if !found || r.Policy != nil {
		t.Errorf("misspelt engine: %s", dump(r))
	}
}
