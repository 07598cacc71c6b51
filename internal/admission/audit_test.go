package admission

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/metrics/metricstest"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// auditPolicy guards Websites with one enforced rule, one rule in audit
// mode and one warn rule, and Databases whose entry is in audit mode.
func auditPolicy(t *testing.T) *policy.Policy {
	p := testPolicy(t)
	web := p.CRDs[1]
	web.Validation = compileValidation(t, []katalog.Rule{
		{Test: katalog.Test{Field: "spec.replicas", Between: &katalog.Value{V: "1,10"}}, Message: "replicas must be between 1 and 10"},
		{Test: katalog.Test{Field: "spec.replicas", Lte: &katalog.Value{V: int64(5)}}, Message: "at most 5 replicas", Action: "audit", Name: "max-five"},
		{Test: katalog.Test{Field: "spec.image", Prefix: &katalog.Value{V: "registry.example.com/"}}, Message: "images from the registry", Action: "warn"},
	})
	db := p.CRDs[0]
	db.Validate, db.Operations, db.Audit = true, []string{"CREATE", "UPDATE"}, true
	db.Validation = compileValidation(t, []katalog.Rule{
		{Test: katalog.Test{Field: "spec.size", Lte: &katalog.Value{V: int64(100)}}, Message: "at most 100 GiB"},
		{Test: katalog.Test{Field: "spec.engine", Equals: &katalog.Value{V: "postgres"}}, Message: "postgres only", Action: "warn"},
	})
	db.Validation.Audit()
	return p
}

func TestValidationAudit(t *testing.T) {
	p := auditPolicy(t)
	reg := metrics.NewRegistry()
	m := NewMetrics()
	reg.MustRegister(m)
	h := NewValidation(p, WithMetrics(m))
	count := func(rule string) float64 {
		t.Helper()
		return h.(*validation).audits[ruleKey{strings.Split(rule, "/")[0], ruleIndex(t, p, rule)}].Value()
	}

	// Created at zero at start-up, one series per audited field rule, the
	// label bounded by the Katalog.
	if n := metricstest.Count(t, reg, auditMetric); n != 3 {
		t.Fatalf("%s has %d series at start-up, want 3 (website/max-five, database/0, database/1)", auditMetric, n)
	}
	for _, rule := range []string{"website/max-five", "database/0", "database/1"} {
		if c := count(rule); c != 0 {
			t.Errorf("%s starts at %v", rule, c)
		}
	}

	var logs bytes.Buffer
	ctx := context.WithValue(context.Background(), stateKey{}, &state{log: slog.New(slog.NewJSONHandler(&logs, nil))})

	t.Run("an audited rule never denies nor warns", func(t *testing.T) {
		site := newObj("web.example.com/v1", "Website", "web-a", "shop").spec("replicas", 8, "image", "registry.example.com/x")
		fl := &failureLog{}
		resp := h.Handle(context.WithValue(ctx, failureLogKey{}, fl), request(admissionv1.Create, website, site, nil))
		wantAllowed(t, resp)
		if len(resp.Warnings) != 0 {
			t.Errorf("warnings %q: an audited rule must not warn", resp.Warnings)
		}
		want := "website/max-five would deny: spec.replicas: Invalid value: 8: at most 5 replicas"
		if got := resp.AuditAnnotations["audit-rule-1"]; got != want {
			t.Errorf("audit annotations %v, want audit-rule-1=%q", resp.AuditAnnotations, want)
		}
		if c := count("website/max-five"); c != 1 {
			t.Errorf("website/max-five = %v, want 1", c)
		}
		if !strings.Contains(logs.String(), `"msg":"admission audit: rule would deny"`) || !strings.Contains(logs.String(), `"rule":"website/max-five"`) ||
			!strings.Contains(logs.String(), `"object":"web-a/shop"`) || !strings.Contains(logs.String(), `"user":"bob"`) {
			t.Errorf("log lacks the audit line:\n%s", logs.String())
		}
		if len(fl.failures) != 1 || fl.failures[0].ID() != "website/max-five" || fl.failures[0].Action() != "audit" {
			t.Errorf("failures %+v", fl.failures)
		}
	})
	t.Run("enforced rules still deny next to audited ones", func(t *testing.T) {
		logs.Reset()
		site := newObj("web.example.com/v1", "Website", "web-a", "shop").spec("replicas", 20, "image", "docker.io/x")
		resp := h.Handle(ctx, request(admissionv1.Create, website, site, nil))
		wantDenied(t, resp, 422, "Invalid", "spec.replicas: Invalid value: 20: replicas must be between 1 and 10")
		if len(resp.Result.Details.Causes) != 1 || len(resp.Warnings) != 1 || resp.AuditAnnotations["audit-rule-1"] == "" {
			t.Errorf("response %s", show(resp))
		}
		if c := count("website/max-five"); c != 2 {
			t.Errorf("website/max-five = %v, want 2", c)
		}
	})
	t.Run("enforcement: audit silences every rule of the entry", func(t *testing.T) {
		logs.Reset()
		d := newObj("db.example.com/v1", "Database", "team", "orders").spec("size", 500, "engine", "mysql")
		resp := h.Handle(ctx, request(admissionv1.Create, database, d, nil))
		wantAllowed(t, resp)
		if len(resp.Warnings) != 0 || len(resp.AuditAnnotations) != 2 {
			t.Errorf("response %s", show(resp))
		}
		if got := resp.AuditAnnotations["audit-rule-1"]; got != "database/1 would warn: spec.engine: postgres only" {
			t.Errorf("audit-rule-1 = %q", got)
		}
		if count("database/0") != 1 || count("database/1") != 1 {
			t.Errorf("database counters %v %v", count("database/0"), count("database/1"))
		}
		if n := strings.Count(logs.String(), "admission audit"); n != 2 {
			t.Errorf("%d audit lines, want one per rule:\n%s", n, logs.String())
		}
	})
	t.Run("a [*] rule is one would-be denial per request", func(t *testing.T) {
		p := testPolicy(t)
		web := p.CRDs[1]
		web.Validation = compileValidation(t, []katalog.Rule{
			{Test: katalog.Test{Field: "spec.images[*]", Prefix: &katalog.Value{V: "r/"}}, Message: "from r/", Action: "audit"},
		})
		h := NewValidation(p, WithMetrics(NewMetrics()))
		site := newObj("web.example.com/v1", "Website", "web-a", "shop").spec("images", []any{"x", "r/y", "z"})
		resp := h.Handle(context.Background(), request(admissionv1.Create, website, site, nil))
		wantAllowed(t, resp)
		want := `website/0 would deny: spec.images[0]: Invalid value: "x": from r/; spec.images[2]: Invalid value: "z": from r/`
		if got := resp.AuditAnnotations["audit-rule-0"]; got != want {
			t.Errorf("annotation %q, want %q", got, want)
		}
		if c := h.(*validation).audits[ruleKey{"website", 0}].Value(); c != 1 {
			t.Errorf("counter %v, want 1", c)
		}
	})
}

