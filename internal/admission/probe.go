package admission

import (
	"context"
	"encoding/json"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// AnswerProbes wraps a webhook handler so that it answers the gateway's own
// probes: a dry-run UPDATE of its TLS Secret (secret in namespace) whose
// probe annotation names a webhook configuration is denied with
// policy.ProbeMessage. Only the probe webhook of each configuration sends
// such requests (its matchCondition selects them), so the denial tells the
// replica that probes that the API server has loaded the configuration.
// Every other request goes to h.
func AnswerProbes(h Handler, namespace, secret string) Handler {
	return &probes{next: h, namespace: namespace, secret: secret}
}

type probes struct {
	next              Handler
	namespace, secret string
}

func (p *probes) Handle(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if target := p.target(req); target != "" {
		return forbid(req, req.Name, policy.ProbeMessage(target))
	}
	return p.next.Handle(ctx, req)
}

// target is the probe's target, "" when req is not a webhook probe.
func (p *probes) target(req *admissionv1.AdmissionRequest) string {
	if req.Operation != admissionv1.Update || req.DryRun == nil || !*req.DryRun ||
		req.Resource.Group != "" || req.Resource.Resource != "secrets" || req.Namespace != p.namespace || req.Name != p.secret {
		return ""
	}
	var obj struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
		return ""
	}
	t := obj.Metadata.Annotations[policy.ProbeAnnotation]
	if !strings.HasPrefix(t, string(policy.EngineWebhook)+"/") {
		return ""
	}
	return t
}
