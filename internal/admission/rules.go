package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orkspace/orkestra-gateway/internal/fastjson"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// NewValidation evaluates the validation rules of the request's Katalog entry.
// Every failing deny rule becomes one cause of a 422 Invalid status, in the
// style of the API server's own validation; warn rules become warnings.
// Rules in audit mode never deny or warn: each failure is logged, counted
// (auditMetric, in the Metrics given by WithMetrics) and written as an audit
// annotation. Each deny rule that fails a request is counted once
// (denialsMetric).
func NewValidation(p *policy.Policy, opts ...Option) Handler {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	audits, denials := newRuleCounters(p, o)
	return &validation{p: p, crds: indexCRDs(p), sel: selections(p), audits: audits, denials: denials}
}

type validation struct {
	p       *policy.Policy
	crds    crdIndex
	audits  ruleCounters
	denials ruleCounters
	// sel holds, per entry, the fields its rules read; nil when a rule's
	// field is a template (it may read anything).
	sel map[*policy.CRD]*fastjson.Selection
}

// selections lists what each entry's rules read, plus the name fields of
// objectName, so that objects that pass are never decoded whole.
func selections(p *policy.Policy) map[*policy.CRD]*fastjson.Selection {
	out := map[*policy.CRD]*fastjson.Selection{}
	for _, c := range p.CRDs {
		paths, complete := c.Validation.Fields()
		if c.Validation == nil || !complete {
			continue
		}
		sel := fastjson.NewSelection()
		sel.Add([]fastjson.Segment{{Key: "metadata", Index: -1}, {Key: "name", Index: -1}})
		sel.Add([]fastjson.Segment{{Key: "metadata", Index: -1}, {Key: "generateName", Index: -1}})
		for _, p := range paths {
			segs := make([]fastjson.Segment, p.Len())
			for i := range segs {
				segs[i].Key, segs[i].Index = p.Segment(i)
			}
			sel.Add(segs)
		}
		out[c] = sel
	}
	return out
}

// evaluate runs the entry's rules. An object that passes is decoded only
// where the rules read it; a failure is evaluated again on the whole
// object, whose every field a message template may render.
func (h *validation) evaluate(req *admissionv1.AdmissionRequest, c *policy.CRD) (rules.Input, []rules.Result, error) {
	if sel := h.sel[c]; sel != nil {
		if in, ok := selectedInput(req, sel); ok {
			if res := c.Validation.Evaluate(in); len(res) == 0 {
				return in, nil, nil
			}
		}
	}
	in, err := ruleInput(req)
	if err != nil {
		return in, nil, err
	}
	return in, c.Validation.Evaluate(in), nil
}

// noFields selects nothing: decoding with it only checks that an object
// would decode.
var noFields = fastjson.NewSelection()

// selectedInput is ruleInput with only the selected fields of the object
// decoded (OldObject is left nil: a selection exists only for rules that
// do not read it). ok is false when ruleInput would fail or the fast
// decoder gives up: use ruleInput.
func selectedInput(req *admissionv1.AdmissionRequest, sel *fastjson.Selection) (in rules.Input, ok bool) {
	in.Operation = string(req.Operation)
	in.UserInfo = userInfo(&req.UserInfo)
	raw, old := req.Object.Raw, req.OldObject.Raw
	if len(raw) == 0 && req.Operation == admissionv1.Delete {
		raw, old = old, nil // on DELETE the object under admission is the old one
	}
	if len(raw) > 0 {
		if in.Object, ok = fastjson.DecodeSelected(raw, sel); !ok {
			return in, false
		}
	}
	if len(old) > 0 {
		if _, ok = fastjson.DecodeSelected(old, noFields); !ok {
			return in, false
		}
	}
	return in, true
}

func (h *validation) Handle(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	c := h.crds.forRequest(req)
	if !h.p.Admission.Enabled || c == nil || !c.Validate || c.Validation == nil {
		return allow()
	}
	checkVersion(ctx, req, c)
	in, results, err := h.evaluate(req, c)
	if err != nil {
		noteError(ctx, err)
		return badRequest("validation cannot read the object: " + err.Error())
	}
	noteFailures(ctx, c.Name, results)
	var warnings []string
	var causes []metav1.StatusCause
	var failures []string
	var audited []rules.Result
	for _, r := range results {
		if r.Audit {
			audited = append(audited, r)
			continue
		}
		if r.Warn {
			warnings = append(warnings, r.Field+": "+r.Message)
			continue
		}
		msg := r.Message
		if r.Value != nil {
			msg = "Invalid value: " + valueString(r.Value) + ": " + msg
		}
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid, Field: r.Field, Message: msg})
		failures = append(failures, r.Field+": "+msg)
	}
	ann := h.audit(ctx, req, c, audited)
	h.denials.countDenials(c.Name, results)
	if len(causes) == 0 {
		resp := allow(warnings...)
		resp.AuditAnnotations = ann
		return resp
	}
	name := objectName(req, in.Object)
	list := strings.Join(failures, ", ")
	if len(failures) > 1 {
		list = "[" + list + "]"
	}
	return &admissionv1.AdmissionResponse{
		AuditAnnotations: ann,
		Warnings:         warnings,
		Result: &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusUnprocessableEntity,
			Reason:  metav1.StatusReasonInvalid,
			Message: fmt.Sprintf("%s %q is invalid: %s", qualifiedKind(req.Kind.Group, req.Kind.Kind), name, list),
			Details: &metav1.StatusDetails{Name: name, Group: req.Kind.Group, Kind: req.Kind.Kind, Causes: causes},
		},
	}
}