func ruleIndex(t *testing.T, p *policy.Policy, id string) int {
	t.Helper()
	entry, rule, _ := strings.Cut(id, "/")
	for _, c := range p.CRDs {
		if c.Name != entry {
			continue
		}
		for _, r := range c.Validation.Rules() {
			if r.ID() == rule {
				return r.Index
			}
		}
	}
	t.Fatalf("no rule %s", id)
	return 0
}

// Review reports every failing rule with its action, so eval can show
// what audit mode hides from the user.
func TestReviewReportsRuleFailures(t *testing.T) {
	p := auditPolicy(t)
	site := newObj("web.example.com/v1", "Website", "web-a", "shop").spec("replicas", 8, "image", "docker.io/x", "tier", "gold")
	ds, _, err := Review(context.Background(), p, request(admissionv1.Create, website, site, nil), applyPatch)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		for _, f := range d.Rules {
			got = append(got, d.Webhook+":"+f.ID()+":"+f.Action())
		}
	}
	if strings.Join(got, ",") != "validate:website/max-five:audit,validate:website/2:warn" {
		t.Errorf("rule failures %q", got)
	}
	if !Allowed(ds) {
		t.Error("denied")
	}
}

// Denials are counted per deny rule of the Katalog: one series per
// enforced field rule at zero from the start (none for warn or audit
// rules), each failing rule counted once per request, a [*] rule failing
// on several elements once.
func TestValidationDenialsPerRule(t *testing.T) {
	p := auditPolicy(t)
	web := p.CRDs[1]
	web.Validation = compileValidation(t, []katalog.Rule{
		{Test: katalog.Test{Field: "spec.replicas", Between: &katalog.Value{V: "1,10"}}, Message: "replicas must be between 1 and 10"},
		{Test: katalog.Test{Field: "spec.containers[*].image", Prefix: &katalog.Value{V: "registry.example.com/"}}, Message: "images from the registry", Name: "registry"},
		{Test: katalog.Test{Field: "spec.replicas", Lte: &katalog.Value{V: int64(5)}}, Message: "at most 5 replicas", Action: "audit", Name: "max-five"},
		{Test: katalog.Test{Field: "spec.image", Prefix: &katalog.Value{V: "registry.example.com/"}}, Message: "images from the registry", Action: "warn"},
	})
	reg := metrics.NewRegistry()
	m := NewMetrics()
	reg.MustRegister(m)
	h := NewValidation(p, WithMetrics(m))
	want := func(zero, registry float64) string {
		return `# HELP orkestra_gateway_admission_denials_total Admission requests denied by a validation rule, by rule (<entry>/<rule name or index>); a request failing several rules counts once for each.
# TYPE orkestra_gateway_admission_denials_total counter
orkestra_gateway_admission_denials_total{rule="website/0"} ` + fmt.Sprint(zero) + `
orkestra_gateway_admission_denials_total{rule="website/registry"} ` + fmt.Sprint(registry) + "\n"
	}
	if err := testutil.GatherAndCompare(metricstest.Gatherer(reg), strings.NewReader(want(0, 0)), denialsMetric); err != nil {
		t.Fatal(err)
	}
	containers := []any{map[string]any{"image": "docker.io/a"}, map[string]any{"image": "docker.io/b"}}
	site := newObj("web.example.com/v1", "Website", "web-a", "shop").spec("replicas", 20, "containers", containers)
	if resp := h.Handle(context.Background(), request(admissionv1.Create, website, site, nil)); resp.Allowed {
		t.Fatal("allowed")
	}
	ok := newObj("web.example.com/v1", "Website", "web-b", "shop").spec("replicas", 8, "containers", containers[:1])
	if resp := h.Handle(context.Background(), request(admissionv1.Create, website, ok, nil)); resp.Allowed {
		t.Fatal("allowed")
	}
	if err := testutil.GatherAndCompare(metricstest.Gatherer(reg), strings.NewReader(want(1, 2)), denialsMetric); err != nil {
		t.Error(err)
	}
}
