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
				{Name: "metrics", Port: ProbePort, TargetPort: intstr.FromString("probes"), Protocol: corev1.ProtocolTCP},
			},
		},
	}
	svc.Labels[componentLabel] = "metrics"
	head := "Exposes /metrics (plain HTTP, port " + fmt.Sprint(ProbePort) + ") to the ServiceMonitor; the webhook Service\ndoes not carry the probe port."
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

// alert is one rule of the PrometheusRule.
type alert struct {
	name, expr, after, severity, summary string
}

func (s *settings) alerts() []alert {
	sel := fmt.Sprintf(`job=%q, namespace=%q`, s.metricsService(), s.namespace)
	as := []alert{
		{"OrkestraGatewayCertificateExpiring",
			fmt.Sprintf(`min(orkestra_gateway_certificate_expiry_timestamp_seconds{%s}) - time() < 7 * 24 * 3600`, sel),
			"1h", "warning", "The gateway's serving certificate expires in less than 7 days; it was not renewed."},
		{"OrkestraGatewayCertificateUntrusted",
			fmt.Sprintf(`max(orkestra_gateway_certificate_trusted{%s}) by (pod) == 0`, sel),
			"10m", "critical", "A caBundle the gateway relies on does not trust its certificate: the replica is not ready."},
		{"OrkestraGatewayAdmissionErrors",
			fmt.Sprintf(`sum(rate(orkestra_gateway_admission_requests_total{%s, code=~"5.."}[5m])) / sum(rate(orkestra_gateway_admission_requests_total{%s}[5m])) > 0.05`, sel, sel),
			"10m", "warning", "More than 5% of admission requests fail with a server error."},
		{"OrkestraGatewayAdmissionLatency",
			fmt.Sprintf(`histogram_quantile(0.99, sum(rate(orkestra_gateway_admission_duration_seconds_bucket{%s}[5m])) by (le)) > 0.5`, sel),
			"10m", "warning", "The 99th percentile of admission latency is above 500 ms (every matching API request waits for it)."},
		{"OrkestraGatewayMaintenanceFailing",
			fmt.Sprintf(`sum(increase(orkestra_gateway_sync_total{%s, result="error"}[15m])) by (pod) > 0 and sum(increase(orkestra_gateway_sync_total{%s, result="ok"}[15m])) by (pod) == 0`, sel, sel),
			"15m", "warning", "A replica's maintenance tick (registrations, certificates) has failed for 15 minutes."},
	}
	if s.p.Notification != nil {
		as = append(as, alert{"OrkestraGatewayNotifyRejected",
			fmt.Sprintf(`sum(rate(orkestra_gateway_notify_requests_total{%s, code="503"}[5m])) > 0`, sel),
			"10m", "warning", "POST /notify is answered 503: a delivery queue is full, the replica is shutting down, or callers cannot be authenticated."})
	}
	return as
}

func (s *settings) prometheusRuleDoc() document {
	var rules []any
	for _, a := range s.alerts() {
		rules = append(rules, map[string]any{
			"alert":       a.name,
			"expr":        a.expr,
			"for":         a.after,
			"labels":      map[string]any{"severity": a.severity},
			"annotations": map[string]any{"summary": a.summary},
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
	head := `Alerts on the gateway's metrics (docs/install.md, Monitoring). Scoped to this
installation by the job (the metrics Service) and namespace labels.`
	return document{apiVersion: monitoringAPIVersion, kind: "PrometheusRule", namespace: s.namespace, name: s.app, obj: obj, head: head,
		orders: []order{
			{[]any{"spec", "groups", anyItem{}}, []string{"name", "rules"}},
			{[]any{"spec", "groups", anyItem{}, "rules", anyItem{}}, []string{"alert", "expr", "for", "labels", "annotations"}},
		}}
}
