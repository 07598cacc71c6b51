// Package audit evaluates a Katalog's validation rules against the live
// objects of a cluster, for `ork audit`: what would be denied or warned if
// the Katalog were enforced now. It lists each entry's objects (read-only,
// paginated), evaluates each as an admission CREATE and, where the entry
// validates updates, as an UPDATE onto itself, with the code path of `ork
// gateway eval` (package eval), and reports per rule, as text or as
// PolicyReport objects (wgpolicyk8s.io/v1alpha2) that are printed, never
// applied.
//
// Toolchain only.
package audit

import (
	"context"
	"fmt"
	"slices"
	"sort"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/orkspace/orkestra-gateway/internal/eval"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// DefaultChunkSize is the page size of list calls, as kubectl's.
const DefaultChunkSize = 500

// DefaultUser is the requesting user of the evaluated requests.
const DefaultUser = "ork-audit"

// Options say what to audit.
type Options struct {
	// Namespace limits namespaced entries to one namespace; "" with
	// AllNamespaces lists every namespace.
	Namespace     string
	AllNamespaces bool
	// ChunkSize is the limit of each list call (DefaultChunkSize when 0).
	ChunkSize int64
	// User and Groups are the requesting user the rules see
	// (request.userInfo); DefaultUser when empty.
	User   string
	Groups []string
}

// Object names a live object.
type Object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
}

// String is namespace/name, or name for a cluster-scoped object.
func (o Object) String() string {
	if o.Namespace == "" {
		return o.Name
	}
	return o.Namespace + "/" + o.Name
}

// Finding is one rule failing on one object.
type Finding struct {
	Object Object
	// Rule is "<entry>/<rule name or index>".
	Rule string
	// Action is the rule's: deny, warn, or audit (a rule in audit mode;
	// Would says what it would do once enforced).
	Action string
	Would  string
	// Result is the PolicyReport result: fail (would be denied), warn, or
	// error (a CEL rule that did not evaluate).
	Result     string
	Message    string
	Operations []string
}

// Rule is one validation rule of an entry, with what it found.
type Rule struct {
	Entry  string
	ID     string // "<entry>/<name or index>"
	Action string // deny, warn or audit
	Would  string // for audit: deny or warn
	// Expression: a CEL rule.
	Expression bool
	Findings   []Finding
	// Passed are the objects the rule passed.
	Passed []Object
}

// Entry is one Katalog entry's audit.
type Entry struct {
	Name     string
	Resource schema.GroupVersionResource
	Kind     string
	// Listed counts the live objects listed; Evaluated those the rules
	// apply to (the gateway's namespace and kube-system are never
	// subject to them).
	Listed, Evaluated int
	Operations        []string
	Rules             []*Rule
}

// Report is the audit of one Katalog.
type Report struct {
	Katalog string
	Entries []*Entry
	// Notes say what the audit could not see (a namespace unreadable for
	// namespaceObject).
	Notes []string
}

// Run audits every entry of ev's Katalog with validation rules.
func Run(ctx context.Context, ev *eval.Evaluator, client dynamic.Interface, o Options) (*Report, error) {
	p := ev.Policy()
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.User == "" {
		o.User = DefaultUser
	}
	r := &Report{Katalog: p.Name}
	if !p.Admission.Enabled {
		r.Notes = append(r.Notes, "admission is disabled in this Katalog (security.webhooks.admission.enabled: false): no rule runs")
	}
	a := &auditor{ev: ev, client: client, o: o, namespaces: map[string]*corev1.Namespace{}, report: r}
	for _, c := range p.CRDs {
		if c.Validation == nil || len(c.Validation.Rules()) == 0 {
			continue
		}
		e, err := a.entry(ctx, c)
		if err != nil {
			return nil, err
		}
		r.Entries = append(r.Entries, e)
	}
	return r, nil
}

type auditor struct {
	ev         *eval.Evaluator
	client     dynamic.Interface
	o          Options
	namespaces map[string]*corev1.Namespace // namespaceObject, nil when unreadable
	report     *Report
}

