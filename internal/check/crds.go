package check

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// operations an admission webhook can match, as in admissionregistration/v1.
var operations = []string{"CREATE", "UPDATE", "DELETE", "CONNECT"}

var defaultOperations = []string{"CREATE", "UPDATE"}

// crds checks every spec.crds entry (K04..K17) in file order, so that a
// finding about "the second entry" points at the later one.
func (p *pass) crds() {
	if p.k.Spec == nil {
		return
	}
	names := make([]string, 0, len(p.k.Spec.CRDs))
	for name := range p.k.Spec.CRDs {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := p.f.Pos("spec.crds."+names[i]), p.f.Pos("spec.crds."+names[j])
		if a != b {
			return a.Line < b.Line || (a.Line == b.Line && a.Column < b.Column)
		}
		return names[i] < names[j]
	})

	claimed := map[string]string{} // group/plural -> entry name
	for _, name := range names {
		c := p.crd(name, p.k.Spec.CRDs[name])
		if c == nil {
			continue
		}
		if c.Plural != "" && (c.Group != "" || c.BuiltIn) {
			key := c.Plural + "." + c.Group
			if c.Group == "" {
				key = c.Plural + " (core group)"
			}
			if first, ok := claimed[key]; ok {
				p.errorf("K07", "spec.crds."+name, "merge the two entries into one",
					"entries %q and %q both claim %s", first, name, key)
			} else {
				claimed[key] = name
			}
		}
		p.pol.CRDs = append(p.pol.CRDs, c)
	}
	sort.Slice(p.pol.CRDs, func(i, j int) bool { return p.pol.CRDs[i].Name < p.pol.CRDs[j].Name })
}

// crd checks and compiles one entry.
func (p *pass) crd(name string, e *katalog.CRD) *policy.CRD {
	base := "spec.crds." + name
	if msg := dnsLabel(name); msg != "" {
		p.errorf("K04", base, "name entries with lowercase letters, digits and '-', e.g. website",
			"CRD entry name %q is not a DNS-1123 label: %s", name, msg)
	}
	if e == nil {
		p.errorf("K05", base, "add apiTypes {group, version, kind, plural} or crdFile",
			"CRD entry %q is empty", name)
		return nil
	}
	c := &policy.CRD{Name: name}
	def := p.identity(base, e, c)
	switch {
	case e.Conversion != nil && c.BuiltIn:
		p.errorf("K16", base+".conversion", "remove conversion: the API server converts between the versions of its own resources",
			"%s is a built-in resource (group %q); the gateway converts only custom resources", c.Kind, c.Group)
	case e.Conversion != nil:
		c.Conversion = p.conversion(base, e, c, def)
	}
	p.rules(base, e, c)
	p.protectionLabelValues(base, e)
	p.webhooks(base, e, c)
	c.Namespaces = p.namespaces(base, e.AllowedNamespaces, e.RestrictedNamespaces)
	if np := p.pol.NamespaceProtection; c.BuiltIn && c.Namespaced && np.Enabled && (refuses(np.Namespaces, "kube-system") || refuses(c.Namespaces, "kube-system")) {
		p.warnf("K13", p.firstOf(base+".allowedNamespaces", base+".restrictedNamespaces", base+".apiTypes"),
			"list the namespaces namespace protection restricts without kube-system, or leave built-in kinds to validation rules",
			"namespace protection refuses %s in kube-system: the cluster's own %s there (the control plane's, DNS, networking) would be refused too", c.Plural, c.Plural)
	}
	if !c.Namespaced && !c.Namespaces.Empty() {
		p.warnf("K13", p.firstOf(base+".allowedNamespaces", base+".restrictedNamespaces"),
			"remove the namespace lists, or set namespaced: true if the CRD is namespaced",
			"%s is cluster-scoped; its namespace lists have no effect", name)
	}
	// Labelled objects of every resource are protected, so protectCRs
	// defaults to true with or without a block. Deleting a CRD deletes its
	// objects without admission (the API server's finalizer), labels or
	// not: protectCRD follows protectCRs unless the entry says otherwise.
	var dp katalog.CRDDeletionProtection
	if e.DeletionProtection != nil {
		dp = *e.DeletionProtection
	}
	c.ProtectCRs = boolOr(dp.ProtectCRs, true)
	c.ProtectCRD = boolOr(dp.ProtectCRD, c.ProtectCRs && !c.BuiltIn)
	switch {
	case c.BuiltIn && c.ProtectCRD:
		p.errorf("K14", base+".deletionProtection.protectCRD", "remove protectCRD; protectCRs protects the labelled objects",
			"%s is a built-in resource (group %q): it has no CustomResourceDefinition to protect", c.Kind, c.Group)
		c.ProtectCRD = false
	case !c.BuiltIn && c.ProtectCRs && !c.ProtectCRD && p.pol.DeletionProtection.Enabled:
		p.warnf("K14", base+".deletionProtection.protectCRD", "remove protectCRD: false so that it follows protectCRs, or set protectCRs: false if labelled objects of this kind need no protection",
			"protectCRs without protectCRD: deleting the CRD deletes every %s with it, labelled or not, and no webhook sees those deletions", name)
	}
	// Protection flags mean "is protected", so they follow the switch.
	if !p.pol.DeletionProtection.Enabled {
		c.ProtectCRD, c.ProtectCRs = false, false
	}
	return c
}

