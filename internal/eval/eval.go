// Package eval runs one admission request through a Katalog the way the
// API server would, for `ork gateway eval`, `ork test` and `ork audit`:
// the object is converted to the version the rules are written for
// through the Katalog's conversion (the webhooks are registered with
// matchPolicy Equivalent), the gateway's own handlers answer (package
// admission, mutating first, then validating on the mutated object), CEL
// rules are evaluated as the API server evaluates a
// ValidatingAdmissionPolicy (package celeval), and the mutated object is
// converted back to the version of the request.
//
// Toolchain only: it links the CEL interpreter.
package eval

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/orkspace/orkestra-gateway/internal/admission"
	"github.com/orkspace/orkestra-gateway/internal/celeval"
	"github.com/orkspace/orkestra-gateway/internal/conversion"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/rules"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// DefaultUser is the requesting user when Input.User is empty.
const DefaultUser = "ork-gateway-eval"

// Input is one request, as a client would make it.
type Input struct {
	// Operation is CREATE, UPDATE or DELETE; empty means CREATE, or UPDATE
	// when OldObject is set.
	Operation admissionv1.Operation
	// Object is the object under admission; for DELETE, the object deleted.
	Object map[string]any
	// OldObject is the object before an UPDATE.
	OldObject map[string]any
	// Namespace of the request: default the object's, else "default" for
	// a namespaced entry.
	Namespace string
	// NamespaceObject is namespaceObject of CEL rules (null when nil).
	NamespaceObject *corev1.Namespace
	// User (default DefaultUser) and Groups; system:authenticated is added.
	User   string
	Groups []string
}

// InputError is a request eval cannot build or the API server would
// refuse before admission (an undeclared version, an UPDATE that renames).
type InputError struct{ Msg string }

// Error returns the message.
func (e *InputError) Error() string { return e.Msg }

func inputErrorf(format string, a ...any) error { return &InputError{Msg: fmt.Sprintf(format, a...)} }

// Evaluator is a compiled Katalog ready to answer requests.
type Evaluator struct {
	p       *policy.Policy
	conv    *conversion.Converter
	engines map[webhook.Feature]policy.Engine // on a current cluster (native.go)
}

// Options tune an Evaluator; every field is optional.
type Options struct {
	// Logger receives what the gateway would log while converting
	// (preserved fields dropped, an annotation ignored). Default: discard.
	Logger *slog.Logger
	// ConversionKey seals and verifies the preserved-fields annotation:
	// the gateway's key (conversion.key of its TLS Secret) verifies what
	// the cluster's gateway sealed. Default: LocalConversionKey.
	ConversionKey []byte
}

// LocalConversionKey is the key of the local tools (`ork gateway convert`
// uses the same), so what one prints the other verifies. It is public
// (this source): annotations it seals authenticate nothing, a gateway never
// accepts them, and the tools only ever read what their user gives them.
func LocalConversionKey() []byte {
	k := sha256.Sum256([]byte("ork gateway convert: a local key, not a secret"))
	return k[:]
}

