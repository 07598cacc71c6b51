package bundle

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Monitoring objects (Options.Monitoring) for the Prometheus Operator: a
// Service in front of the probe port, a ServiceMonitor scraping /metrics
// through it, and a PrometheusRule with alerts on the metrics the gateway
// exports. They need the operator's CRDs (monitoring.coreos.com).

const monitoringAPIVersion = "monitoring.coreos.com/v1"

func (s *settings) metricsService() string { return s.app + "-metrics" }

func (s *settings) monitoringDocs() []document {
	return []document{s.metricsServiceDoc(), s.serviceMonitorDoc(), s.prometheusRuleDoc()}
}

func (s *settings) metricsServiceDoc() document {
	name := s.metricsService()
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: s.meta(name, true),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: s.selector(),
			Ports: []corev1.ServicePort{
				{Name: "metrics", Port: probePort, TargetPort: intstr.FromString("probes"), Protocol: corev1.ProtocolTCP},
			},
		},
	}
	svc.Labels[componentLabel] = "metrics"
	head := "Exposes /metrics (plain HTTP, port " + fmt.Sprint(probePort) + ") to the ServiceMonitor; the webhook Service\ndoes not carry the probe port."
	return document{apiVersion: "v1", kind: "Service", namespace: s.namespace, name: name, obj: svc, head: head, orders: []order{
		{[]any{"spec"}, []string{"type", "selector", "ports"}},
		{[]any{"spec", "ports", anyItem{}}, []string{"name", "port", "targetPort", "protocol"}},
	}}
}

func (s *settings) serviceMonitorDoc() document {
	sel := s.labels()
	sel[componentLabel] = "metrics"
	obj := map[string]any{
		"apiVersion": monitoringAPIVersion,
		"kind":       "ServiceMonitor",
		"metadata":   map[string]any{"name": s.app, "namespace": s.namespace, "labels": toAny(s.labels())},
		"spec": map[string]any{
			"selector":  map[string]any{"matchLabels": toAny(sel)},
			"endpoints": []any{map[string]any{"port": "metrics", "path": "/metrics", "interval": "30s"}},
		},
	}
	return document{apiVersion: monitoringAPIVersion, kind: "ServiceMonitor", namespace: s.namespace, name: s.app, obj: obj,
		head: "Scrapes every replica's /metrics every 30 s (Prometheus Operator).",
		orders: []order{
			{[]any{"spec"}, []string{"selector", "endpoints"}},
			{[]any{"spec", "endpoints", anyItem{}}, []string{"port", "path", "interval"}},
		}}
}

// alert is one rule of the PrometheusRule. anchor is its section in
// docs/troubleshooting.md, the runbook its description points to.
type alert struct {
	name, expr, after, severity, summary, description, anchor string
}

// runbookBase is where the runbook_url of every alert points: the
// troubleshooting page, whose section for an alert is named after it.
const runbookBase = "https://github.com/orkspace/orkestra-gateway/blob/main/docs/troubleshooting.md"

// Alert thresholds.
const (
	certExpiryWarning = 7 * 24 * 3600 // seconds; rotation starts 30 days before by default
	errorRatio        = 0.05
	latencyP99        = 0.5 // seconds; the API server's webhook timeout is 10 s by default
)