// firstOf returns the first of fields that is written in the file.
func (p *pass) firstOf(fields ...string) string {
	for _, f := range fields {
		if p.has(f) {
			return f
		}
	}
	return fields[0]
}

// identity resolves group/version/kind/plural/scope from apiTypes and
// crdFile (K05, K06). It returns the CRD from crdFile, nil without one.
func (p *pass) identity(base string, e *katalog.CRD, c *policy.CRD) *apiextv1.CustomResourceDefinition {
	def := p.crdFile(base, e, c)
	at := p.apiTypes(base, e, c)
	p.names(base, e, at, def, c)
	p.apiVersion(base, e, at, def, c)
	p.apiTypesShape(base, at)
	p.scope(base, e, def, c)
	return def
}

// crdFile loads the entry's crdFile into c.Definition (K06); nil without
// one, or when it cannot be read.
func (p *pass) crdFile(base string, e *katalog.CRD, c *policy.CRD) *apiextv1.CustomResourceDefinition {
	if e.CRDFile == "" {
		return nil
	}
	d, _, err := katalog.LoadCRD(p.f.Path, e.CRDFile)
	if err != nil {
		p.errorf("K06", base+".crdFile",
			"crdFile is relative to the Katalog's directory and must hold one apiextensions.k8s.io/v1 CustomResourceDefinition",
			"crdFile %q: %v", e.CRDFile, err)
		return nil
	}
	c.Definition = d
	return d
}

// apiTypes is the entry's apiTypes, empty when not written; an entry with
// neither apiTypes nor crdFile names no type (K05).
func (p *pass) apiTypes(base string, e *katalog.CRD, c *policy.CRD) *katalog.APITypes {
	if e.APITypes != nil {
		return e.APITypes
	}
	if e.CRDFile == "" {
		p.errorf("K05", base, "add apiTypes {group, version, kind, plural} or crdFile",
			"CRD entry %q names no API type", c.Name)
	}
	return &katalog.APITypes{}
}

// names resolves the group, kind and plural, each from apiTypes, else the
// CRD file, and whether the entry is a built-in resource.
func (p *pass) names(base string, e *katalog.CRD, at *katalog.APITypes, def *apiextv1.CustomResourceDefinition, c *policy.CRD) {
	var fileGroup, fileKind, filePlural string
	if def != nil {
		fileGroup, fileKind, filePlural = def.Spec.Group, def.Spec.Names.Kind, def.Spec.Names.Plural
	}
	c.Group = p.name(base, e, def, "group", at.Group, fileGroup)
	c.Kind = p.name(base, e, def, "kind", at.Kind, fileKind)
	c.Plural = p.name(base, e, def, "plural", at.Plural, filePlural)
	// A resource of the API server's own groups: no CRD of ours.
	c.BuiltIn = def == nil && e.CRDFile == "" && e.APITypes != nil && policy.BuiltInGroup(c.Group) &&
		(c.Group != "" || p.has(base+".apiTypes.group"))
}

