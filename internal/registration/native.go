package registration

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// The native engine: the same features as ValidatingAdmissionPolicies and
// MutatingAdmissionPolicies (admissionregistration.k8s.io/v1) that the API
// server evaluates in process, with the verdicts and messages of the
// webhook engine. A feature may need more than one policy (a Warn binding
// needs its own policy); each policy has one binding of the same name:
//
//	orkestra-gateway-<katalog>-deletion-protection          labelled objects
//	orkestra-gateway-<katalog>-deletion-protection-crds     CRDs with protectCRD
//	orkestra-gateway-<katalog>-strict-mode                  deny lifting the label
//	orkestra-gateway-<katalog>-strict-mode-break-glass      warn (Warn binding) and audit break-glass uses
//	orkestra-gateway-<katalog>-namespace-protection         Katalog CRD objects in refused namespaces
//	orkestra-gateway-<katalog>-namespace-protection-deletion  DELETE of restricted namespaces
//	orkestra-gateway-<katalog>-validate                     deny rules (field and CEL rules)
//	orkestra-gateway-<katalog>-validate-warn                warn rules (Warn binding)
//	orkestra-gateway-<katalog>-validate-audit               rules in audit mode (Audit binding)
//	orkestra-gateway-<katalog>-mutate                       MutatingAdmissionPolicy
//
// Every policy also matches one request that only the gateway makes: a
// dry-run UPDATE of its own TLS Secret annotated with the policy's name (a
// probe). A policy in force denies it (or warns, or mutates it), which is
// how a switch of engine knows the new objects enforce before it deletes
// the old ones. The probe is why the gateway's namespace is excluded with
// a matchCondition here rather than the namespaceSelector the webhooks
// use: the probe lives in that namespace.

// NativePart is one policy of a feature: its name suffix and kind.
type NativePart struct {
	Feature webhook.Feature
	Suffix  string
	// Mutating: a MutatingAdmissionPolicy (else validating).
	Mutating bool
	// Warn: the binding's validationActions are [Warn] (else [Deny]).
	Warn bool
	// Audit: the binding's validationActions are [Audit]: its failures
	// reach the API server's audit log only. Such a policy cannot answer a
	// probe (nothing of an audit reaches the client).
	Audit bool
}

// NativeParts lists every policy the native engine may register, in
// registration order.
var NativeParts = []NativePart{
	{Feature: webhook.DeletionProtection},
	{Feature: webhook.DeletionProtection, Suffix: "-crds"},
	{Feature: webhook.StrictMode},
	{Feature: webhook.StrictMode, Suffix: "-break-glass", Warn: true},
	{Feature: webhook.NamespaceProtection},
	{Feature: webhook.NamespaceProtection, Suffix: "-deletion"},
	{Feature: webhook.Validate},
	{Feature: webhook.Validate, Suffix: "-warn", Warn: true},
	{Feature: webhook.Validate, Suffix: "-audit", Audit: true},
	{Feature: webhook.Mutate, Mutating: true},
}

// Name is the policy's (and its binding's) name for a Katalog.
func (n NativePart) Name(katalog string) string { return ConfigName(katalog, n.Feature) + n.Suffix }

// NativePolicy is one desired policy with its binding.
type NativePolicy struct {
	Part NativePart
	// Exactly one pair is set, as Part.Mutating says.
	Validating        *admissionregistrationv1.ValidatingAdmissionPolicy
	ValidatingBinding *admissionregistrationv1.ValidatingAdmissionPolicyBinding
	Mutating          *admissionregistrationv1.MutatingAdmissionPolicy
	MutatingBinding   *admissionregistrationv1.MutatingAdmissionPolicyBinding
}

// Name is the policy's name.
func (n NativePolicy) Name() string {
	if n.Mutating != nil {
		return n.Mutating.Name
	}
	return n.Validating.Name
}

// The probe protocol (see policy.ProbeAnnotation).
const (
	ProbeAnnotation       = policy.ProbeAnnotation
	ProbeResultAnnotation = policy.ProbeResultAnnotation
)

// ProbeTarget and ProbeMessage: see the policy package.
var (
	ProbeTarget  = policy.ProbeTarget
	ProbeMessage = policy.ProbeMessage
)

// DesiredNative returns the policies of the features whose engine is
// native in engines, for a Katalog whose TLS Secret (the probe target) is
// secret in the gateway's namespace. Like Desired it is pure. A feature
// with nothing to enforce has no policy; an error means the rules do not
// compile to CEL (the check pass rejects such a Katalog for engine: native,
// and auto keeps those features on the webhook).
func DesiredNative(p *policy.Policy, ep Endpoint, engines map[webhook.Feature]policy.Engine) ([]NativePolicy, error) {
	if p == nil {
		return nil, nil
	}
	b := nativeBuilder{builder: builder{p: p, ep: ep}, secret: p.Certs.SecretName}
	var out []NativePolicy
	for _, part := range NativeParts {
		if engines[part.Feature] != policy.EngineNative {
			continue
		}
		np, ok, err := b.build(part)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", part.Name(p.Name), err)
		}
		if ok {
			out = append(out, np)
		}
	}
	return out, nil
}

// NativeProblems says, per feature, why its rules cannot be compiled to CEL
// (nil when they can): auto keeps such a feature on the webhook.
func NativeProblems(p *policy.Policy) map[webhook.Feature]error {
	out := map[webhook.Feature]error{}
	b := nativeBuilder{builder: builder{p: p}, secret: p.Certs.SecretName}
	for _, part := range NativeParts {
		if _, _, err := b.build(part); err != nil && out[part.Feature] == nil {
			out[part.Feature] = err
		}
	}
	return out
}

