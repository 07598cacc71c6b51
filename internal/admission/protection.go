package admission

import (
	"context"
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// NewDeletionProtection denies the DELETE of an object labelled
// orkestra.io/deletion-protection=true, of any resource (Namespaces
// included), and of the CRD of every Katalog entry with protectCRD.
//
// The label always protects: protectCRs only scopes what the webhook is
// registered for, so an explicitly labelled object is never deletable
// through a gap. A DeleteCollection reaches the webhook as one DELETE per
// object, so each is decided on its own.
func NewDeletionProtection(p *policy.Policy) Handler {
	return &deletionProtection{p: p, crds: indexCRDs(p)}
}

type deletionProtection struct {
	p    *policy.Policy
	crds crdIndex
}

func (h *deletionProtection) Handle(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	// A stale registration of a disabled feature must not block anything.
	if !h.p.DeletionProtection.Enabled || req.Operation != admissionv1.Delete {
		return allow()
	}
	old, err := decodeMeta(req.OldObject.Raw, "oldObject")
	if err != nil {
		// The webhook only sees labelled objects: refuse rather than guess.
		noteError(ctx, err)
		return badRequest("deletion protection cannot read the object: " + err.Error())
	}
	name := requestName(req, old)

	var reasons []string
	if isCRD(req) {
		if c := h.crds.byName[name]; c != nil && c.ProtectCRD {
			reasons = append(reasons, fmt.Sprintf(
				"is protected by Katalog %s (spec.crds.%s.deletionProtection.protectCRD: true); set protectCRD: false and apply the Katalog to delete it",
				h.p.Name, c.Name))
		}
	}
	if old.protected() {
		reasons = append(reasons, fmt.Sprintf(
			"is protected by %s=true; remove the label to delete it: kubectl label %s %s%s %s-",
			policy.ProtectionLabel, kubectlResource(req), name, kubectlNamespace(req), policy.ProtectionLabel))
	}
	if len(reasons) == 0 {
		return allow()
	}
	return forbid(req, name, describe(req, name)+" "+strings.Join(reasons, "; it also "))
}

// NewStrictMode denies an UPDATE (PATCH included) that removes the protection
// label or changes it from "true", unless a break-glass user or group asks;
// such a use is allowed with a warning and logged.
func NewStrictMode(p *policy.Policy) Handler {
	return &strictMode{p: p}
}

type strictMode struct{ p *policy.Policy }

func (h *strictMode) Handle(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	dp := h.p.DeletionProtection
	if !dp.Enabled || !dp.StrictMode || req.Operation != admissionv1.Update {
		return allow()
	}
	old, err := decodeMeta(req.OldObject.Raw, "oldObject")
	if err != nil {
		noteError(ctx, err)
		return badRequest("strict mode cannot read the object: " + err.Error())
	}
	if !old.protected() {
		return allow()
	}
	obj, err := decodeMeta(req.Object.Raw, "object")
	if err != nil {
		noteError(ctx, err)
		return badRequest("strict mode cannot read the object: " + err.Error())
	}
	if obj.protected() {
		return allow()
	}
	name := requestName(req, old)
	change := fmt.Sprintf("removing label %s=true", policy.ProtectionLabel)
	if v, ok := obj.label(policy.ProtectionLabel); ok {
		change = fmt.Sprintf("changing label %s from \"true\" to %q", policy.ProtectionLabel, v)
	}
	user, groups := req.UserInfo.Username, req.UserInfo.Groups
	if dp.BreakGlass.Allows(user, groups) {
		logger(ctx).Info("break-glass: deletion protection lifted", append(requestAttrs(req), "groups", groups)...)
		return allow(fmt.Sprintf("break-glass: %s by %s lifts deletion protection of %s; the use is logged", change, user, describe(req, name)))
	}
	return forbid(req, name, fmt.Sprintf(
		"%s: %s is not allowed in strict mode; only the break-glass users and groups of Katalog %s (security.deletionProtection.breakGlass) may lift deletion protection",
		describe(req, name), change, h.p.Name))
}