// name is one of apiTypes' group, kind and plural (key): the value written
// in apiTypes, else the CRD file's. The two must agree (K06), and one of
// them must give it (K05).
func (p *pass) name(base string, e *katalog.CRD, def *apiextv1.CustomResourceDefinition, key, fromAPITypes, fromFile string) string {
	f := base + ".apiTypes." + key
	// group: "" is written, not missing: the core group (Pods, Services).
	core := key == "group" && fromAPITypes == "" && p.has(f)
	switch {
	case fromAPITypes != "" && def != nil && fromAPITypes != fromFile:
		p.errorf("K06", f, fmt.Sprintf("make apiTypes.%s match the CRD file, or drop it from apiTypes", key),
			"apiTypes.%s %q disagrees with crdFile's %q", key, fromAPITypes, fromFile)
	case core && def != nil:
		p.errorf("K06", f, "drop apiTypes.group, the CRD file gives it", "apiTypes.group \"\" (the core group) disagrees with crdFile's %q", fromFile)
	case fromAPITypes == "" && def == nil && e.CRDFile == "" && e.APITypes != nil && !core:
		hint := fmt.Sprintf("add apiTypes.%s, or give a crdFile", key)
		if key == "group" {
			hint = `add apiTypes.group (group: "" for the core group of Pods and Services), or give a crdFile`
		}
		p.errorf("K05", f, hint, "apiTypes.%s is missing", key)
	}
	if fromAPITypes != "" {
		return fromAPITypes
	}
	return fromFile
}

// apiVersion resolves the version rules are written against (apiTypes,
// else the CRD's storage version) and every version known for the entry.
func (p *pass) apiVersion(base string, e *katalog.CRD, at *katalog.APITypes, def *apiextv1.CustomResourceDefinition, c *policy.CRD) {
	defVersions := versionNames(def)
	c.Version = at.Version
	switch {
	case at.Version != "" && def != nil && !slices.Contains(defVersions, at.Version):
		p.errorf("K06", base+".apiTypes.version", fmt.Sprintf("use one of the CRD's versions: %s", strings.Join(defVersions, ", ")),
			"apiTypes.version %q is not a version of the CRD in crdFile", at.Version)
	case at.Version == "" && def != nil:
		c.Version = storageVersion(def)
	case at.Version == "" && def == nil && e.CRDFile == "" && e.APITypes != nil:
		p.errorf("K05", base+".apiTypes.version", "add apiTypes.version, or give a crdFile", "apiTypes.version is missing")
	}
	if def != nil {
		c.Versions = defVersions
	} else if c.Version != "" {
		c.Versions = []string{c.Version}
	}
}

// apiTypesShape checks the shape of the values written in apiTypes (K05);
// the CRD file's are the API server's business.
func (p *pass) apiTypesShape(base string, at *katalog.APITypes) {
	if at.Group != "" {
		if msg := dnsSubdomain(at.Group); msg != "" {
			p.errorf("K05", base+".apiTypes.group", "write the API group as a DNS name, e.g. web.example.com",
				"apiTypes.group %q is not a DNS-1123 subdomain: %s", at.Group, msg)
		}
	}
	if at.Version != "" {
		if msgs := validation.IsDNS1035Label(at.Version); len(msgs) > 0 {
			p.errorf("K05", base+".apiTypes.version", "write the version as the CRD does, e.g. v1 or v1beta1",
				"apiTypes.version %q is not a DNS-1035 label: %s", at.Version, strings.Join(msgs, "; "))
		}
	}
	if at.Kind != "" {
		if msgs := validation.IsDNS1035Label(strings.ToLower(at.Kind)); len(msgs) > 0 || at.Kind[0] < 'A' || at.Kind[0] > 'Z' {
			p.errorf("K05", base+".apiTypes.kind", "write the kind in CamelCase, e.g. Website",
				"apiTypes.kind %q is not a valid kind: it starts with an uppercase letter and holds only letters, digits and '-'", at.Kind)
		}
	}
	if at.Plural != "" {
		if msg := dnsLabel(at.Plural); msg != "" {
			p.errorf("K05", base+".apiTypes.plural", "write the resource name in lowercase, e.g. websites",
				"apiTypes.plural %q is not a DNS-1123 label: %s", at.Plural, msg)
		}
	}
}

// scope resolves whether the resource is namespaced: the entry, else the
// CRD file, else namespaced (most CRDs are); the two must agree (K06).
func (p *pass) scope(base string, e *katalog.CRD, def *apiextv1.CustomResourceDefinition, c *policy.CRD) {
	c.Namespaced = true
	if def != nil {
		c.Namespaced = def.Spec.Scope != apiextv1.ClusterScoped
	}
	if e.Namespaced != nil {
		if def != nil && *e.Namespaced != c.Namespaced {
			p.errorf("K06", base+".namespaced", "drop namespaced, the CRD file gives the scope",
				"namespaced: %t disagrees with the CRD file's scope %s", *e.Namespaced, def.Spec.Scope)
		}
		c.Namespaced = *e.Namespaced
	}
}