type nativeBuilder struct {
	builder
	secret string
}

func (b nativeBuilder) build(part NativePart) (NativePolicy, bool, error) {
	name := part.Name(b.p.Name)
	var spec *admissionregistrationv1.ValidatingAdmissionPolicySpec
	var err error
	switch part.Feature {
	case webhook.DeletionProtection:
		if part.Suffix == "" {
			spec = b.deletionProtection(name)
		} else {
			spec = b.crdDeletionProtection(name)
		}
	case webhook.StrictMode:
		spec = b.strictMode(name, part.Warn)
	case webhook.NamespaceProtection:
		if part.Suffix == "" {
			spec = b.namespaceProtection(name)
		} else {
			spec = b.namespaceDeletion(name)
		}
	case webhook.Validate:
		spec, err = b.validate(name, part)
	case webhook.Mutate:
		m, err := b.mutate(name)
		if err != nil || m == nil {
			return NativePolicy{}, false, err
		}
		pol := &admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: b.nativeMeta(part), Spec: *m}
		pol.APIVersion, pol.Kind = "admissionregistration.k8s.io/v1", "MutatingAdmissionPolicy"
		bind := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: b.nativeMeta(part),
			Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: name}}
		bind.APIVersion, bind.Kind = "admissionregistration.k8s.io/v1", "MutatingAdmissionPolicyBinding"
		return NativePolicy{Part: part, Mutating: pol, MutatingBinding: bind}, true, nil
	}
	if err != nil || spec == nil {
		return NativePolicy{}, false, err
	}
	pol := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: b.nativeMeta(part), Spec: *spec}
	pol.APIVersion, pol.Kind = "admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"
	action := admissionregistrationv1.Deny
	switch {
	case part.Warn:
		action = admissionregistrationv1.Warn
	case part.Audit:
		action = admissionregistrationv1.Audit
	}
	bind := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: b.nativeMeta(part),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name, ValidationActions: []admissionregistrationv1.ValidationAction{action}}}
	bind.APIVersion, bind.Kind = "admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"
	return NativePolicy{Part: part, Validating: pol, ValidatingBinding: bind}, true, nil
}

func (b nativeBuilder) nativeMeta(part NativePart) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: part.Name(b.p.Name), Labels: labels(b.p.Name, part.Feature)}
}

// ---- CEL pieces shared by the policies ----

var celStr = rules.CELString

// isProbe is true for the gateway's probe of the object named name: a
// dry-run UPDATE of its TLS Secret carrying the probe annotation.
func (b nativeBuilder) isProbe(name string) string {
	a := celStr(ProbeAnnotation)
	return fmt.Sprintf("(request.resource.group == '' && request.resource.resource == 'secrets' && "+celReqNamespace+" == %s && "+
		celReqName+" == %s && "+celDryRun+" && object != null && has(object.metadata.annotations) && "+
		"%s in object.metadata.annotations && object.metadata.annotations[%s] == %s)",
		celStr(b.ep.Namespace), celStr(b.secret), a, a, celStr(ProbeTarget(policy.EngineNative, name)))
}

// probeRule matches the probe request (the name is checked by isProbe too).
func (b nativeBuilder) probeRule() admissionregistrationv1.NamedRuleWithOperations {
	return admissionregistrationv1.NamedRuleWithOperations{
		ResourceNames:      []string{b.secret},
		RuleWithOperations: rule(admissionregistrationv1.NamespacedScope, []string{""}, []string{"v1"}, []string{"secrets"}, admissionregistrationv1.Update),
	}
}

// probeVariable and probeValidation: the first variable and validation of
// every validating policy. The other validations pass on the probe.
func (b nativeBuilder) probeVariable(name string) admissionregistrationv1.Variable {
	return admissionregistrationv1.Variable{Name: "probe", Expression: b.isProbe(name)}
}

func probeValidation(name string) admissionregistrationv1.Validation {
	return admissionregistrationv1.Validation{Expression: "!variables.probe", Message: ProbeMessage(ProbeTarget(policy.EngineNative, name))}
}

func named(rs ...admissionregistrationv1.RuleWithOperations) []admissionregistrationv1.NamedRuleWithOperations {
	out := make([]admissionregistrationv1.NamedRuleWithOperations, len(rs))
	for i, r := range rs {
		out[i] = admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: r}
	}
	return out
}

// exclusions are the namespaceSelector and matchConditions that keep
// policies away from the namespaces in excluded (as the webhooks'
// namespaceSelector does): a selector on the immutable name label for all
// but the gateway's own namespace, which a matchCondition excludes (except
// for the probe, which lives there).
func (b nativeBuilder) exclusions(name string, excluded []string) (*metav1.LabelSelector, []admissionregistrationv1.MatchCondition) {
	var others []string
	own := false
	for _, ns := range excluded {
		if ns == b.ep.Namespace {
			own = true
			continue
		}
		others = append(others, ns)
	}
	sel := excludeNamespaces(others)
	if sel == nil {
		sel = &metav1.LabelSelector{}
	}
	if !own {
		return sel, nil
	}
	return sel, []admissionregistrationv1.MatchCondition{{
		Name:       "exclude-gateway-namespace",
		Expression: fmt.Sprintf("%s != %s || %s", celReqNamespace, celStr(b.ep.Namespace), b.isProbe(name)),
	}}
}

