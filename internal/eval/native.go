package eval

import (
	"errors"
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/orkspace/orkestra-gateway/internal/admission"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// The features the native engine enforces are ValidatingAdmissionPolicies
// (and a MutatingAdmissionPolicy): the API server words their denials and
// warnings itself. eval says them in its words, so what it prints is what
// the client sees. The engines are those of a cluster that serves both
// policy kinds (Kubernetes 1.36 and later): with engine auto there, every
// feature whose rules compile is native.

// clusterEngines is the engine of each feature of p on a current cluster.
func clusterEngines(p *policy.Policy) map[webhook.Feature]policy.Engine {
	return registration.Engines(p, registration.Support{Validating: true, Mutating: true})
}

// nativePolicy is the policy that gives decision d's denial (warn false)
// or warnings (warn true) when its feature is native.
func nativePolicy(p *policy.Policy, req *admissionv1.AdmissionRequest, d admission.Decision, warn bool) string {
	f := webhook.Feature(d.Webhook)
	suffix := ""
	switch f {
	case webhook.DeletionProtection:
		if req.Kind.Group == "apiextensions.k8s.io" && req.Kind.Kind == "CustomResourceDefinition" {
			for _, c := range p.CRDs {
				if c.ProtectCRD && c.CRDName() == req.Name {
					suffix = "-crds"
				}
			}
		}
	case webhook.StrictMode:
		if warn {
			suffix = "-break-glass"
		}
	case webhook.NamespaceProtection:
		if req.Kind.Group == "" && req.Kind.Kind == "Namespace" && req.Operation == admissionv1.Delete {
			suffix = "-deletion"
		}
	case webhook.Validate:
		if warn {
			suffix = "-warn"
		}
	}
	return registration.ConfigName(p.Name, f) + suffix
}

// policyWarning is a warning of policy as the API server gives it.
func policyWarning(name, msg string) string {
	return fmt.Sprintf("Validation failed for ValidatingAdmissionPolicy '%s' with binding '%s': %s", name, name, strings.TrimSpace(msg))
}

// policyDenial is the Status the client gets when policy denies req with
// msg: the API server's Forbidden error naming the object, with the
// validation's reason (Invalid when it has none) and its code, and one
// cause holding the policy's message.
func policyDenial(req *admissionv1.AdmissionRequest, name string, reason metav1.StatusReason, msg string) *metav1.Status {
	message := fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request: %s", name, name, strings.TrimSpace(msg))
	obj := req.Name
	if obj == "" {
		obj = "Unknown"
		raw := req.Object.Raw
		if len(raw) == 0 {
			raw = req.OldObject.Raw
		}
		if o, err := decode(raw); err == nil {
			if n := metaString(o, "name"); n != "" {
				obj = n
			} else if g := metaString(o, "generateName"); g != "" {
				obj = g
			}
		}
	}
	res := req.Resource
	if req.RequestResource != nil {
		res = *req.RequestResource
	}
	st := apierrors.NewForbidden(schema.GroupResource{Group: res.Group, Resource: res.Resource}, obj, errors.New(message)).ErrStatus
	if reason == "" {
		reason = metav1.StatusReasonInvalid
	}
	st.Reason = reason
	st.Code = reasonCode(reason)
	st.Details.Causes = append(st.Details.Causes, metav1.StatusCause{Message: message})
	return &st
}

// reasonCode is the API server's code of a policy's denial reason.
func reasonCode(r metav1.StatusReason) int32 {
	switch r {
	case metav1.StatusReasonForbidden:
		return 403
	case metav1.StatusReasonUnauthorized:
		return 401
	case metav1.StatusReasonRequestEntityTooLarge:
		return 413
	}
	return 422
}

// nativeDenials are the denials of the native features as the client gets
// them: one per denying policy, the API server answering with one of them.
// A policy denies with its first failing validation: in the validate
// policy, the field rules' (one validation per entry) before the CEL rules.
func nativeDenials(p *policy.Policy, engines map[webhook.Feature]policy.Engine, req *admissionv1.AdmissionRequest, ds []admission.Decision, cel *CELVerdict) []metav1.Status {
	var out []metav1.Status
	fieldDenied := false
	for _, d := range ds {
		f := webhook.Feature(d.Webhook)
		if d.Mutating || engines[f] != policy.EngineNative || d.Err != nil || d.Response == nil || d.Response.Allowed || d.Response.Result == nil {
			continue
		}
		s := d.Response.Result
		out = append(out, *policyDenial(req, nativePolicy(p, req, d, false), s.Reason, s.Message))
		fieldDenied = fieldDenied || f == webhook.Validate
	}
	if cel != nil && !fieldDenied {
		for _, r := range cel.Results {
			if r.Err == nil && !r.Valid && !r.Rule.Warn && !r.Rule.Audit {
				out = append(out, *policyDenial(req, registration.ConfigName(p.Name, webhook.Validate), "", r.Message))
				break
			}
		}
	}
	return out
}
