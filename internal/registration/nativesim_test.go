package registration

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/mutating/patch"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"
)

// A model of the API server's admission policies, for unit tests of whole
// policies: match constraints (resources, operations, namespace and object
// selectors) modelled here, and the rest done by the API server's own
// code (k8s.io/apiserver): variables typed and evaluated lazily once per
// request, match conditions, validations, message expressions, JSONPatch
// mutations applied in order. Any evaluation error fails the test: the
// compiled CEL must never fail. The message rules are the dispatcher's
// (messageExpression, else message, else the expression; trimmed; a
// multi-line or oversized result falls back). The e2e suite holds the same
// policies to a real API server.

type simVerdict struct {
	denial   string         // "" when allowed; else "<policy>: <message>" of the first denying validation
	warnings []string       // one per failing validation of a Warn binding
	audits   []string       // one per failing validation of an Audit binding
	object   map[string]any // the object after the mutating policies
}

type simulator struct {
	t      *testing.T
	envSet *environment.EnvSet
}

func newSimulator(t *testing.T) *simulator {
	return &simulator{t: t, envSet: environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())}
}

// expr is a CEL expression of a policy, as the API server's accessors are.
type expr struct {
	name, text string
	returns    *cel.Type
}

func (e expr) GetExpression() string    { return e.text }
func (e expr) ReturnTypes() []*cel.Type { return []*cel.Type{e.returns} }
func (e expr) GetName() string          { return e.name }

// policyEval compiles a policy's variables (typed, lazily evaluated and
// cached per request, as the API server does) and evaluates expressions.
type policyEval struct {
	s    *simulator
	comp *plugincel.CompositedCompiler
	ctx  context.Context
	va   *admission.VersionedAttributes
	req  *admissionv1.AdmissionRequest
	opts plugincel.OptionalVariableDeclarations
}

func (s *simulator) policy(vars []admissionregistrationv1.Variable, va *admission.VersionedAttributes, gvr schema.GroupVersionResource, patchTypes bool) *policyEval {
	s.t.Helper()
	comp, err := plugincel.NewCompositedCompiler(s.envSet)
	if err != nil {
		s.t.Fatal(err)
	}
	opts := plugincel.OptionalVariableDeclarations{HasPatchTypes: patchTypes}
	for _, v := range vars {
		res := comp.CompileAndStoreVariable(expr{name: v.Name, text: v.Expression, returns: cel.AnyType}, opts, environment.StoredExpressions)
		if res.Error != nil {
			s.t.Fatalf("variable %s = %.600s: %v", v.Name, v.Expression, res.Error)
		}
	}
	req := plugincel.CreateAdmissionRequest(va.Attributes, metav1.GroupVersionResource(gvr), metav1.GroupVersionKind(va.VersionedKind))
	return &policyEval{s: s, comp: comp, ctx: comp.CreateContext(context.Background()), va: va, req: req, opts: opts}
}

// eval evaluates expressions of the given return type; any error fails
// the test (the compiled CEL must never fail).
func (p *policyEval) eval(texts []string, returns *cel.Type) []ref.Val {
	p.s.t.Helper()
	var acc []plugincel.ExpressionAccessor
	for _, t := range texts {
		acc = append(acc, expr{text: t, returns: returns})
	}
	ev := p.comp.CompileCondition(acc, p.opts, environment.StoredExpressions)
	res, _, err := ev.ForInput(p.ctx, p.va, p.req, plugincel.OptionalVariableBindings{}, nil, celconfig.RuntimeCELCostBudget)
	if err != nil {
		p.s.t.Fatal(err)
	}
	out := make([]ref.Val, len(res))
	for i, r := range res {
		if r.Error != nil {
			p.s.t.Fatalf("%.600s: %v", texts[i], r.Error)
		}
		out[i] = r.EvalResult
	}
	return out
}

// attributes are the request's admission attributes.
func (s *simulator) attributes(req *admissionv1.AdmissionRequest, obj map[string]any) *admission.VersionedAttributes {
	s.t.Helper()
	decode := func(raw []byte) runtime.Object {
		if len(raw) == 0 {
			return nil
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			s.t.Fatal(err)
		}
		return u
	}
	newObj := decode(req.Object.Raw)
	if obj != nil {
		newObj = &unstructured.Unstructured{Object: obj}
	}
	oldObj := decode(req.OldObject.Raw)
	gvk := schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind}
	gvr := schema.GroupVersionResource{Group: req.Resource.Group, Version: req.Resource.Version, Resource: req.Resource.Resource}
	dry := req.DryRun != nil && *req.DryRun
	attr := admission.NewAttributesRecord(newObj, oldObj, gvk, req.Namespace, req.Name, gvr, "", admission.Operation(req.Operation), nil, dry,
		&user.DefaultInfo{Name: req.UserInfo.Username, UID: req.UserInfo.UID, Groups: req.UserInfo.Groups})
	return &admission.VersionedAttributes{Attributes: attr, VersionedKind: gvk, VersionedObject: admission.NewLazyObject(newObj), VersionedOldObject: admission.NewLazyObject(oldObj)}
}