func failurePolicy(settings policy.Endpoint, def policy.FailurePolicy) *admissionregistrationv1.FailurePolicyType {
	fp := admissionregistrationv1.FailurePolicyType(settings.FailurePolicy)
	if fp == "" {
		fp = admissionregistrationv1.FailurePolicyType(def)
	}
	return &fp
}

func matchResources(rules []admissionregistrationv1.NamedRuleWithOperations, nsSel, objSel *metav1.LabelSelector) *admissionregistrationv1.MatchResources {
	mp := admissionregistrationv1.Equivalent
	if nsSel == nil {
		nsSel = &metav1.LabelSelector{}
	}
	if objSel == nil {
		objSel = &metav1.LabelSelector{}
	}
	return &admissionregistrationv1.MatchResources{ResourceRules: rules, MatchPolicy: &mp, NamespaceSelector: nsSel, ObjectSelector: objSel}
}

func reason(r metav1.StatusReason) *metav1.StatusReason { return &r }

// The request's fields that its JSON form omits when empty: reading an
// absent one is an error in CEL, so every read is guarded.
const (
	celReqName      = "(has(request.name) ? request.name : '')"
	celReqNamespace = "(has(request.namespace) ? request.namespace : '')"
	celDryRun       = "(has(request.dryRun) && request.dryRun == true)"
	celUsername     = "(has(request.userInfo.username) ? request.userInfo.username : '')"
)

// CEL of the messages' parts, as the webhook handlers build them.
const (
	// objNamespace is the namespace an object lives in: "" for a Namespace.
	celObjNamespace = "((request.kind.group == '' && request.kind.kind == 'Namespace') ? '' : " + celReqNamespace + ")"
	// celKubectlResource is kubectl's resource argument: configmaps, websites.web.example.com.
	celKubectlResource = "(request.resource.resource + (request.resource.group != '' ? '.' + request.resource.group : ''))"
)

// celRequestName is the object's name as requestName has it: the request's,
// else the object's name, else its generateName with "*".
func celRequestName(obj string) string {
	return fmt.Sprintf("("+celReqName+" != '' ? "+celReqName+" : (%s != null && has(%s.metadata.name) && %s.metadata.name != '') ? string(%s.metadata.name) : "+
		"(%s != null && has(%s.metadata.generateName) && %s.metadata.generateName != '') ? string(%s.metadata.generateName) + '*' : '')",
		obj, obj, obj, obj, obj, obj, obj, obj)
}

// celDescribe names the object: "ConfigMap default/keep", "Namespace team-a".
func celDescribe(name string) string {
	return fmt.Sprintf("(request.kind.kind + ' ' + (%s != '' ? %s + '/' : '') + %s)", celObjNamespace, celObjNamespace, name)
}

// celLabelTrue is true when obj carries the protection label "true".
func celLabelTrue(obj string) string {
	l := celStr(policy.ProtectionLabel)
	return fmt.Sprintf("(%s != null && has(%s.metadata.labels) && %s in %s.metadata.labels && %s.metadata.labels[%s] == 'true')",
		obj, obj, l, obj, obj, l)
}

// celFirstMatch is the first of globs matching the CEL string s (as
// firstMatch does), the empty string when none does.
func celFirstMatch(s string, globs policy.Globs) string {
	out := "''"
	for i := len(globs) - 1; i >= 0; i-- {
		g := globs[i]
		var test string
		if !isGlob(g) {
			test = fmt.Sprintf("%s == %s", s, celStr(g))
		} else if re, err := globRegexp(g); err == nil {
			test = fmt.Sprintf("%s.matches(%s)", s, celStr(re))
		} else {
			continue // the check pass rejects malformed globs
		}
		out = fmt.Sprintf("(%s ? %s : %s)", test, celStr(g), out)
	}
	return out
}

// skipRegistrations keeps protection and strict mode off the webhook
// configurations of any orkestra gateway, as with the webhook engine (the
// API server never sends those to webhooks): a gateway must be able to
// delete its own when a feature is turned off or switches engine.
func skipRegistrations(probe string) admissionregistrationv1.MatchCondition {
	m := celStr(policy.ManagedByLabel)
	return admissionregistrationv1.MatchCondition{
		Name: "skip-gateway-registrations",
		Expression: fmt.Sprintf("%s || !(request.resource.group == 'admissionregistration.k8s.io' && oldObject != null && has(oldObject.metadata.labels) && "+
			"%s in oldObject.metadata.labels && oldObject.metadata.labels[%s] == %s)", probe, m, m, celStr(policy.ManagedByValue)),
	}
}

// ---- deletion protection ----

