package admission

import (
	"context"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// NewNamespaceProtection keeps the objects of Katalog CRDs out of restricted (or
// not allowed) namespaces, and keeps the Katalog-level restricted namespaces
// from being deleted.
//
// Combination rule: an object must pass the Katalog-level lists
// (security.namespaceProtection) and then its entry's lists
// (spec.crds.<entry>): entry lists narrow the Katalog lists, they never
// re-open a namespace the Katalog restricts.
//
// An UPDATE of an object already being deleted is allowed, so finalizers of
// objects created before a namespace was restricted can still be removed.
func NewNamespaceProtection(p *policy.Policy) Handler {
	return &namespaceProtection{p: p, crds: indexCRDs(p)}
}

type namespaceProtection struct {
	p    *policy.Policy
	crds crdIndex
}

func (h *namespaceProtection) Handle(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	np := h.p.NamespaceProtection
	if !np.Enabled {
		return allow()
	}
	switch req.Operation {
	case admissionv1.Delete:
		if !isNamespace(req) {
			return allow()
		}
		if g := firstMatch(np.Namespaces.Restricted, req.Name); g != "" {
			return forbid(req, req.Name, fmt.Sprintf(
				"Namespace %s is protected by Katalog %s (security.namespaceProtection.restrictedNamespaces: %s) and cannot be deleted; remove it from the list to delete it",
				req.Name, h.p.Name, g))
		}
		return allow()
	case admissionv1.Create, admissionv1.Update:
	default:
		return allow()
	}
	c := h.crds.forRequest(req)
	ns := req.Namespace
	if c == nil || ns == "" { // not a Katalog kind, or cluster-scoped
		return allow()
	}
	if req.Operation == admissionv1.Update {
		if old, _ := decodeMeta(req.OldObject.Raw, "oldObject"); old != nil && old.DeletionTimestamp != "" {
			return allow()
		}
	}
	why := refuse(np.Namespaces, ns, "security.namespaceProtection")
	if why == "" {
		why = refuse(c.Namespaces, ns, "spec.crds."+c.Name)
	}
	if why == "" {
		return allow()
	}
	obj, _ := decodeMeta(req.Object.Raw, "object") // only for the name of a generated one
	name := requestName(req, obj)
	return forbid(req, name, describe(req, name)+": "+why)
}

// refuse says why lists refuse namespace ns, "" when they accept it; where
// names the lists in the Katalog.
func refuse(lists policy.Namespaces, ns, where string) string {
	if g := firstMatch(lists.Restricted, ns); g != "" {
		return fmt.Sprintf("namespace %q is restricted (%s.restrictedNamespaces: %s)", ns, where, g)
	}
	if len(lists.Allowed) > 0 && !lists.Allowed.Match(ns) {
		return fmt.Sprintf("namespace %q is not allowed (%s.allowedNamespaces: %s)", ns, where, quoteList(lists.Allowed))
	}
	return ""
}
