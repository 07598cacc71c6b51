package bundle

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The PrometheusRule of --monitoring: the alerts the gateway's operators
// need (certificate expiry, webhook errors and latency, registrations not
// applied, readiness, a full notify queue), each with a description and a
// runbook_url pointing to its section of docs/troubleshooting.md, and
// queries of metrics docs/observability.md lists.
func TestPrometheusRuleAlerts(t *testing.T) {
	docs := filepath.Join("..", "..", "docs")
	trouble, err := os.ReadFile(filepath.Join(docs, "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(trouble), "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok {
			anchors[strings.ToLower(strings.Trim(h, "`"))] = true
		}
	}
	observability, err := os.ReadFile(filepath.Join(docs, "observability.md"))
	if err != nil {
		t.Fatal(err)
	}
	metric := regexp.MustCompile(`\b(orkestra_gateway_[a-z_]+)`)

	b, err := Generate(load(t, filepath.Join("..", "..", "examples", "gateway", "katalog.yaml")), Options{Image: "gw:v1", Monitoring: true})
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert       string            `json:"alert"`
					Expr        string            `json:"expr"`
					For         string            `json:"for"`
					Labels      map[string]string `json:"labels"`
					Annotations map[string]string `json:"annotations"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	for _, o := range b.Objects {
		if o.Kind == "PrometheusRule" {
			if err := yaml.Unmarshal(o.YAML, &rule); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(rule.Spec.Groups) != 1 {
		t.Fatalf("%d rule groups, want 1", len(rule.Spec.Groups))
	}
	got := map[string]string{}
	for _, r := range rule.Spec.Groups[0].Rules {
		got[r.Alert] = r.Expr
		anchor := strings.ToLower(r.Alert)
		if !anchors[anchor] {
			t.Errorf("%s: docs/troubleshooting.md has no section ### %s", r.Alert, r.Alert)
		}
		if want := runbookBase + "#" + anchor; r.Annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
		}
		if d := r.Annotations["description"]; len(d) < 100 || !strings.HasSuffix(d, "docs/troubleshooting.md#"+anchor) {
			t.Errorf("%s: description %q is not a runbook pointing to its section", r.Alert, d)
		}
		if r.Annotations["summary"] == "" || r.For == "" || r.Labels["severity"] == "" {
			t.Errorf("%s: summary, for and severity are required: %+v", r.Alert, r)
		}
		for _, m := range metric.FindAllStringSubmatch(r.Expr, -1) {
			name := strings.TrimSuffix(m[1], "_bucket")
			if !strings.Contains(string(observability), "`"+name+"`") {
				t.Errorf("%s queries %s, which docs/observability.md does not list", r.Alert, name)
			}
		}
		if !strings.Contains(r.Expr, `job="orkestra-gateway-metrics", namespace="orkestra-system"`) {
			t.Errorf("%s is not scoped to the installation: %s", r.Alert, r.Expr)
		}
	}
	for alert, want := range map[string]string{
		"OrkestraGatewayCertificateExpiring":     "orkestra_gateway_certificate_expiry_timestamp_seconds",
		"OrkestraGatewayCertificateUntrusted":    "orkestra_gateway_certificate_trusted",
		"OrkestraGatewayWebhookErrors":           `code=~"5.."`,
		"OrkestraGatewayWebhookLatency":          "histogram_quantile(0.99, sum by (webhook, le) (rate(orkestra_gateway_admission_request_duration_seconds_bucket",
		"OrkestraGatewayRegistrationsNotApplied": "orkestra_gateway_registration_syncs_total",
		"OrkestraGatewayNotReady":                "orkestra_gateway_ready",
		"OrkestraGatewayNotifyQueueFull":         "orkestra_gateway_notify_queue_full_total",
		"OrkestraGatewayCELRulesUnenforced":      "orkestra_gateway_admission_cel_rules_unenforced",
	} {
		if !strings.Contains(got[alert], want) {
			t.Errorf("alert %s: expr %q, want it to contain %q", alert, got[alert], want)
		}
	}
	if len(got) != 8 {
		t.Errorf("%d alerts, want 8: %v", len(got), got)
	}
}