// deletionMessage is the deletion-protection handler's message: the CRD
// reason for a Katalog CRD with protectCRD, the label reason for a labelled
// object, both joined by "; it also ".
func (b nativeBuilder) deletionMessage() string {
	name := celRequestName("oldObject")
	var crdReason string
	entries := "''"
	for _, c := range b.crds() {
		if c.ProtectCRD {
			entries = fmt.Sprintf("(%s == %s ? %s : %s)", name, celStr(c.CRDName()), celStr(c.Name), entries)
		}
	}
	crdReason = fmt.Sprintf("((request.kind.group == 'apiextensions.k8s.io' && request.kind.kind == 'CustomResourceDefinition' && %s != '') ? "+
		"%s + %s + %s : '')",
		entries, celStr("is protected by Katalog "+b.p.Name+" (spec.crds."), entries,
		celStr(".deletionProtection.protectCRD: true); set protectCRD: false and apply the Katalog to delete it"))
	labelReason := fmt.Sprintf("(%s ? %s + %s + ' ' + %s + (%s != '' ? ' -n ' + %s : '') + %s : '')",
		celLabelTrue("oldObject"),
		celStr("is protected by "+policy.ProtectionLabel+"=true; remove the label to delete it: kubectl label "), celKubectlResource,
		name, celObjNamespace, celObjNamespace, celStr(" "+policy.ProtectionLabel+"-"))
	return fmt.Sprintf("%s + ' ' + [%s, %s].filter(r, r != '').join('; it also ')", celDescribe(name), crdReason, labelReason)
}

func (b nativeBuilder) deletionProtection(name string) *admissionregistrationv1.ValidatingAdmissionPolicySpec {
	dp := b.p.DeletionProtection
	if !dp.Enabled {
		return nil
	}
	probe := b.isProbe(name)
	rs := append(named(rule(admissionregistrationv1.AllScopes, []string{"*"}, []string{"*"}, []string{"*/*"}, admissionregistrationv1.Delete)), b.probeRule())
	conds := []admissionregistrationv1.MatchCondition{
		{Name: "probe-or-delete", Expression: "request.operation == 'DELETE' || " + probe},
		skipRegistrations(probe),
	}
	var unprotected []string
	for _, c := range b.crds() {
		if !c.ProtectCRs {
			unprotected = append(unprotected, fmt.Sprintf("(request.resource.group == %s && request.resource.resource == %s)", celStr(c.Group), celStr(c.Plural)))
		}
	}
	if len(unprotected) > 0 {
		conds = append(conds, admissionregistrationv1.MatchCondition{
			Name:       "skip-kinds-without-protect-crs",
			Expression: probe + " || !(" + strings.Join(unprotected, " || ") + ")",
		})
	}
	return &admissionregistrationv1.ValidatingAdmissionPolicySpec{
		FailurePolicy:    failurePolicy(dp.Endpoint, policy.Fail),
		MatchConstraints: matchResources(rs, nil, protectionSelector()),
		MatchConditions:  conds,
		Variables:        []admissionregistrationv1.Variable{b.probeVariable(name)},
		Validations: []admissionregistrationv1.Validation{
			probeValidation(name),
			{Expression: "variables.probe", MessageExpression: b.deletionMessage(), Message: "the object is protected from deletion", Reason: reason(metav1.StatusReasonForbidden)},
		},
	}
}

func (b nativeBuilder) crdDeletionProtection(name string) *admissionregistrationv1.ValidatingAdmissionPolicySpec {
	dp := b.p.DeletionProtection
	if !dp.Enabled {
		return nil
	}
	var protected []string
	for _, c := range b.crds() {
		if c.ProtectCRD {
			protected = append(protected, c.CRDName())
		}
	}
	if len(protected) == 0 {
		return nil
	}
	rs := append(named(rule(admissionregistrationv1.ClusterScope, []string{"apiextensions.k8s.io"}, []string{"v1"}, []string{"customresourcedefinitions"}, admissionregistrationv1.Delete)), b.probeRule())
	return &admissionregistrationv1.ValidatingAdmissionPolicySpec{
		FailurePolicy:    failurePolicy(dp.Endpoint, policy.Fail),
		MatchConstraints: matchResources(rs, nil, nil),
		MatchConditions: []admissionregistrationv1.MatchCondition{{
			Name:       "protected-crd-names",
			Expression: b.isProbe(name) + " || (request.operation == 'DELETE' && oldObject != null && oldObject.metadata.name in " + celList(protected) + ")",
		}},
		Variables: []admissionregistrationv1.Variable{b.probeVariable(name)},
		Validations: []admissionregistrationv1.Validation{
			probeValidation(name),
			{Expression: "variables.probe", MessageExpression: b.deletionMessage(), Message: "the CustomResourceDefinition is protected from deletion", Reason: reason(metav1.StatusReasonForbidden)},
		},
	}
}

// ---- strict mode ----