// simMatches: the request is in the policy's match constraints.
func simMatches(m *admissionregistrationv1.MatchResources, req *admissionv1.AdmissionRequest, objLabels []map[string]string) bool {
	in := false
	for _, r := range m.ResourceRules {
		if len(r.ResourceNames) > 0 && !slices.Contains(r.ResourceNames, req.Name) {
			continue
		}
		if (slices.Contains(r.APIGroups, "*") || slices.Contains(r.APIGroups, req.Resource.Group)) &&
			(slices.Contains(r.Resources, "*/*") || slices.Contains(r.Resources, req.Resource.Resource)) &&
			(slices.Contains(r.Operations, admissionregistrationv1.OperationAll) || slices.Contains(r.Operations, admissionregistrationv1.OperationType(req.Operation))) {
			in = true
		}
	}
	if !in {
		return false
	}
	if m.NamespaceSelector != nil && req.Namespace != "" {
		sel, _ := metav1.LabelSelectorAsSelector(m.NamespaceSelector)
		if !sel.Matches(k8slabels.Set{"kubernetes.io/metadata.name": req.Namespace}) {
			return false
		}
	}
	if m.ObjectSelector != nil {
		sel, _ := metav1.LabelSelectorAsSelector(m.ObjectSelector)
		any := false
		for _, l := range objLabels {
			any = any || sel.Matches(k8slabels.Set(l))
		}
		if !any && !sel.Empty() {
			return false
		}
	}
	return true
}

func objectLabels(objs ...runtime.Object) []map[string]string {
	var out []map[string]string
	for _, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok && u != nil {
			out = append(out, u.GetLabels())
		}
	}
	return out
}

// conditionsHold evaluates a policy's match conditions.
func (p *policyEval) conditionsHold(conds []admissionregistrationv1.MatchCondition) bool {
	var texts []string
	for _, c := range conds {
		texts = append(texts, c.Expression)
	}
	if len(texts) == 0 {
		return true
	}
	for _, v := range p.eval(texts, cel.BoolType) {
		if v != types.True {
			return false
		}
	}
	return true
}

// run applies the mutating policies, then evaluates the validating ones on
// the mutated object, as the API server admits req.
func (s *simulator) run(ps []NativePolicy, req *admissionv1.AdmissionRequest) simVerdict {
	s.t.Helper()
	var out simVerdict
	va := s.attributes(req, nil)
	gvr := schema.GroupVersionResource{Group: req.Resource.Group, Version: req.Resource.Version, Resource: req.Resource.Resource}
	for _, np := range ps {
		if np.Mutating == nil || va.VersionedObject.Object() == nil {
			continue
		}
		spec := np.Mutating.Spec
		if !simMatches(spec.MatchConstraints, req, objectLabels(va.VersionedObject.Object(), va.VersionedOldObject.Object())) {
			continue
		}
		if !s.policy(spec.Variables, va, gvr, true).conditionsHold(spec.MatchConditions) {
			continue
		}
		for _, m := range spec.Mutations {
			pe := s.policy(spec.Variables, va, gvr, true)
			ev := pe.comp.CompileMutatingEvaluator(expr{text: m.JSONPatch.Expression, returns: cel.ListType(cel.ObjectType("JSONPatch"))}, pe.opts, environment.StoredExpressions)
			obj, err := patch.NewJSONPatcher(ev).Patch(pe.ctx, patch.Request{
				MatchedResource: gvr, VersionedAttributes: va, ObjectInterfaces: admission.NewObjectInterfacesFromScheme(runtime.NewScheme()),
			}, celconfig.RuntimeCELCostBudget)
			if err != nil {
				s.t.Fatalf("mutation %.600s: %v", m.JSONPatch.Expression, err)
			}
			va = s.attributes(req, obj.(*unstructured.Unstructured).Object)
		}
	}
	if u, ok := va.VersionedObject.Object().(*unstructured.Unstructured); ok && u != nil {
		out.object = u.Object
	}
	for _, np := range ps {
		if np.Validating == nil {
			continue
		}
		spec := np.Validating.Spec
		if !simMatches(spec.MatchConstraints, req, objectLabels(va.VersionedObject.Object(), va.VersionedOldObject.Object())) {
			continue
		}
		pe := s.policy(spec.Variables, va, gvr, false)
		if !pe.conditionsHold(spec.MatchConditions) {
			continue
		}
		var texts, msgs []string
		for _, v := range spec.Validations {
			texts = append(texts, v.Expression)
			m := v.MessageExpression
			if m == "" {
				m = "''"
			}
			msgs = append(msgs, m)
		}
		valid := pe.eval(texts, cel.BoolType)
		// The API server evaluates every message expression, failing or not.
		messages := pe.eval(msgs, cel.StringType)
		for i, v := range spec.Validations {
			if valid[i] == types.True {
				continue
			}
			msg, _ := messages[i].Value().(string)
			msg = strings.TrimSpace(msg)
			if strings.Contains(msg, "\n") || len(msg) > 5*1024 {
				msg = ""
			}
			if msg == "" {
				msg = strings.TrimSpace(v.Message)
			}
			if msg == "" {
				msg = "failed expression: " + strings.TrimSpace(v.Expression)
			}
			for _, action := range np.ValidatingBinding.Spec.ValidationActions {
				switch action {
				case admissionregistrationv1.Warn:
					out.warnings = append(out.warnings, msg)
				case admissionregistrationv1.Audit:
					out.audits = append(out.audits, msg)
				case admissionregistrationv1.Deny:
					if out.denial == "" {
						out.denial = np.Name() + ": " + msg
					}
				}
			}
		}
	}
	return out
}