// New compiles the conversions of p.
func New(p *policy.Policy, o Options) (*Evaluator, error) {
	key := o.ConversionKey
	if key == nil {
		key = LocalConversionKey()
	}
	if len(key) < conversion.MinKeyBytes {
		return nil, fmt.Errorf("the conversion key has %d bytes, want at least %d", len(key), conversion.MinKeyBytes)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conv, err := conversion.New(p, conversion.Options{Logger: log, Key: func() []byte { return key }})
	if err != nil {
		return nil, err
	}
	return &Evaluator{p: p, conv: conv, engines: clusterEngines(p)}, nil
}

// Policy is the compiled Katalog.
func (e *Evaluator) Policy() *policy.Policy { return e.p }

// Conversion is a conversion the API server makes before calling the
// webhooks.
type Conversion struct {
	From string `json:"from"` // apiVersion of the request
	To   string `json:"to"`   // apiVersion the rules are written for
}

// Result is what the API server would answer.
type Result struct {
	Policy *policy.Policy
	// Entry is the Katalog entry of the object's group and kind, nil when
	// none.
	Entry *policy.CRD
	// Request is the AdmissionRequest the webhooks see, at the rules'
	// version.
	Request *admissionv1.AdmissionRequest
	// RequestAPIVersion is the apiVersion the client sent.
	RequestAPIVersion string
	// Conversion is set when the object was converted for the webhooks.
	Conversion *Conversion
	// Decisions are the answers of the gateway's webhooks that match, in
	// the order the API server calls them.
	Decisions []admission.Decision
	// CEL is the verdict of the entry's CEL rules; nil when none applies.
	CEL *CELVerdict
	// Engines is the engine of each feature on a cluster that serves both
	// admission policy kinds (Kubernetes 1.36 and later).
	Engines map[webhook.Feature]policy.Engine
	// PolicyDenials are the denials of the features the native engine
	// enforces (CEL rules included), as the API server words them: one
	// per denying policy, and the client gets one of them. The denials of
	// the webhook engine are in Decisions.
	PolicyDenials []metav1.Status
	// Allowed is the verdict.
	Allowed bool
	// Warnings are the warnings the client sees, once each: the API
	// server's (a deprecated version) first, then the webhooks', then the
	// CEL warn rules'.
	Warnings []string
	// Object is the object after mutation, at the request's version; nil
	// for DELETE and when a mutating webhook rejected the request.
	Object map[string]any
	// ValidatedObject is the object the validating webhooks and CEL rules
	// see: mutated, at the rules' version (nil when Object is).
	ValidatedObject map[string]any
}

// Run evaluates in.
func (e *Evaluator) Run(ctx context.Context, in Input) (*Result, error) {
	op, err := operation(in)
	if err != nil {
		return nil, err
	}
	if in.Object == nil {
		return nil, inputErrorf("no object")
	}
	if err := CheckObject(in.Object); err != nil {
		return nil, inputErrorf("object: %v", err)
	}
	obj, old := conversion.CopyObject(in.Object), conversion.CopyObject(in.OldObject)
	if old != nil {
		if err := CheckObject(old); err != nil {
			return nil, inputErrorf("old object: %v", err)
		}
	}
	apiVersion, kind := obj["apiVersion"].(string), obj["kind"].(string)
	if old != nil && (old["apiVersion"] != apiVersion || old["kind"] != kind || metaString(old, "name") != metaString(obj, "name")) {
		return nil, inputErrorf("the old object is %s %s %q but the object is %s %s %q; an UPDATE keeps apiVersion, kind and name",
			old["apiVersion"], old["kind"], metaString(old, "name"), apiVersion, kind, metaString(obj, "name"))
	}
	group, ver, found := strings.Cut(apiVersion, "/")
	if !found {
		group, ver = "", apiVersion
	}
	entry := e.entry(group, kind)
	res := &Result{Policy: e.p, Entry: entry, RequestAPIVersion: apiVersion}

	ns, err := e.namespace(in, group, kind, obj, old, entry)
	if err != nil {
		return nil, err
	}
	reqGVK := metav1.GroupVersionKind{Group: group, Version: ver, Kind: kind}
	hookGVK := reqGVK
	if entry != nil {
		versions := entryVersions(entry)
		if !slices.Contains(versions, ver) {
			return nil, inputErrorf("%s is not a version of %s: entry %s of Katalog %s declares %s, and the API server serves no other; write the object at one of them",
				apiVersion, kind, entry.Name, e.p.Name, strings.Join(versions, ", "))
		}
		if ver != entry.Version {
			to := joinAPIVersion(group, entry.Version)
			if obj, err = e.convert(entry, obj, to); err != nil {
				return nil, fmt.Errorf("converting the object from %s to %s, the version the rules are written for: %w", apiVersion, to, err)
			}
			if old != nil {
				if old, err = e.convert(entry, old, to); err != nil {
					return nil, fmt.Errorf("converting the old object from %s to %s, the version the rules are written for: %w", apiVersion, to, err)
				}
			}
			res.Conversion = &Conversion{From: apiVersion, To: to}
			hookGVK.Version = entry.Version
		}
	}
	req, err := request(e.p, in, op, reqGVK, hookGVK, ns, obj, old)
	if err != nil {
		return nil, err
	}
	res.Request = req
	if in.NamespaceObject != nil && in.NamespaceObject.Name != req.Namespace {
		return nil, inputErrorf("the namespace object is Namespace %q but the request is in namespace %q", in.NamespaceObject.Name, req.Namespace)
	}

	ds, final, err := admission.Review(ctx, e.p, req, applyPatch)
	if err != nil {
		return nil, err
	}
	res.Decisions = ds
	res.Allowed = admission.Allowed(ds)
	rejected := mutationRejected(ds)
	// The API server evaluates policies in the validating phase, after
	// every mutation: unless a mutating webhook rejected the request.
	if !rejected {
		if res.CEL, err = e.expressions(final, in.NamespaceObject); err != nil {
			return nil, err
		}
		if res.CEL != nil && !res.CEL.Allowed() {
			res.Allowed = false
		}
		if op != admissionv1.Delete && len(final.Object.Raw) > 0 {
			if res.ValidatedObject, err = decode(final.Object.Raw); err != nil {
				return nil, fmt.Errorf("the mutated object: %w", err)
			}
			res.Object = res.ValidatedObject
			if res.Conversion != nil {
				if res.Object, err = e.convert(entry, res.ValidatedObject, apiVersion); err != nil {
					return nil, fmt.Errorf("converting the mutated object back from %s to %s: %w", res.Conversion.To, apiVersion, err)
				}
			}
		}
	}
	res.Engines = e.engines
	res.PolicyDenials = nativeDenials(e.p, e.engines, final, ds, res.CEL)
	res.Warnings = warnings(e.p, e.engines, final, entry, ver, ds, res.CEL)
	return res, nil
}

func operation(in Input) (admissionv1.Operation, error) {
	op := admissionv1.Operation(strings.ToUpper(string(in.Operation)))
	switch {
	case op == "" && in.OldObject != nil:
		op = admissionv1.Update
	case op == "":
		op = admissionv1.Create
	}
	switch op {
	case admissionv1.Create, admissionv1.Delete:
		if in.OldObject != nil {
			return "", inputErrorf("an old object is only for UPDATE; for %s give just the object", op)
		}
	case admissionv1.Update:
		if in.OldObject == nil {
			return "", inputErrorf("UPDATE needs the old object, the object before the update")
		}
	default:
		return "", inputErrorf("operation %q: want CREATE, UPDATE or DELETE", in.Operation)
	}
	return op, nil
}

func (e *Evaluator) entry(group, kind string) *policy.CRD {
	for _, c := range e.p.CRDs {
		if c.Group == group && c.Kind == kind {
			return c
		}
	}
	return nil
}

// entryVersions are the versions the API server serves for an entry.
func entryVersions(c *policy.CRD) []string {
	if len(c.Versions) > 0 {
		return c.Versions
	}
	return []string{c.Version}
}

func joinAPIVersion(group, version string) string {
	if group == "" {
		return version
	}
	return group + "/" + version
}

// convert converts obj as the API server does: through the Katalog's
// conversion when the entry declares one, else by changing apiVersion
// only (a CRD's conversion strategy None).
func (e *Evaluator) convert(c *policy.CRD, obj map[string]any, to string) (map[string]any, error) {
	if c.Conversion == nil {
		out := conversion.CopyObject(obj)
		out["apiVersion"] = to
		return out, nil
	}
	return e.conv.Convert(obj, to)
}

// namespace is the request's namespace; the API server fills it in the
// objects before admission.
func (e *Evaluator) namespace(in Input, group, kind string, obj, old map[string]any, entry *policy.CRD) (string, error) {
	name := metaString(obj, "name")
	ns := metaString(obj, "namespace")
	isNamespace := group == "" && kind == "Namespace"
	switch {
	case in.Namespace != "" && ns != "" && ns != in.Namespace:
		return "", inputErrorf("the request's namespace is %s, but the object is in namespace %s", in.Namespace, ns)
	case isNamespace:
		ns = name // the API server puts a Namespace's name in the request's namespace
	case in.Namespace != "":
		ns = in.Namespace
	case ns == "" && entry != nil && entry.Namespaced:
		ns = "default"
	}
	if ns != "" && !isNamespace {
		for _, m := range []map[string]any{obj, old} {
			if m != nil {
				m["metadata"].(map[string]any)["namespace"] = ns
			}
		}
	}
	return ns, nil
}

// request builds the AdmissionRequest the webhooks see: kind and resource
// at the rules' version, requestKind and requestResource as the client
// asked.
func request(p *policy.Policy, in Input, op admissionv1.Operation, reqGVK, hookGVK metav1.GroupVersionKind, ns string, obj, old map[string]any) (*admissionv1.AdmissionRequest, error) {
	plural := resourceOf(p, reqGVK.Group, reqGVK.Kind)
	reqGVR := metav1.GroupVersionResource{Group: reqGVK.Group, Version: reqGVK.Version, Resource: plural}
	hookGVR := metav1.GroupVersionResource{Group: hookGVK.Group, Version: hookGVK.Version, Resource: plural}
	user := in.User
	if user == "" {
		user = DefaultUser
	}
	groups := append([]string{}, in.Groups...)
	if !slices.Contains(groups, "system:authenticated") {
		groups = append(groups, "system:authenticated")
	}
	req := &admissionv1.AdmissionRequest{
		UID:             "ork-gateway-eval",
		Kind:            hookGVK,
		Resource:        hookGVR,
		RequestKind:     &reqGVK,
		RequestResource: &reqGVR,
		Name:            metaString(obj, "name"),
		Namespace:       ns,
		Operation:       op,
		UserInfo:        authenticationv1.UserInfo{Username: user, Groups: groups},
	}
	var err error
	switch op {
	case admissionv1.Delete:
		req.OldObject, err = rawObject(obj)
	default:
		if req.Object, err = rawObject(obj); err == nil && old != nil {
			req.OldObject, err = rawObject(old)
		}
	}
	return req, err
}

// resourceOf is the resource (plural) of a kind: the entry's, a built-in
// kind's; "" for a custom kind the Katalog does not name (the handlers
// then name the kind in kubectl hints).
func resourceOf(p *policy.Policy, group, kind string) string {
	for _, c := range p.CRDs {
		if c.Group == group && c.Kind == kind {
			return c.Plural
		}
	}
	if policy.BuiltInGroup(group) {
		// The API server's own kinds follow the rule kubectl applies
		// (ConfigMap: configmaps, NetworkPolicy: networkpolicies, Ingress:
		// ingresses, Endpoints: endpoints).
		plural, _ := meta.UnsafeGuessKindToResource(schema.GroupVersionKind{Group: group, Kind: kind})
		return plural.Resource
	}
	return ""
}

func rawObject(obj map[string]any) (runtime.RawExtension, error) {
	b, err := json.Marshal(obj)
	return runtime.RawExtension{Raw: b}, err
}

func decode(raw []byte) (map[string]any, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func mutationRejected(ds []admission.Decision) bool {
	for _, d := range ds {
		if d.Mutating && !d.Allowed() {
			return true
		}
	}
	return false
}

// warnings are the warnings the client sees, each once (the API server
// drops repeats): a native feature's (CEL rules' too) in the API server's
// words.
func warnings(p *policy.Policy, engines map[webhook.Feature]policy.Engine, req *admissionv1.AdmissionRequest, entry *policy.CRD, version string, ds []admission.Decision, cel *CELVerdict) []string {
	var out []string
	add := func(w string) {
		if w != "" && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	add(deprecationWarning(entry, version))
	for _, d := range ds {
		if d.Response == nil {
			continue
		}
		native := engines[webhook.Feature(d.Webhook)] == policy.EngineNative && !d.Mutating
		for _, w := range d.Response.Warnings {
			if native {
				w = policyWarning(nativePolicy(p, req, d, true), w)
			}
			add(w)
		}
	}
	if cel != nil {
		warnPolicy := registration.ConfigName(p.Name, webhook.Validate) + "-warn"
		for _, r := range cel.Results {
			if r.Err == nil && !r.Valid && r.Rule.Warn && !r.Rule.Audit {
				add(policyWarning(warnPolicy, r.Message))
			}
		}
	}
	return out
}

// deprecationWarning is the warning the API server adds to every request
// at a deprecated version of a CRD (from crdFile), "" otherwise.
func deprecationWarning(c *policy.CRD, v string) string {
	if c == nil || c.Definition == nil {
		return ""
	}
	spec := c.Definition.Spec
	var this *apiextv1.CustomResourceDefinitionVersion
	for i := range spec.Versions {
		if spec.Versions[i].Name == v {
			this = &spec.Versions[i]
		}
	}
	if this == nil || !this.Deprecated {
		return ""
	}
	if this.DeprecationWarning != nil {
		return *this.DeprecationWarning
	}
	msg := fmt.Sprintf("%s/%s %s is deprecated", spec.Group, v, spec.Names.Kind)
	var newer []string
	for _, o := range spec.Versions {
		if o.Served && !o.Deprecated && version.CompareKubeAwareVersionStrings(v, o.Name) < 0 {
			newer = append(newer, o.Name)
		}
	}
	if len(newer) == 0 {
		return msg
	}
	sort.Slice(newer, func(i, j int) bool { return version.CompareKubeAwareVersionStrings(newer[i], newer[j]) > 0 })
	return msg + fmt.Sprintf("; use %s/%s %s", spec.Group, newer[0], spec.Names.Kind)
}

// CELVerdict is what the API server's policies decide on the CEL rules of
// the request's entry.
type CELVerdict struct {
	Entry         string
	FailurePolicy policy.FailurePolicy
	Results       []celeval.Result
}

// Allowed: no failing enforced deny rule, and no evaluation error under
// Fail.
func (v *CELVerdict) Allowed() bool {
	for _, r := range v.Results {
		switch {
		case r.Err != nil && v.FailurePolicy == policy.Fail && !r.Rule.Audit:
			return false
		case r.Err == nil && !r.Valid && !r.Rule.Warn && !r.Rule.Audit:
			return false
		}
	}
	return true
}

// expressions evaluates the CEL rules of the entry req is about, when the
// API server would: admission on, the entry's operations, outside the
// excluded namespaces (as the validating webhook is matched). nil when
// none applies.
func (e *Evaluator) expressions(req *admissionv1.AdmissionRequest, ns *corev1.Namespace) (*CELVerdict, error) {
	entry := e.entry(req.Kind.Group, req.Kind.Kind)
	if entry == nil || len(entry.Validation.Expressions()) == 0 {
		return nil, nil
	}
	for _, w := range admission.Webhooks(e.p) {
		if w.Name == admission.NameValidate && !w.Matches(req) {
			return nil, nil
		}
	}
	results, err := celeval.Evaluate(entry.Validation.Expressions(), celeval.Input{Request: req, Namespace: ns})
	if err != nil {
		return nil, fmt.Errorf("evaluating CEL rules: %w", err)
	}
	return &CELVerdict{Entry: entry.Name, FailurePolicy: e.p.Admission.FailurePolicy, Results: results}, nil
}

// RuleOutcome is one failing validation rule.
type RuleOutcome struct {
	// Rule is "<entry>/<rule name or index>".
	Rule string `json:"rule"`
	// Action is deny, warn or audit.
	Action string `json:"action"`
	// Would is, for a rule in audit mode, what it would do once enforced:
	// deny or warn.
	Would string `json:"would,omitempty"`
	// Field is the failing field ("" for a CEL rule).
	Field   string `json:"field"`
	Message string `json:"message"`
	// Expression is set for a CEL rule.
	Expression bool `json:"expression"`
}

// Rules lists every failing validation rule: the webhook's field rules in
// order, then the CEL rules.
func (r *Result) Rules() []RuleOutcome {
	var out []RuleOutcome
	for _, d := range r.Decisions {
		for _, f := range d.Rules {
			o := RuleOutcome{Rule: f.ID(), Action: f.Action(), Field: f.Field, Message: f.Message}
			if f.Audit {
				o.Would = "deny"
				if f.Warn {
					o.Would = "warn"
				}
			}
			out = append(out, o)
		}
	}
	if r.CEL != nil {
		for _, c := range r.CEL.Results {
			if c.Err != nil || c.Valid {
				continue
			}
			o := RuleOutcome{Rule: r.CEL.Entry + "/" + rules.RuleID(c.Rule.Index, c.Rule.Name), Action: "deny", Message: c.Message, Expression: true}
			switch {
			case c.Rule.Audit:
				o.Action, o.Would = "audit", "deny"
				if c.Rule.Warn {
					o.Would = "warn"
				}
			case c.Rule.Warn:
				o.Action = "warn"
			}
			out = append(out, o)
		}
	}
	return out
}

// Convert converts obj to version to ("v2", or a full apiVersion of the
// object's group) as `ork gateway convert` and the gateway's /convert do.
func (e *Evaluator) Convert(obj map[string]any, to string) (map[string]any, error) {
	apiVersion, _ := obj["apiVersion"].(string)
	group, _, found := strings.Cut(apiVersion, "/")
	if !found {
		return nil, inputErrorf("apiVersion %q is not group/version; only custom resources convert", apiVersion)
	}
	if !strings.Contains(to, "/") {
		to = group + "/" + to
	}
	return e.conv.Convert(obj, to)
}

// applyPatch applies a mutating webhook's JSONPatch, as the API server does
// between mutating webhooks.
func applyPatch(doc, patch []byte) ([]byte, error) {
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, err
	}
	return p.Apply(doc)
}