func (b nativeBuilder) strictMode(name string, warn bool) *admissionregistrationv1.ValidatingAdmissionPolicySpec {
	dp := b.p.DeletionProtection
	if !dp.Enabled || !dp.StrictMode {
		return nil
	}
	var allowed []string
	if len(dp.BreakGlass.Users) > 0 {
		allowed = append(allowed, celUsername+" in "+celList(dp.BreakGlass.Users))
	}
	if len(dp.BreakGlass.Groups) > 0 {
		allowed = append(allowed, "(has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in "+celList(dp.BreakGlass.Groups)+"))")
	}
	if warn && len(allowed) == 0 {
		return nil // nobody can break glass: nothing to warn about
	}
	breakGlass := "false"
	if len(allowed) > 0 {
		breakGlass = "(" + strings.Join(allowed, " || ") + ")"
	}
	probe := b.isProbe(name)
	l := celStr(policy.ProtectionLabel)
	nsSel, conds := b.exclusions(name, b.systemNamespaces())
	// The gateway's own TLS Secret stays under strict mode in its namespace,
	// as with the webhook engine: its label is what protects it.
	for i := range conds {
		if conds[i].Name == "exclude-gateway-namespace" {
			conds[i].Expression += fmt.Sprintf(" || (request.resource.group == '' && request.resource.resource == 'secrets' && request.name == %s)",
				celStr(b.p.Certs.SecretName))
		}
	}
	conds = append(conds,
		admissionregistrationv1.MatchCondition{
			Name: "protection-label-lifted",
			Expression: probe + " || object == null || !has(object.metadata.labels) || !(" + l + " in object.metadata.labels) || " +
				"object.metadata.labels[" + l + "] != 'true'",
		},
		admissionregistrationv1.MatchCondition{Name: "was-protected", Expression: probe + " || " + celLabelTrue("oldObject")},
		skipRegistrations(probe),
	)
	name2 := celRequestName("oldObject")
	change := fmt.Sprintf("((object != null && has(object.metadata.labels) && %s in object.metadata.labels) ? %s + string(object.metadata.labels[%s]) + '\"' : %s)",
		l, celStr("changing label "+policy.ProtectionLabel+" from \"true\" to \""), l, celStr("removing label "+policy.ProtectionLabel+"=true"))
	spec := &admissionregistrationv1.ValidatingAdmissionPolicySpec{
		FailurePolicy:    failurePolicy(dp.Endpoint, policy.Fail),
		MatchConstraints: matchResources(named(rule(admissionregistrationv1.AllScopes, []string{"*"}, []string{"*"}, []string{"*/*"}, admissionregistrationv1.Update)), nsSel, protectionSelector()),
		MatchConditions:  conds,
		Variables: []admissionregistrationv1.Variable{
			b.probeVariable(name),
			{Name: "breakGlass", Expression: breakGlass},
			{Name: "change", Expression: change},
		},
	}
	if !warn {
		spec.Validations = []admissionregistrationv1.Validation{
			probeValidation(name),
			{
				Expression: "variables.probe || variables.breakGlass",
				MessageExpression: fmt.Sprintf("%s + ': ' + variables.change + %s", celDescribe(name2),
					celStr(" is not allowed in strict mode; only the break-glass users and groups of Katalog "+b.p.Name+
						" (security.deletionProtection.breakGlass) may lift deletion protection")),
				Message: "lifting deletion protection is not allowed in strict mode",
				Reason:  reason(metav1.StatusReasonForbidden),
			},
		}
		return spec
	}
	use := fmt.Sprintf("'break-glass: ' + variables.change + ' by ' + "+celUsername+" + ' lifts deletion protection of ' + %s + '; the use is logged'", celDescribe(name2))
	spec.Validations = []admissionregistrationv1.Validation{
		probeValidation(name),
		{Expression: "variables.probe || !variables.breakGlass", MessageExpression: use, Message: "break-glass: deletion protection lifted; the use is logged"},
	}
	// "Logged": the API server's audit log records each use.
	spec.AuditAnnotations = []admissionregistrationv1.AuditAnnotation{{
		Key:             "break-glass",
		ValueExpression: "(!variables.probe && variables.breakGlass) ? " + use + " : ''", // empty: no annotation
	}}
	return spec
}

// ---- namespace protection ----

// celRefuse is refuse in CEL: why lists refuse namespace ns (empty when they
// accept it); where names the lists in the Katalog.
func celRefuse(ns string, lists policy.Namespaces, where string) string {
	restricted := celFirstMatch(ns, lists.Restricted)
	out := "''"
	if len(lists.Allowed) > 0 {
		out = fmt.Sprintf("(%s != '' ? '' : 'namespace \"' + %s + %s)", celFirstMatch(ns, lists.Allowed), ns,
			celStr("\" is not allowed ("+where+".allowedNamespaces: ["+strings.Join(lists.Allowed, ", ")+"])"))
	}
	if len(lists.Restricted) > 0 {
		out = fmt.Sprintf("[%s].map(g, g != '' ? 'namespace \"' + %s + %s + g + ')' : %s)[0]", restricted, ns,
			celStr("\" is restricted ("+where+".restrictedNamespaces: "), out)
	}
	return out
}

func (b nativeBuilder) namespaceProtection(name string) *admissionregistrationv1.ValidatingAdmissionPolicySpec {
	np := b.p.NamespaceProtection
	if !np.Enabled {
		return nil
	}
	lists := []policy.Namespaces{np.Namespaces}
	var rs []admissionregistrationv1.RuleWithOperations
	why := "''"
	katalogWhy := celRefuse(celReqNamespace, np.Namespaces, "security.namespaceProtection")
	for _, c := range b.crds() {
		if !c.Namespaced || (np.Namespaces.Empty() && c.Namespaces.Empty()) {
			continue
		}
		lists = append(lists, c.Namespaces)
		rs = append(rs, rule(admissionregistrationv1.NamespacedScope, []string{c.Group}, crdVersions(c), []string{c.Plural},
			admissionregistrationv1.Create, admissionregistrationv1.Update))
		entry := fmt.Sprintf("(request.resource.group == %s && request.resource.resource == %s)", celStr(c.Group), celStr(c.Plural))
		why = fmt.Sprintf("(%s ? (variables.katalogWhy != '' ? variables.katalogWhy : %s) : %s)", entry,
			celRefuse(celReqNamespace, c.Namespaces, "spec.crds."+c.Name), why)
	}
	if len(rs) == 0 {
		return nil
	}
	var exclude []string
	for _, ns := range b.systemNamespaces() {
		if allowedByAll(lists, ns) {
			exclude = append(exclude, ns)
		}
	}
	probe := b.isProbe(name)
	nsSel, conds := b.exclusions(name, exclude)
	conds = append(conds, admissionregistrationv1.MatchCondition{
		Name:       "not-being-deleted",
		Expression: probe + " || request.operation != 'UPDATE' || oldObject == null || !has(oldObject.metadata.deletionTimestamp)",
	})
	return &admissionregistrationv1.ValidatingAdmissionPolicySpec{
		FailurePolicy:    failurePolicy(np.Endpoint, policy.Fail),
		MatchConstraints: matchResources(append(named(rs...), b.probeRule()), nsSel, nil),
		MatchConditions:  conds,
		Variables: []admissionregistrationv1.Variable{
			b.probeVariable(name),
			{Name: "katalogWhy", Expression: katalogWhy},
			{Name: "why", Expression: why},
		},
		Validations: []admissionregistrationv1.Validation{
			probeValidation(name),
			{
				Expression:        "variables.probe || variables.why == ''",
				MessageExpression: celDescribe(celRequestName("object")) + " + ': ' + variables.why",
				Message:           "the namespace is restricted for this kind",
				Reason:            reason(metav1.StatusReasonForbidden),
			},
		},
	}
}