// NewMutation applies the mutation rules of the request's Katalog entry as a
// JSONPatch. It never blocks: an internal error (or panic) of the rules
// allows the request unchanged, with a warning, and is counted as an error.
func NewMutation(p *policy.Policy) Handler {
	return &mutation{p: p, crds: indexCRDs(p), patch: (*rules.MutationSet).Patch}
}

type mutation struct {
	p     *policy.Policy
	crds  crdIndex
	patch func(*rules.MutationSet, rules.Input) ([]rules.PatchOp, error) // a seam for tests of the failure path
}

func (h *mutation) Handle(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	c := h.crds.forRequest(req)
	if !h.p.Admission.Enabled || c == nil || !c.Mutate || c.Mutation == nil || len(req.Object.Raw) == 0 {
		return allow()
	}
	checkVersion(ctx, req, c)
	patch, err := h.mutate(c.Mutation, req)
	if err != nil {
		noteError(ctx, err)
		return allow(fmt.Sprintf("mutation skipped: %v; the object was admitted unchanged", err))
	}
	if patch == nil {
		return allow()
	}
	pt := admissionv1.PatchTypeJSONPatch
	return &admissionv1.AdmissionResponse{Allowed: true, Patch: patch, PatchType: &pt}
}

// mutate returns the encoded JSONPatch, nil when there is nothing to change.
func (h *mutation) mutate(set *rules.MutationSet, req *admissionv1.AdmissionRequest) (patch []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			patch, err = nil, fmt.Errorf("internal error in the mutation rules: %v", v)
		}
	}()
	in, err := ruleInput(req)
	if err != nil {
		return nil, err
	}
	ops, err := h.patch(set, in)
	if err != nil {
		return nil, fmt.Errorf("mutation rules failed: %w", err)
	}
	if len(ops) == 0 {
		return nil, nil
	}
	return encodePatch(ops)
}

// encodePatch writes ops as RFC 6902 JSON: "value" is always present on the
// operations that take one (a null default stays null rather than vanishing
// and making the patch invalid), and absent on those that do not.
func encodePatch(ops []rules.PatchOp) ([]byte, error) {
	type withValue struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	type withoutValue struct {
		Op   string `json:"op"`
		Path string `json:"path"`
	}
	out := make([]any, len(ops))
	for i, op := range ops {
		switch op.Op {
		case "add", "replace", "test":
			out[i] = withValue{op.Op, op.Path, op.Value}
		case "remove":
			out[i] = withoutValue{op.Op, op.Path}
		default:
			return nil, fmt.Errorf("mutation rules produced unsupported patch operation %q at %s", op.Op, op.Path)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("cannot encode the patch: %w", err)
	}
	return b, nil
}

// ruleInput decodes the request's objects once for the rules. On DELETE the
// object under admission is the one being deleted (the old object).
func ruleInput(req *admissionv1.AdmissionRequest) (rules.Input, error) {
	in := rules.Input{Operation: string(req.Operation), UserInfo: userInfo(&req.UserInfo)}
	var err error
	if in.Object, err = decodeObject(req.Object.Raw, "object"); err != nil {
		return in, err
	}
	if in.OldObject, err = decodeObject(req.OldObject.Raw, "oldObject"); err != nil {
		return in, err
	}
	if req.Operation == admissionv1.Delete && in.Object == nil {
		in.Object = in.OldObject
	}
	return in, nil
}

// userInfo is the requesting user for conditions on request.userInfo.
func userInfo(u *authenticationv1.UserInfo) rules.UserInfo {
	out := rules.UserInfo{Username: u.Username, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		out.Extra = make(map[string][]string, len(u.Extra))
		for k, v := range u.Extra {
			out.Extra[k] = v
		}
	}
	return out
}

func decodeObject(raw []byte, what string) (map[string]any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if obj, ok := fastjson.DecodeObject(raw); ok {
		return obj, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fastjson.UnmarshalError(what, err)
	}
	if obj == nil {
		return nil, errors.New(what + " is null")
	}
	return obj, nil
}

// checkVersion logs a request at a version other than the rules': the
// registration's matchPolicy Equivalent should have converted it first.
func checkVersion(ctx context.Context, req *admissionv1.AdmissionRequest, c *policy.CRD) {
	if req.Kind.Version != c.Version {
		logger(ctx).Warn("admission request at another version than the rules are written for; evaluating anyway",
			append(requestAttrs(req), "version", req.Kind.Version, "rulesVersion", c.Version)...)
	}
}

// objectName names the object for messages: the request's name, else the
// object's name or generateName.
func objectName(req *admissionv1.AdmissionRequest, obj map[string]any) string {
	m := &meta{}
	if md, ok := obj["metadata"].(map[string]any); ok {
		m.Name, _ = md["name"].(string)
		m.GenerateName, _ = md["generateName"].(string)
	}
	return requestName(req, m)
}

// maxValueLen bounds an offending value echoed in a message.
const maxValueLen = 128

// valueString renders an offending value as the API server does: JSON, cut
// when long.
func valueString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > maxValueLen {
		n := maxValueLen
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		return string(b[:n]) + "...(truncated)"
	}
	return string(b)
}