// versionNames lists a CRD's versions, nil without a CRD.
func versionNames(def *apiextv1.CustomResourceDefinition) []string {
	if def == nil {
		return nil
	}
	var out []string
	for _, v := range def.Spec.Versions {
		out = append(out, v.Name)
	}
	return out
}

// storageVersion is the version a CRD stores, "" when none is marked or
// without a CRD.
func storageVersion(def *apiextv1.CustomResourceDefinition) string {
	if def == nil {
		return ""
	}
	for _, v := range def.Spec.Versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}

// rules compiles the entry's validation and mutation rules (K08..K11).
func (p *pass) rules(base string, e *katalog.CRD, c *policy.CRD) {
	hasRules := e.Validation != nil && len(e.Validation.Rules) > 0
	switch e.Enforcement {
	case "", "enforce":
	case "audit":
		c.Audit = true
		if !hasRules {
			p.warnf("K22", base+".enforcement", "add validation.rules, or remove enforcement",
				"enforcement: audit applies to validation rules, and %s has none", c.Name)
		}
	default:
		hint := "use enforce (the default) or audit"
		if low := strings.ToLower(e.Enforcement); low == "enforce" || low == "audit" {
			hint = "write " + low + ": values are lower case"
		}
		p.errorf("K08", base+".enforcement", hint, "enforcement %q is not enforce or audit", e.Enforcement)
	}
	if hasRules {
		set, problems := rules.CompileValidation(e.Validation.Rules)
		p.problems(base+".validation.rules", "K08", problems)
		p.expressions(base+".validation.rules", e.Validation.Rules, c)
		if len(problems) == 0 {
			if c.Audit {
				set.Audit()
			}
			c.Validation = set
			p.native(base+".validation.rules", "validation", set.NativeProblems())
			p.celEngine(base+".validation.rules", set)
		}
	}
	if e.Mutation != nil && len(e.Mutation.Rules) > 0 {
		set, problems := rules.CompileMutation(e.Mutation.Rules)
		p.problems(base+".mutation.rules", "K11", problems)
		if len(problems) == 0 {
			c.Mutation = set
			p.native(base+".mutation.rules", "mutation", set.NativeProblems())
		}
	}
}

// native reports what the native engine cannot compile: errors with
// engine: native, warnings with auto (which keeps the feature on the
// webhook), nothing with the webhook engine.
func (p *pass) native(field, feature string, problems []rules.Problem) {
	switch p.pol.Admission.Engine {
	case policy.EngineNative:
		p.problems(field, "K08", problems)
	case policy.EngineAuto:
		for _, pr := range problems {
			p.warnf("K22", field+pr.Path, pr.Hint, "engine auto keeps %s on the webhook engine: %s", feature, pr.Msg)
		}
	}
}

// celEngine checks, with engine auto, where an entry's CEL rules run: only
// the native engine evaluates them, so an entry whose field rules keep its
// validation on the webhook engine would never enforce them (an error),
// and on a cluster that serves no ValidatingAdmissionPolicy nothing does
// (a warning: the gateway then logs an error on every tick).
func (p *pass) celEngine(field string, set *rules.ValidationSet) {
	if p.pol.Admission.Engine != policy.EngineAuto {
		return
	}
	var first = -1
	for _, r := range set.Rules() {
		if r.Expression {
			first = r.Index
			break
		}
	}
	if first < 0 {
		return
	}
	f := fmt.Sprintf("%s[%d].expression", field, first)
	if probs := set.NativeProblems(); len(probs) > 0 {
		p.errorf("K08", f, "make every rule of the entry compile for the native engine (see "+field+probs[0].Path+"), or set engine: native",
			"CEL rules run only on the native engine, and engine auto keeps this entry's validation on the webhook engine (%s), which would never evaluate them", probs[0].Msg)
		return
	}
	p.warnf("K22", f, "set engine: native to refuse clusters without ValidatingAdmissionPolicy",
		"engine auto enforces CEL rules only where the API server serves ValidatingAdmissionPolicy (Kubernetes 1.30 and later); on an older cluster they are not enforced")
}

// problems turns rule-compile problems into findings under field.
func (p *pass) problems(field, defaultID string, problems []rules.Problem) {
	for _, pr := range problems {
		id := pr.Check
		if !isCheckID(id) {
			id = defaultID
		}
		p.errorf(id, field+pr.Path, pr.Hint, "%s", pr.Msg)
	}
}