func (b nativeBuilder) namespaceDeletion(name string) *admissionregistrationv1.ValidatingAdmissionPolicySpec {
	np := b.p.NamespaceProtection
	restricted := np.Namespaces.Restricted
	if !np.Enabled || len(restricted) == 0 {
		return nil
	}
	first := celFirstMatch(celReqName, restricted)
	rs := append(named(rule(admissionregistrationv1.ClusterScope, []string{""}, []string{"v1"}, []string{"namespaces"}, admissionregistrationv1.Delete)), b.probeRule())
	return &admissionregistrationv1.ValidatingAdmissionPolicySpec{
		FailurePolicy:    failurePolicy(np.Endpoint, policy.Fail),
		MatchConstraints: matchResources(rs, nil, nil),
		MatchConditions: []admissionregistrationv1.MatchCondition{{
			Name:       "restricted-namespaces",
			Expression: b.isProbe(name) + " || (request.operation == 'DELETE' && " + first + " != '')",
		}},
		Variables: []admissionregistrationv1.Variable{b.probeVariable(name)},
		Validations: []admissionregistrationv1.Validation{
			probeValidation(name),
			{
				Expression: "variables.probe",
				MessageExpression: fmt.Sprintf("'Namespace ' + "+celReqName+" + %s + %s + %s", celStr(" is protected by Katalog "+b.p.Name+
					" (security.namespaceProtection.restrictedNamespaces: "), first, celStr(") and cannot be deleted; remove it from the list to delete it")),
				Message: "the namespace is protected from deletion",
				Reason:  reason(metav1.StatusReasonForbidden),
			},
		},
	}
}

// ---- validation ----

// entryTest is true for a request about the entry's objects.
func entryTest(c *policy.CRD) string {
	return fmt.Sprintf("(request.resource.group == %s && request.resource.resource == %s)", celStr(c.Group), celStr(c.Plural))
}

func qualifiedKind(c *policy.CRD) string {
	if c.Group == "" {
		return c.Kind
	}
	return c.Kind + "." + c.Group
}