func (s *settings) alerts() []alert {
	sel := fmt.Sprintf(`job=%q, namespace=%q`, s.metricsService(), s.namespace)
	errorsOf := func(family string) string {
		return fmt.Sprintf(`sum by (webhook) (rate(%s{%s, code=~"5.."}[5m])) / sum by (webhook) (rate(%s{%s}[5m])) > %g`, family, sel, family, sel, errorRatio)
	}
	p99Of := func(family string) string {
		return fmt.Sprintf(`histogram_quantile(0.99, sum by (webhook, le) (rate(%s_bucket{%s}[5m]))) > %g`, family, sel, latencyP99)
	}
	as := []alert{
		{name: "OrkestraGatewayCertificateExpiring",
			expr:     fmt.Sprintf(`min by (pod) (orkestra_gateway_certificate_expiry_timestamp_seconds{%s} > 0) - time() < %d`, sel, certExpiryWarning),
			after:    "1h",
			severity: "warning",
			summary:  "The gateway's serving certificate expires in less than 7 days: it was not renewed.",
			description: "Replica {{ $labels.pod }} serves a certificate that expires in less than 7 days. The gateway rotates its own certificate " +
				"30 days before expiry (rotationThreshold), so rotation keeps failing: the log's \"TLS secret\" lines say why (usually RBAC on the TLS Secret). " +
				"With cert-manager or mounted files, renew them at the source.",
			anchor: "orkestragatewaycertificateexpiring"},
		{name: "OrkestraGatewayCertificateUntrusted",
			expr:     fmt.Sprintf(`max by (pod) (orkestra_gateway_certificate_trusted{%s}) == 0`, sel),
			after:    "10m",
			severity: "critical",
			summary:  "A caBundle the gateway relies on does not trust its certificate: the replica is not ready.",
			description: "Replica {{ $labels.pod }} serves a certificate that a webhook configuration or converted CRD it manages does not trust; " +
				"the API server's calls through it fail with \"x509: certificate signed by unknown authority\". The tick restores caBundles edited by hand; " +
				"with external certificates the caBundles are yours to set.",
			anchor: "orkestragatewaycertificateuntrusted"},
		{name: "OrkestraGatewayWebhookErrors",
			expr:     "(" + errorsOf("orkestra_gateway_admission_requests_total") + ") or (" + errorsOf("orkestra_gateway_conversion_requests_total") + ")",
			after:    "10m",
			severity: "warning",
			summary:  "More than 5% of the calls to a webhook of the gateway fail with a server error.",
			description: "Webhook {{ $labels.webhook }} answers {{ $value | humanizePercentage }} of its calls with a 5xx: a 500 is a handler failure or a recovered panic " +
				"(logged with its stack, counted by orkestra_gateway_webhook_panics_total), a 503 the listener's memory budget. The API server applies the webhook's failure policy to each.",
			anchor: "orkestragatewaywebhookerrors"},
		{name: "OrkestraGatewayWebhookLatency",
			expr:     "(" + p99Of("orkestra_gateway_admission_request_duration_seconds") + ") or (" + p99Of("orkestra_gateway_conversion_request_duration_seconds") + ")",
			after:    "10m",
			severity: "warning",
			summary:  "The 99th percentile of a webhook's latency is above 500 ms: every matching API request waits for it.",
			description: "Webhook {{ $labels.webhook }} answers 1% of its calls in more than {{ $value | humanizeDuration }}. Handlers are CPU-only and answer in " +
				"well under a millisecond: look for CPU throttling (the container's limit), large objects or reviews, and the listener's memory budget.",
			anchor: "orkestragatewaywebhooklatency"},
		{name: "OrkestraGatewayRegistrationsNotApplied",
			expr: fmt.Sprintf(`sum by (pod) (increase(orkestra_gateway_registration_syncs_total{%s, result="error"}[15m])) > 0 unless sum by (pod) (increase(orkestra_gateway_registration_syncs_total{%s, result="success"}[15m])) > 0`,
				sel, sel),
			after:    "15m",
			severity: "warning",
			summary:  "A replica has not applied its webhook configurations and CRD conversion settings for 15 minutes.",
			description: "Every attempt of replica {{ $labels.pod }} to apply its registrations failed for 15 minutes, so it is not ready, and deleted or edited configurations " +
				"are not restored. The log's \"maintenance tick\" and \"applying registrations\" lines give the API server's error (usually a missing permission: compare with ork generate bundle).",
			anchor: "orkestragatewayregistrationsnotapplied"},
		{name: "OrkestraGatewayNotReady",
			expr:     fmt.Sprintf(`max by (pod) (orkestra_gateway_ready{%s}) == 0`, sel),
			after:    "10m",
			severity: "warning",
			summary:  "A replica of the gateway has not been ready for 10 minutes.",
			description: "Replica {{ $labels.pod }} answers /readyz with 503 and is out of the Service. /readyz names the condition (registrations not applied, " +
				"certificate trust not confirmed, shutting down); the log gives the error behind it. When no replica is ready, the webhooks' failure policies apply.",
			anchor: "orkestragatewaynotready"},
		{name: "OrkestraGatewayCELRulesUnenforced",
			expr:     fmt.Sprintf(`max by (pod) (orkestra_gateway_admission_cel_rules_unenforced{%s}) > 0`, sel),
			after:    "15m",
			severity: "warning",
			summary:  "CEL rules of the Katalog are enforced by nothing: the API server serves no ValidatingAdmissionPolicy.",
			description: "Replica {{ $labels.pod }} keeps {{ $value }} CEL rules (expression:) that nothing evaluates: with engine auto on this API server, validation " +
				"runs on the webhook engine, which never evaluates CEL. The log's \"CEL rules are not enforced\" lines name the entries.",
			anchor: "orkestragatewaycelrulesunenforced"},
	}
	if s.p.Notification != nil {
		as = append(as, alert{name: "OrkestraGatewayNotifyQueueFull",
			expr:     fmt.Sprintf(`sum by (pod, destination) (increase(orkestra_gateway_notify_queue_full_total{%s}[5m])) > 0`, sel),
			after:    "5m",
			severity: "warning",
			summary:  "Notifications are refused with 503 because a delivery queue is full.",
			description: "The {{ $labels.destination }} queue of replica {{ $labels.pod }} has had no room for 10 minutes: deliveries are slower than events arrive, " +
				"usually a destination that fails and is retried (orkestra_gateway_notify_retries_total, the log's \"notification delivery failed\" lines). Callers are told to retry.",
			anchor: "orkestragatewaynotifyqueuefull"})
	}
	return as
}

func (s *settings) prometheusRuleDoc() document {
	var rules []any
	for _, a := range s.alerts() {
		rules = append(rules, map[string]any{
			"alert":  a.name,
			"expr":   a.expr,
			"for":    a.after,
			"labels": map[string]any{"severity": a.severity},
			"annotations": map[string]any{
				"summary":     a.summary,
				"description": a.description + " Runbook: docs/troubleshooting.md#" + a.anchor,
				"runbook_url": runbookBase + "#" + a.anchor,
			},
		})
	}
	obj := map[string]any{
		"apiVersion": monitoringAPIVersion,
		"kind":       "PrometheusRule",
		"metadata":   map[string]any{"name": s.app, "namespace": s.namespace, "labels": toAny(s.labels())},
		"spec": map[string]any{"groups": []any{map[string]any{
			"name":  "orkestra-gateway-" + s.p.Name,
			"rules": rules,
		}}},
	}
	head := `Alerts on the gateway's metrics (docs/observability.md). Scoped to this
installation by the job (the metrics Service) and namespace labels; each
alert's runbook is its section of docs/troubleshooting.md.`
	return document{apiVersion: monitoringAPIVersion, kind: "PrometheusRule", namespace: s.namespace, name: s.app, obj: obj, head: head,
		orders: []order{
			{[]any{"spec", "groups", anyItem{}}, []string{"name", "rules"}},
			{[]any{"spec", "groups", anyItem{}, "rules", anyItem{}}, []string{"alert", "expr", "for", "labels", "annotations"}},
			{[]any{"spec", "groups", anyItem{}, "rules", anyItem{}, "annotations"}, []string{"summary", "description", "runbook_url"}},
		}}
}