// webhooks resolves which admission webhooks the entry registers (K12, K22).
func (p *pass) webhooks(base string, e *katalog.CRD, c *policy.CRD) {
	hasV := e.Validation != nil && len(e.Validation.Rules) > 0
	hasM := e.Mutation != nil && len(e.Mutation.Rules) > 0
	w := e.Webhooks
	if w == nil {
		w = &katalog.CRDWebhooks{}
	}
	if w.Validation != nil && *w.Validation && !hasV {
		p.warnf("K22", base+".webhooks.validation", "add validation.rules, or set webhooks.validation: false",
			"webhooks.validation is true but %s has no validation rules; no validating webhook is registered for it", c.Name)
	}
	if w.Mutation != nil && *w.Mutation && !hasM {
		p.warnf("K22", base+".webhooks.mutation", "add mutation.rules, or set webhooks.mutation: false",
			"webhooks.mutation is true but %s has no mutation rules; no mutating webhook is registered for it", c.Name)
	}
	// Registered only where there is something to evaluate and admission is on.
	c.Validate = p.pol.Admission.Enabled && hasV && boolOr(w.Validation, true)
	c.Mutate = p.pol.Admission.Enabled && hasM && boolOr(w.Mutation, true)

	field := base + ".webhooks.operations"
	if w.Operations == nil && !p.has(field) {
		c.Operations = slices.Clone(defaultOperations)
		return
	}
	if len(w.Operations) == 0 {
		p.errorf("K12", field, "list operations, or remove the key for the default [CREATE, UPDATE]",
			"webhooks.operations is empty; the webhooks would match nothing")
	}
	seen := map[string]bool{}
	for i, op := range w.Operations {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case !slices.Contains(operations, op):
			hint := "use CREATE, UPDATE, DELETE or CONNECT"
			if up := strings.ToUpper(op); slices.Contains(operations, up) {
				hint = fmt.Sprintf("write %s: operations are upper case", up)
			}
			p.errorf("K12", f, hint, "operation %q is not one of CREATE, UPDATE, DELETE, CONNECT", op)
		case seen[op]:
			p.errorf("K12", f, "remove the duplicate", "operation %s is listed twice", op)
		default:
			seen[op] = true
			c.Operations = append(c.Operations, op)
		}
	}
}

// CELChecker type-checks the CEL of expression rules: expression must
// give a bool, messageExpression a string, over the objects of c. The
// error says what is wrong.
type CELChecker interface {
	Check(c *policy.CRD, expression string, message bool) error
}

// CEL type-checks expression rules when set. The toolchain sets it (`ork
// validate`, eval, bundle); the gateway build links no CEL library, so at
// start-up only the shape of expression rules is checked, and the API
// server type-checks the policies the native engine writes.
var CEL CELChecker

// expressions checks the CEL rules of an entry (K08, K09): the engine must
// be one the API server runs them in, and their CEL must type-check.
func (p *pass) expressions(field string, rs []katalog.Rule, c *policy.CRD) {
	for i := range rs {
		r := &rs[i]
		if r.Expression == "" {
			continue
		}
		f := fmt.Sprintf("%s[%d]", field, i)
		if p.pol.Admission.Engine == policy.EngineWebhook {
			p.errorf("K08", f+".expression",
				"set security.webhooks.admission.engine: auto (or native), or write the rule as a field test",
				"expression rules are evaluated by the API server, not by the webhook engine; this Katalog's admission engine is %s", p.pol.Admission.Engine)
		}
		if CEL == nil || strings.TrimSpace(r.Expression) == "" {
			continue
		}
		if err := CEL.Check(c, r.Expression, false); err != nil {
			p.errorf("K09", f+".expression", "an expression is CEL over object, oldObject, request and namespaceObject that gives true when the object is valid",
				"expression does not compile: %v", err)
		}
		if r.MessageExpression != "" {
			if err := CEL.Check(c, r.MessageExpression, true); err != nil {
				p.errorf("K09", f+".messageExpression", "a messageExpression is CEL that gives a string, e.g. 'replicas: ' + string(object.spec.replicas)",
					"messageExpression does not compile: %v", err)
			}
		}
	}
}

// refuses reports whether the lists n refuse objects in namespace ns.
func refuses(n policy.Namespaces, ns string) bool {
	return n.Restricted.Match(ns) || (len(n.Allowed) > 0 && !n.Allowed.Match(ns))
}