// validate builds the policy of one part of the entries' validation
// rules: the deny rules (part.Warn and part.Audit false), the warn rules or
// the rules in audit mode. The deny policy has one validation per entry
// whose message lists every failure of its field rules, one per failing
// element of a [*] rule, as the webhook's 422 does (a policy reports only
// its first failing validation), then one validation per CEL rule. The
// warn policy has one validation per warning the webhook engine can give
// (a [*] rule: one per failing element, up to warnSlots). The audit policy
// has one validation per rule, its message naming the rule and every
// failure as the webhook's audit annotation does.
func (b nativeBuilder) validate(name string, part NativePart) (*admissionregistrationv1.ValidatingAdmissionPolicySpec, error) {
	if !b.p.Admission.Enabled {
		return nil, nil
	}
	vars := []admissionregistrationv1.Variable{b.probeVariable(name)}
	for _, h := range rules.CELHelpers() {
		vars = append(vars, admissionregistrationv1.Variable{Name: h.Name, Expression: h.Expression})
	}
	// The object under admission; on DELETE (only if an entry validates
	// deletions) the one being deleted.
	root := "object"
	for _, c := range b.crds() {
		if c.Validate && slices.Contains(c.Operations, "DELETE") {
			root = "variables.obj"
			vars = append(vars, admissionregistrationv1.Variable{Name: "obj", Expression: "request.operation == 'DELETE' ? oldObject : object"})
			break
		}
	}
	mine := func(warn, audit bool) bool {
		if part.Audit {
			return audit
		}
		return !audit && warn == part.Warn
	}
	validations := []admissionregistrationv1.Validation{probeValidation(name)}
	var rs []admissionregistrationv1.RuleWithOperations
	for k, c := range b.crds() {
		if !c.Validate || c.Validation == nil {
			continue
		}
		prefix := fmt.Sprintf("e%d", k)
		scope := rules.NewCELScope(root, prefix+"c")
		compiled, err := c.Validation.CEL(scope)
		if err != nil {
			return nil, fmt.Errorf("spec.crds.%s.validation: %w", c.Name, err)
		}
		var fields []rules.CELRule
		for _, r := range compiled {
			if mine(r.Warn, r.Audit) {
				fields = append(fields, r)
			}
		}
		var exprs []rules.Expression
		for _, e := range c.Validation.Expressions() {
			if mine(e.Warn, e.Audit) {
				exprs = append(exprs, e)
			}
		}
		if len(fields)+len(exprs) == 0 {
			continue
		}
		rs = append(rs, crdRule(c))
		entry := entryTest(c)
		for _, v := range scope.Variables() {
			vars = append(vars, admissionregistrationv1.Variable{Name: v.Name, Expression: v.Expression})
		}
		// One variable per field rule: its failures, computed once.
		failures := make([]string, len(fields))
		for j, r := range fields {
			failures[j] = fmt.Sprintf("%sf%d", prefix, j)
			vars = append(vars, admissionregistrationv1.Variable{Name: failures[j], Expression: r.Failures})
		}
		switch {
		case part.Audit:
			for j, r := range fields {
				f := "variables." + failures[j]
				validations = append(validations, admissionregistrationv1.Validation{
					Expression: fmt.Sprintf("variables.probe || !%s || size(%s) == 0", entry, f),
					MessageExpression: fmt.Sprintf("size(%s) == 0 ? '' : %s", f, oneLine(fmt.Sprintf("%s + %s.map(r, %s).join('; ')",
						celStr(auditPrefix(c, r.Index, r.Name, r.Warn)), f, causeText("r", !r.Warn)))),
					Message: auditPrefix(c, r.Index, r.Name, r.Warn) + flat(r.Field+": "+r.Message),
				})
			}
		case part.Warn:
			for j, r := range fields {
				validations = append(validations, warnValidations(entry, prefix, "variables."+failures[j], r, &vars)...)
			}
		default:
			if len(fields) > 0 {
				validations = append(validations, denyValidation(b.p.Name, c, entry, prefix, root, fields, failures, &vars))
			}
		}
		for _, e := range exprs {
			validations = append(validations, celRuleValidation(c, entry, e))
		}
	}
	if len(rs) == 0 {
		return nil, nil
	}
	nsSel, conds := b.exclusions(name, b.systemNamespaces())
	all := append(named(rs...), b.probeRule())
	return &admissionregistrationv1.ValidatingAdmissionPolicySpec{
		FailurePolicy:    failurePolicy(b.p.Admission.Endpoint, policy.Ignore),
		MatchConstraints: matchResources(all, nsSel, nil),
		MatchConditions:  conds,
		Variables:        vars,
		Validations:      validations,
	}, nil
}

// causeText is the CEL text of one failure record r ([field, value,
// message]) as the webhook engine writes it: "field: Invalid value: V:
// message" (withValue, the value not null) or "field: message".
func causeText(r string, withValue bool) string {
	if !withValue {
		return fmt.Sprintf("%s[0] + ': ' + %s[2]", r, r)
	}
	return fmt.Sprintf("%s[0] + ': ' + (%s[1] != null ? 'Invalid value: ' + %s + ': ' : '') + %s[2]", r, r, rules.CELValueString(r+"[1]"), r)
}

// denyValidation is the validation of an entry's deny field rules: the
// webhook's 422 message, listing every failure.
func denyValidation(katalog string, c *policy.CRD, entry, prefix, root string, fields []rules.CELRule, failures []string, vars *[]admissionregistrationv1.Variable) admissionregistrationv1.Validation {
	refs := make([]string, len(failures))
	ok := make([]string, len(failures))
	for j, f := range failures {
		refs[j] = "variables." + f
		// A rule's pass test builds no list; a [*] rule has none.
		ok[j] = fields[j].Passes
		if ok[j] == "" {
			ok[j] = fmt.Sprintf("size(variables.%s) == 0", f)
		}
	}
	// ok decides; the failures' texts (with the offending values through
	// one JSON encoder) are computed only for a denial.
	*vars = append(*vars,
		admissionregistrationv1.Variable{Name: prefix + "ok", Expression: strings.Join(ok, " && ")},
		admissionregistrationv1.Variable{Name: prefix + "fail", Expression: fmt.Sprintf("[%s].flatten().map(r, %s)", strings.Join(refs, ", "), causeText("r", true))},
	)
	failing := fmt.Sprintf("variables.%sfail", prefix)
	return admissionregistrationv1.Validation{
		Expression: fmt.Sprintf("variables.probe || !%s || variables.%sok", entry, prefix),
		// The API server evaluates message expressions on every request,
		// failing or not: an object that passes renders nothing.
		MessageExpression: fmt.Sprintf("variables.%sok ? '' : %s", prefix, oneLine(fmt.Sprintf("%s + ' \"' + %s + '\" is invalid: ' + (size(%s) > 1 ? '[' + %s.join(', ') + ']' : %s[0])",
			celStr(qualifiedKind(c)), celRequestName(root), failing, failing, failing))),
		Message: qualifiedKind(c) + " is invalid: it fails the validation rules of Katalog " + katalog,
		Reason:  reason(metav1.StatusReasonInvalid),
	}
}

// warnSlots bounds the warnings of one [*] warn rule: a policy warns once
// per failing validation, so such a rule has one validation per warning,
// the last one joining the failures beyond.
const warnSlots = 16

