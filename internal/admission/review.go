package admission

import (
	"context"
	"fmt"
	"slices"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// Webhook names: those of the registration features, each served at the
// feature's path.
const (
	NameDeletionProtection  = string(webhook.DeletionProtection)
	NameStrictMode          = string(webhook.StrictMode)
	NameNamespaceProtection = string(webhook.NamespaceProtection)
	NameValidate            = string(webhook.Validate)
	NameMutate              = string(webhook.Mutate)
)

// webhookNames are the webhooks of the gateway, whose metrics exist from the start.
var webhookNames = []string{NameMutate, NameDeletionProtection, NameStrictMode, NameNamespaceProtection, NameValidate}

// Webhook is one admission endpoint of the gateway.
type Webhook struct {
	Name string
	// Feature is the registration feature whose configuration sends the
	// API server here; Path is its path.
	Feature       webhook.Feature
	Path          string
	Mutating      bool
	FailurePolicy policy.FailurePolicy
	Handler       Handler
	// Operations are the operations the registration sends the webhook
	// (none when its feature is disabled), in the order CREATE, UPDATE,
	// DELETE, CONNECT: the operations its metrics show from the start.
	Operations []admissionv1.Operation
	// matches approximates the registration's rules and selectors.
	matches func(req *admissionv1.AdmissionRequest) bool
}

// Matches reports whether the API server would send req to w, given the
// registration the gateway makes for the policy (package registration). It
// is a model of that registration, documented in Webhooks; the handlers do
// not rely on it (each allows what does not concern it).
func (w Webhook) Matches(req *admissionv1.AdmissionRequest) bool { return w.matches(req) }

// Webhooks returns every admission webhook of the gateway for p, mutating
// first, in the order the API server calls them. Disabled features are
// included (their handlers allow everything) so that the server can mount
// every path and a stale registration never meets a 404; they never match.
//
// Matching model (what package registration registers):
//   - mutate, validate: admission enabled; the request's group+kind is an
//     entry with that webhook (any version: matchPolicy Equivalent); the
//     operation is one of the entry's (default CREATE, UPDATE); the
//     namespace is neither kube-system nor the gateway's own.
//   - deletion-protection: DELETE of an object whose old object carries the
//     label, except objects of an entry with protectCRs false; or DELETE of
//     the CRD of a protectCRD entry. No namespace is excluded.
//   - strict-mode: strict mode on; UPDATE where the old object carries the
//     label and the new one no longer does; not in kube-system or the
//     gateway's namespace (nor of those Namespace objects themselves),
//     except the gateway's own TLS Secret.
//   - namespace-protection: CREATE/UPDATE of a namespaced entry's objects
//     when a namespace list applies to it; DELETE of a Namespace matching
//     the Katalog-level restricted namespaces.
func Webhooks(p *policy.Policy, opts ...Option) []Webhook {
	ix := indexCRDs(p)
	dp, np, adm := p.DeletionProtection, p.NamespaceProtection, p.Admission
	// The namespaceSelector excluding kube-system and the gateway's
	// namespace; it matches a Namespace object by its own labels.
	system := func(req *admissionv1.AdmissionRequest) bool {
		ns := objectNamespace(req)
		if isNamespace(req) {
			ns = req.Name
		}
		return ns == "kube-system" || (ns != "" && ns == p.Gateway.Namespace)
	}
	tlsSecret := func(req *admissionv1.AdmissionRequest) bool {
		return req.Kind.Group == "" && req.Kind.Kind == "Secret" && req.Name == p.Certs.SecretName &&
			req.Namespace != "" && req.Namespace == p.Gateway.Namespace
	}
	ruleHook := func(want func(*policy.CRD) bool) func(*admissionv1.AdmissionRequest) bool {
		return func(req *admissionv1.AdmissionRequest) bool {
			c := ix.forRequest(req)
			return adm.Enabled && c != nil && want(c) && operationIn(req.Operation, c.Operations) && !system(req)
		}
	}
	ws := []Webhook{
		{
			Name: NameMutate, Mutating: true, FailurePolicy: adm.FailurePolicy, Handler: NewMutation(p),
			matches: ruleHook(func(c *policy.CRD) bool { return c.Mutate }),
		},
		{
			Name: NameDeletionProtection, FailurePolicy: dp.FailurePolicy, Handler: NewDeletionProtection(p),
			matches: func(req *admissionv1.AdmissionRequest) bool {
				if !dp.Enabled || req.Operation != admissionv1.Delete {
					return false
				}
				if isCRD(req) {
					if c := ix.byName[req.Name]; c != nil && c.ProtectCRD {
						return true
					}
				}
				old, _ := decodeMeta(req.OldObject.Raw, "oldObject")
				c := ix.forRequest(req)
				return old.protected() && (c == nil || c.ProtectCRs)
			},
		},
		{
			Name: NameStrictMode, FailurePolicy: dp.FailurePolicy, Handler: NewStrictMode(p),
			matches: func(req *admissionv1.AdmissionRequest) bool {
				if !dp.Enabled || !dp.StrictMode || req.Operation != admissionv1.Update || (system(req) && !tlsSecret(req)) {
					return false
				}
				old, _ := decodeMeta(req.OldObject.Raw, "oldObject")
				obj, _ := decodeMeta(req.Object.Raw, "object")
				return old.protected() && !obj.protected()
			},
		},
		{
			Name: NameNamespaceProtection, FailurePolicy: np.FailurePolicy, Handler: NewNamespaceProtection(p),
			matches: func(req *admissionv1.AdmissionRequest) bool {
				switch {
				case !np.Enabled:
					return false
				case req.Operation == admissionv1.Delete:
					return isNamespace(req) && np.Namespaces.Restricted.Match(req.Name)
				case req.Operation == admissionv1.Create || req.Operation == admissionv1.Update:
					c := ix.forRequest(req)
					return c != nil && c.Namespaced && !(np.Namespaces.Empty() && c.Namespaces.Empty())
				}
				return false
			},
		},
		{
			Name: NameValidate, FailurePolicy: adm.FailurePolicy, Handler: NewValidation(p, opts...),
			matches: ruleHook(func(c *policy.CRD) bool { return c.Validate }),
		},
	}
	for i := range ws {
		ws[i].Feature = webhook.Feature(ws[i].Name)
		ws[i].Path = ws[i].Feature.Path()
		ws[i].Operations = operations(p, ws[i].Feature)
	}
	return ws
}

// allOperations are the operations of an AdmissionRequest, in the order
// Webhook.Operations lists them.
var allOperations = []admissionv1.Operation{admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect}

// operations are the operations the registration of feature f sends to
// its webhook for p (package registration): those of its rules, and the
// probe's UPDATE.
func operations(p *policy.Policy, f webhook.Feature) []admissionv1.Operation {
	want := map[admissionv1.Operation]bool{}
	dp, np := p.DeletionProtection, p.NamespaceProtection
	switch f {
	case webhook.DeletionProtection:
		want[admissionv1.Delete] = dp.Enabled
	case webhook.StrictMode:
		want[admissionv1.Update] = dp.Enabled && dp.StrictMode
	case webhook.NamespaceProtection:
		if !np.Enabled {
			break
		}
		for _, c := range p.CRDs {
			if c != nil && c.Namespaced && !(np.Namespaces.Empty() && c.Namespaces.Empty()) {
				want[admissionv1.Create], want[admissionv1.Update] = true, true
			}
		}
		want[admissionv1.Delete] = len(np.Namespaces.Restricted) > 0
	case webhook.Validate, webhook.Mutate:
		if !p.Admission.Enabled {
			break
		}
		for _, c := range p.CRDs {
			if c == nil || (f == webhook.Validate && !c.Validate) || (f == webhook.Mutate && !c.Mutate) {
				continue
			}
			for _, op := range allOperations {
				if operationIn(op, c.Operations) {
					want[op] = true
				}
			}
		}
	}
	// Every configuration also holds a probe webhook, which sends the
	// UPDATEs of the TLS Secret that an engine switch probes with.
	for _, on := range want {
		if on {
			want[admissionv1.Update] = true
			break
		}
	}
	var out []admissionv1.Operation
	for _, op := range allOperations {
		if want[op] {
			out = append(out, op)
		}
	}
	return out
}

// operationIn reports whether op is in ops, an empty list meaning the
// default CREATE, UPDATE.
func operationIn(op admissionv1.Operation, ops []string) bool {
	if len(ops) == 0 {
		return op == admissionv1.Create || op == admissionv1.Update
	}
	return slices.Contains(ops, string(op))
}

// Decision is one webhook's answer to a request.
type Decision struct {
	Webhook       string
	Mutating      bool
	FailurePolicy policy.FailurePolicy
	// Response is the webhook's answer; nil when Err is set.
	Response *admissionv1.AdmissionResponse
	// Err is a handler failure (the server answers 500): the API server
	// then applies FailurePolicy.
	Err error
	// Rules are the validation rules that failed, in order: the denying
	// ones (the causes), the warning ones and those in audit mode (only in
	// the response's audit annotations).
	Rules []RuleFailure
}

// Allowed reports whether the API server would let the request through
// this webhook.
func (d Decision) Allowed() bool {
	if d.Err != nil {
		return d.FailurePolicy == policy.Ignore
	}
	return d.Response.Allowed
}

// Allowed reports whether every decision allows the request.
func Allowed(ds []Decision) bool {
	for _, d := range ds {
		if !d.Allowed() {
			return false
		}
	}
	return true
}

// PatchFunc applies an RFC 6902 JSONPatch to a JSON document.
type PatchFunc func(doc, patch []byte) ([]byte, error)

// Review runs every webhook that would match req, the way the API server
// would: mutating webhooks in order, each seeing the object as patched (by
// apply) by the previous ones, stopping at a rejection; then every
// validating webhook on the mutated object. It serves `ork gateway eval`,
// so a dry run takes the server's code path; the server itself never
// applies patches, so the patch library is the caller's (the gateway build
// does not link one). It also returns the request the validating webhooks
// saw: req with the object every mutating webhook patched, which is what
// the API server's ValidatingAdmissionPolicies see, so `ork gateway eval`
// evaluates CEL rules on it. req is not modified. The error is a patch that
// cannot be applied (the API server would fail the request).
func Review(ctx context.Context, p *policy.Policy, req *admissionv1.AdmissionRequest, apply PatchFunc) ([]Decision, *admissionv1.AdmissionRequest, error) {
	cur := *req
	ds, err := review(ctx, p, &cur, apply)
	return ds, &cur, err
}

func review(ctx context.Context, p *policy.Policy, req *admissionv1.AdmissionRequest, apply PatchFunc) ([]Decision, error) {
	cur := req
	var out []Decision
	for _, w := range Webhooks(p) {
		if !w.Matches(cur) {
			continue
		}
		d := Decision{Webhook: w.Name, Mutating: w.Mutating, FailurePolicy: w.FailurePolicy}
		fl := &failureLog{}
		resp, panicked := call(context.WithValue(ctx, failureLogKey{}, fl), w.Handler, cur)
		d.Rules = fl.failures
		switch {
		case panicked != nil:
			d.Err = fmt.Errorf("webhook %s panicked: %v", w.Name, panicked.value)
		case resp == nil:
			d.Err = fmt.Errorf("webhook %s returned no response", w.Name)
		default:
			resp.UID = cur.UID
			d.Response = resp
		}
		out = append(out, d)
		if !w.Mutating {
			continue
		}
		if !d.Allowed() {
			return out, nil // the API server stops at the first rejecting mutating webhook
		}
		if d.Response != nil && len(d.Response.Patch) > 0 {
			if apply == nil {
				return out, fmt.Errorf("webhook %s returned a patch and no patch function was given", w.Name)
			}
			patched, err := apply(cur.Object.Raw, d.Response.Patch)
			if err != nil {
				return out, fmt.Errorf("webhook %s returned a patch that cannot be applied: %w", w.Name, err)
			}
			cur.Object.Raw = patched
		}
	}
	return out, nil
}