// operations are those of the entry's webhooks an audit replays: CREATE
// and UPDATE.
func operations(c *policy.CRD) []string {
	var out []string
	for _, op := range []string{"CREATE", "UPDATE"} {
		if len(c.Operations) == 0 || slices.Contains(c.Operations, op) {
			out = append(out, op)
		}
	}
	return out
}

func (a *auditor) entry(ctx context.Context, c *policy.CRD) (*Entry, error) {
	gvr := schema.GroupVersionResource{Group: c.Group, Version: c.Version, Resource: c.Plural}
	e := &Entry{Name: c.Name, Resource: gvr, Kind: c.Kind, Operations: operations(c)}
	if len(e.Operations) == 0 {
		a.report.Notes = append(a.report.Notes, fmt.Sprintf("entry %s validates neither CREATE nor UPDATE (webhooks.operations): nothing of it to audit", c.Name))
		return e, nil
	}
	byID := map[string]*Rule{}
	for _, ri := range c.Validation.Rules() {
		rule := &Rule{Entry: c.Name, ID: c.Name + "/" + ri.ID(), Action: action(ri), Expression: ri.Expression}
		if ri.Audit {
			rule.Would = "deny"
			if ri.Warn {
				rule.Would = "warn"
			}
		}
		e.Rules = append(e.Rules, rule)
		byID[rule.ID] = rule
	}
	var res dynamic.ResourceInterface = a.client.Resource(gvr)
	if c.Namespaced && !a.o.AllNamespaces {
		res = a.client.Resource(gvr).Namespace(a.o.Namespace)
	}
	cont := ""
	for {
		list, err := res.List(ctx, metav1.ListOptions{Limit: a.o.ChunkSize, Continue: cont})
		if err != nil {
			return nil, listError(c, err)
		}
		for i := range list.Items {
			e.Listed++
			if err := a.object(ctx, c, e, byID, &list.Items[i]); err != nil {
				return nil, err
			}
		}
		if cont = list.GetContinue(); cont == "" {
			return e, nil
		}
	}
}

func listError(c *policy.CRD, err error) error {
	what := c.Plural
	if c.Group != "" {
		what += "." + c.Group
	}
	what += " at " + c.Version
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("listing %s: %v (the audit needs list on them)", what, err)
	case apierrors.IsNotFound(err) && c.Namespaced:
		return fmt.Errorf("listing %s: %v (is it served at this version, and namespaced as entry %s says? a cluster-scoped kind needs namespaced: false)", what, err, c.Name)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("listing %s: %v (is it served at this version on this cluster?)", what, err)
	case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
		return fmt.Errorf("listing %s: the list changed too much between pages: %v; run again, or raise --chunk-size", what, err)
	}
	return fmt.Errorf("listing %s: %w", what, err)
}

func action(ri rules.RuleInfo) string {
	switch {
	case ri.Audit:
		return "audit"
	case ri.Warn:
		return "warn"
	}
	return "deny"
}

// serverFields are set by the API server: a client's CREATE carries none.
var serverFields = []string{"resourceVersion", "uid", "creationTimestamp", "managedFields", "generation", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}