// warnValidations are the validations of one warn field rule r (failures
// f): one warning per failure, as the webhook engine gives them.
func warnValidations(entry, prefix, f string, r rules.CELRule, vars *[]admissionregistrationv1.Variable) []admissionregistrationv1.Validation {
	static := flat(r.Field + ": " + r.Message)
	if !r.Each {
		// At most one failure.
		return []admissionregistrationv1.Validation{{
			Expression:        fmt.Sprintf("variables.probe || !%s || size(%s) == 0", entry, f),
			MessageExpression: fmt.Sprintf("size(%s) == 0 ? '' : %s", f, oneLine(causeText(f+"[0]", false))),
			Message:           static,
		}}
	}
	w := fmt.Sprintf("%sw%d", prefix, r.Index)
	*vars = append(*vars, admissionregistrationv1.Variable{Name: w, Expression: fmt.Sprintf("%s.map(r, %s)", f, causeText("r", false))})
	w = "variables." + w
	out := make([]admissionregistrationv1.Validation, warnSlots)
	for k := range out {
		text := fmt.Sprintf("%s[%d]", w, k)
		if k == warnSlots-1 {
			text = fmt.Sprintf("%s.slice(%d, size(%s)).join(', ')", w, k, w)
		}
		out[k] = admissionregistrationv1.Validation{
			Expression:        fmt.Sprintf("variables.probe || !%s || size(%s) <= %d", entry, w, k),
			MessageExpression: fmt.Sprintf("size(%s) <= %d ? '' : %s", w, k, oneLine(text)),
			Message:           static,
		}
	}
	return out
}

// auditPrefix starts the message of a rule in audit mode, as the
// webhook's audit annotation does: "<entry>/<rule> would deny: ".
func auditPrefix(c *policy.CRD, index int, name string, warn bool) string {
	would := "would deny"
	if warn {
		would = "would warn"
	}
	return c.Name + "/" + rules.RuleID(index, name) + " " + would + ": "
}

// celRuleValidation passes a CEL rule through: its expression, message and
// messageExpression, evaluated only for the entry's requests (and never on
// the probe). A rule in audit mode names itself in its message.
func celRuleValidation(c *policy.CRD, entry string, e rules.Expression) admissionregistrationv1.Validation {
	skip := fmt.Sprintf("variables.probe || !%s", entry)
	v := admissionregistrationv1.Validation{Expression: fmt.Sprintf("%s || (%s)", skip, e.Expression), Message: e.Message}
	if e.MessageExpression != "" {
		v.MessageExpression = fmt.Sprintf("(%s) ? '' : (%s)", skip, e.MessageExpression)
	}
	if e.Audit {
		prefix := auditPrefix(c, e.Index, e.Name, e.Warn)
		msg := strings.TrimSpace(e.Message)
		if msg == "" {
			msg = "failed expression: " + strings.TrimSpace(e.Expression)
		}
		v.Message = prefix + msg
		if e.MessageExpression != "" {
			v.MessageExpression = fmt.Sprintf("(%s) ? '' : %s + (%s)", skip, celStr(prefix), e.MessageExpression)
		}
	}
	return v
}

// oneLine keeps a message on one line: the API server drops a message
// expression's result that holds a line break.
func oneLine(expr string) string { return "(" + expr + ").replace('\\n', ' ')" }

func flat(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// ---- mutation ----

func (b nativeBuilder) mutate(name string) (*admissionregistrationv1.MutatingAdmissionPolicySpec, error) {
	if !b.p.Admission.Enabled {
		return nil, nil
	}
	probe := b.isProbe(name)
	mutations := []admissionregistrationv1.Mutation{{
		PatchType: admissionregistrationv1.PatchTypeJSONPatch,
		JSONPatch: &admissionregistrationv1.JSONPatch{Expression: fmt.Sprintf("%s ? [JSONPatch{op: 'add', path: %s, value: %s}] : []",
			probe, celStr("/metadata/annotations/"+strings.ReplaceAll(ProbeResultAnnotation, "/", "~1")), celStr(ProbeTarget(policy.EngineNative, name)))},
	}}
	var rs []admissionregistrationv1.RuleWithOperations
	for _, c := range b.crds() {
		if !c.Mutate || c.Mutation == nil {
			continue
		}
		r := crdRule(c)
		ops := r.Operations[:0:0]
		for _, op := range r.Operations {
			if op != admissionregistrationv1.Delete { // a DELETE has no object to mutate
				ops = append(ops, op)
			}
		}
		if len(ops) == 0 {
			continue
		}
		r.Operations = ops
		rs = append(rs, r)
		patches, err := c.Mutation.CELPatch("object")
		if err != nil {
			return nil, fmt.Errorf("spec.crds.%s.mutation: %w", c.Name, err)
		}
		for _, p := range patches {
			mutations = append(mutations, admissionregistrationv1.Mutation{
				PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: fmt.Sprintf("%s ? %s : []", entryTest(c), p)},
			})
		}
	}
	if len(rs) == 0 {
		return nil, nil
	}
	nsSel, conds := b.exclusions(name, b.systemNamespaces())
	return &admissionregistrationv1.MutatingAdmissionPolicySpec{
		FailurePolicy:      failurePolicy(b.p.Admission.Endpoint, policy.Ignore),
		MatchConstraints:   matchResources(append(named(rs...), b.probeRule()), nsSel, nil),
		MatchConditions:    conds,
		Mutations:          mutations,
		ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
	}, nil
}

// sortedNames returns the names of native policies in order (for tests and logs).
func sortedNames(ps []NativePolicy) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name()
	}
	sort.Strings(out)
	return out
}