func (a *auditor) object(ctx context.Context, c *policy.CRD, e *Entry, byID map[string]*Rule, u *unstructured.Unstructured) error {
	ref := Object{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(), UID: string(u.GetUID())}
	var ns *corev1.Namespace
	if c.Namespaced && len(c.Validation.Expressions()) > 0 {
		ns = a.namespace(ctx, u.GetNamespace())
	}
	// Per rule: the findings on this object, operations merged.
	found := map[string]*Finding{}
	covered := false
	for _, op := range e.Operations {
		in := eval.Input{Operation: admissionv1.Operation(op), User: a.o.User, Groups: a.o.Groups, NamespaceObject: ns}
		live := u.DeepCopy().Object
		if op == "CREATE" {
			in.Object = runtime.DeepCopyJSON(live)
			md, _ := in.Object["metadata"].(map[string]any)
			for _, f := range serverFields {
				delete(md, f)
			}
			delete(in.Object, "status")
		} else {
			in.Object, in.OldObject = live, runtime.DeepCopyJSON(live)
		}
		res, err := a.ev.Run(ctx, in)
		if err != nil {
			return fmt.Errorf("evaluating %s %s: %w", c.Kind, ref, err)
		}
		if ranRules(res) {
			covered = true
		}
		for _, f := range outcomes(res) {
			if prev, ok := found[f.Rule]; ok {
				if !slices.Contains(prev.Operations, op) {
					prev.Operations = append(prev.Operations, op)
				}
				continue
			}
			f.Object, f.Operations = ref, []string{op}
			found[f.Rule] = &f
		}
	}
	if !covered {
		return nil
	}
	e.Evaluated++
	for _, rule := range e.Rules {
		if f, ok := found[rule.ID]; ok {
			rule.Findings = append(rule.Findings, *f)
		} else {
			rule.Passed = append(rule.Passed, ref)
		}
	}
	return nil
}

// ranRules reports whether the entry's rules were evaluated: the validate
// webhook matched, or the CEL rules applied.
func ranRules(res *eval.Result) bool {
	if res.CEL != nil {
		return true
	}
	for _, d := range res.Decisions {
		if d.Webhook == "validate" {
			return true
		}
	}
	return false
}

// outcomes are the failing rules of one request, one finding per rule
// (a [*] rule failing on several elements names them all).
func outcomes(res *eval.Result) []Finding {
	var out []Finding
	index := map[string]int{}
	add := func(f Finding, detail string) {
		if i, ok := index[f.Rule]; ok {
			out[i].Message += "; " + detail
			return
		}
		f.Message = detail
		index[f.Rule] = len(out)
		out = append(out, f)
	}
	for _, o := range res.Rules() {
		f := Finding{Rule: o.Rule, Action: o.Action, Would: o.Would, Result: "fail"}
		if o.Action == "warn" || o.Would == "warn" {
			f.Result = "warn"
		}
		detail := o.Message
		if o.Field != "" {
			detail = o.Field + ": " + o.Message
		}
		add(f, detail)
	}
	if res.CEL != nil {
		for _, c := range res.CEL.Results {
			if c.Err != nil {
				id := res.CEL.Entry + "/" + rules.RuleID(c.Rule.Index, c.Rule.Name)
				add(Finding{Rule: id, Action: "deny", Result: "error"}, "the expression did not evaluate: "+c.Err.Error())
			}
		}
	}
	return out
}

// namespace is namespaceObject for CEL rules, read once per namespace;
// nil (and a note) when it cannot be read.
func (a *auditor) namespace(ctx context.Context, name string) *corev1.Namespace {
	if ns, ok := a.namespaces[name]; ok {
		return ns
	}
	var ns *corev1.Namespace
	u, err := a.client.Resource(corev1.SchemeGroupVersion.WithResource("namespaces")).Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		ns = &corev1.Namespace{}
		if err = runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, ns); err != nil {
			ns = nil
		}
	}
	if err != nil {
		a.report.Notes = append(a.report.Notes, fmt.Sprintf("namespace %s cannot be read (%v): CEL rules saw namespaceObject null there", name, err))
	}
	a.namespaces[name] = ns
	return ns
}

// totals counts findings and passes over every rule.
func (r *Report) totals() (pass, fail, warn, errs int) {
	for _, e := range r.Entries {
		for _, rule := range e.Rules {
			pass += len(rule.Passed)
			for _, f := range rule.Findings {
				switch f.Result {
				case "fail":
					fail++
				case "warn":
					warn++
				default:
					errs++
				}
			}
		}
	}
	return
}

// namespacesOf lists the namespaces with results, "" (cluster scope) first.
func (r *Report) namespacesOf() []string {
	seen := map[string]bool{}
	for _, e := range r.Entries {
		for _, rule := range e.Rules {
			for _, f := range rule.Findings {
				seen[f.Object.Namespace] = true
			}
			for _, o := range rule.Passed {
				seen[o.Namespace] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for ns := range seen {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}
