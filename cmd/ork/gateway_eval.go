//go:build !gateway

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/spf13/cobra"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/orkspace/orkestra-gateway/internal/admission"
	"github.com/orkspace/orkestra-gateway/internal/celeval"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/report"
)

func init() {
	gatewaySubcommands = append(gatewaySubcommands, newGatewayEvalCmd)
}

type evalOptions struct {
	katalog   string
	object    string
	old       string
	nsObject  string
	operation string
	namespace string
	user      string
	groups    []string
	format    report.Format
}

// evalUser is the requesting user when --user is not given.
const evalUser = "ork-gateway-eval"

func newGatewayEvalCmd() *cobra.Command {
	o := evalOptions{format: report.Text}
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Dry-run admission: print what the gateway would answer for an object",
		Long: `Eval builds the AdmissionRequest the API server would send for an object and
runs it through every webhook of the Katalog that would match, with the
gateway's own handlers: mutating first, then validating on the mutated
object. It prints each webhook's answer (allowed or denied, message,
warnings, JSONPatch). Nothing is sent anywhere.

The operation is CREATE, or UPDATE when --old is given; for DELETE, --object
is the object being deleted. The namespace is --namespace, else the object's
metadata.namespace, else "default" for a namespaced Katalog CRD. The user is
--user (default ` + evalUser + `) with --group and system:authenticated.

CEL rules (expression:, engine native or auto) are evaluated as the API
server would, on the object as mutated, with object, oldObject, request and
namespaceObject (the Namespace given with --namespace-object; null without).

Exit status: 0 when the request would be allowed, 1 when it would be denied
or the Katalog has errors, 2 on usage errors (bad flags, unreadable or
invalid object files).`,
		Example: `  ork gateway eval -f katalog.yaml --object website.yaml
  ork gateway eval -f katalog.yaml --object new.yaml --old live.yaml --user alice --group platform
  ork gateway eval -f katalog.yaml --object ns.yaml --operation DELETE -o json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected argument %q: give the object with --object", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEval(cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.katalog, "katalog", "f", "katalog.yaml", "Katalog file")
	fs.StringVar(&o.object, "object", "", "the object under admission (YAML or JSON); for DELETE, the object being deleted")
	fs.StringVar(&o.old, "old", "", "the object before an UPDATE (YAML or JSON)")
	fs.StringVar(&o.nsObject, "namespace-object", "", "the request's Namespace (YAML or JSON), namespaceObject of CEL rules")
	fs.StringVar(&o.operation, "operation", "", "CREATE, UPDATE or DELETE (default CREATE, or UPDATE with --old)")
	fs.StringVarP(&o.namespace, "namespace", "n", "", "namespace of the request (default: the object's)")
	fs.StringVar(&o.user, "user", evalUser, "requesting user name")
	fs.StringArrayVar(&o.groups, "group", nil, "a group of the requesting user (repeatable)")
	fs.VarP(&o.format, "output", "o", "output format: text or json")
	return cmd
}

func runEval(stdout, stderr io.Writer, o evalOptions) error {
	op, err := evalOperation(o)
	if err != nil {
		return err
	}
	if err := readable(o.katalog); err != nil {
		return usageError("%v", err)
	}
	obj, err := readObject(o.object)
	if err != nil {
		return usageError("%v", err)
	}
	var old map[string]any
	if o.old != "" {
		if old, err = readObject(o.old); err != nil {
			return usageError("%v", err)
		}
	}

	var ns *corev1.Namespace
	if o.nsObject != "" {
		if ns, err = readNamespace(o.nsObject); err != nil {
			return usageError("%v", err)
		}
	}

	r, err := loadKatalog(o.katalog, stderr)
	if err != nil {
		return err
	}

	req, err := evalRequest(r.Policy, o, op, obj, old)
	if err != nil {
		return usageError("%v", err)
	}
	if ns != nil && ns.Name != req.Namespace {
		return usageError("--namespace-object is Namespace %q but the request is in namespace %q", ns.Name, req.Namespace)
	}
	ds, final, err := admission.ReviewFinal(context.Background(), r.Policy, req, applyJSONPatch)
	if err != nil {
		return exitError{code: exitFailure, err: err}
	}
	allowed := admission.Allowed(ds)
	// The API server evaluates policies in the validating phase, after
	// every mutation: unless a mutating webhook rejected the request.
	var cel *celVerdict
	if !mutationRejected(ds) {
		if cel, err = evalExpressions(r.Policy, final, ns); err != nil {
			return exitError{code: exitFailure, err: err}
		}
		if cel != nil && !cel.allowed() {
			allowed = false
		}
	}
	if o.format == report.JSON {
		err = writeEvalJSON(stdout, req, ds, cel, allowed)
	} else {
		err = writeEvalText(stdout, r.Policy, req, ds, cel, allowed)
	}
	if err != nil {
		return err
	}
	if !allowed {
		return exitError{code: exitFailure, err: errReported}
	}
	return nil
}

// evalOperation checks the operation against the objects given.
func evalOperation(o evalOptions) (admissionv1.Operation, error) {
	if o.object == "" {
		return "", usageError("--object is required: the object to admit (for DELETE, the object to delete)")
	}
	op := admissionv1.Operation(strings.ToUpper(o.operation))
	switch {
	case op == "" && o.old != "":
		op = admissionv1.Update
	case op == "":
		op = admissionv1.Create
	}
	switch op {
	case admissionv1.Create, admissionv1.Delete:
		if o.old != "" {
			return "", usageError("--old is only for UPDATE; for %s give just --object", op)
		}
	case admissionv1.Update:
		if o.old == "" {
			return "", usageError("UPDATE needs --old, the object before the update")
		}
	default:
		return "", usageError("--operation %q: want CREATE, UPDATE or DELETE", o.operation)
	}
	return op, nil
}

// readObject reads one Kubernetes object from a YAML or JSON file.
func readObject(name string) (map[string]any, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read object: %w", err)
	}
	defer f.Close()
	var docs [][]byte
	rd := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		j, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if !bytes.Equal(bytes.TrimSpace(j), []byte("null")) { // skip empty documents
			docs = append(docs, j)
		}
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("%s holds %d objects; eval takes exactly one", name, len(docs))
	}
	var obj map[string]any
	if err := json.Unmarshal(docs[0], &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%s: not an object (a mapping with apiVersion, kind and metadata)", name)
	}
	for _, k := range []string{"apiVersion", "kind"} {
		if s, _ := obj[k].(string); s == "" {
			return nil, fmt.Errorf("%s: %s is missing or not a string", name, k)
		}
	}
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		return nil, fmt.Errorf("%s: metadata is missing or not a mapping", name)
	}
	n, _ := md["name"].(string)
	g, _ := md["generateName"].(string)
	if n == "" && g == "" {
		return nil, fmt.Errorf("%s: metadata.name is missing", name)
	}
	return obj, nil
}

// readNamespace reads --namespace-object.
func readNamespace(name string) (*corev1.Namespace, error) {
	obj, err := readObject(name)
	if err != nil {
		return nil, err
	}
	if obj["apiVersion"] != "v1" || obj["kind"] != "Namespace" {
		return nil, fmt.Errorf("%s: --namespace-object is %s %s, want a v1 Namespace", name, obj["apiVersion"], obj["kind"])
	}
	b, _ := json.Marshal(obj)
	var ns corev1.Namespace
	if err := json.Unmarshal(b, &ns); err != nil {
		return nil, fmt.Errorf("%s: not a Namespace: %v", name, err)
	}
	return &ns, nil
}

func mutationRejected(ds []admission.Decision) bool {
	for _, d := range ds {
		if d.Mutating && !d.Allowed() {
			return true
		}
	}
	return false
}

// celVerdict is what the API server's policies decide on the CEL rules of
// the request's entry.
type celVerdict struct {
	entry         string
	failurePolicy policy.FailurePolicy
	results       []celeval.Result
}

// allowed: no failing deny rule, and no evaluation error under Fail.
func (v *celVerdict) allowed() bool {
	for _, r := range v.results {
		switch {
		case r.Err != nil && v.failurePolicy == policy.Fail:
			return false
		case r.Err == nil && !r.Valid && !r.Rule.Warn:
			return false
		}
	}
	return true
}

// evalExpressions evaluates the CEL rules of the entry req is about, when
// the API server would: admission on, the entry's operations, outside the
// excluded namespaces (as the validating webhook is matched). nil when
// none applies.
func evalExpressions(p *policy.Policy, req *admissionv1.AdmissionRequest, ns *corev1.Namespace) (*celVerdict, error) {
	var entry *policy.CRD
	for _, c := range p.CRDs {
		if c.Group == req.Kind.Group && c.Kind == req.Kind.Kind {
			entry = c
		}
	}
	if entry == nil || len(entry.Validation.Expressions()) == 0 {
		return nil, nil
	}
	for _, w := range admission.Webhooks(p) {
		if w.Name == admission.NameValidate && !w.Matches(req) {
			return nil, nil
		}
	}
	results, err := celeval.Evaluate(entry.Validation.Expressions(), celeval.Input{Request: req, Namespace: ns})
	if err != nil {
		return nil, fmt.Errorf("evaluating CEL rules: %w", err)
	}
	return &celVerdict{entry: entry.Name, failurePolicy: p.Admission.FailurePolicy, results: results}, nil
}

// evalRequest builds the AdmissionRequest the API server would send.
func evalRequest(p *policy.Policy, o evalOptions, op admissionv1.Operation, obj, old map[string]any) (*admissionv1.AdmissionRequest, error) {
	apiVersion, kind := obj["apiVersion"].(string), obj["kind"].(string)
	if old != nil && (old["apiVersion"] != apiVersion || old["kind"] != kind || metaString(old, "name") != metaString(obj, "name")) {
		return nil, fmt.Errorf("--old is %s %s %q but --object is %s %s %q; an UPDATE keeps apiVersion, kind and name",
			old["apiVersion"], old["kind"], metaString(old, "name"), apiVersion, kind, metaString(obj, "name"))
	}
	group, version, found := strings.Cut(apiVersion, "/")
	if !found {
		group, version = "", apiVersion
	}
	gvk := metav1.GroupVersionKind{Group: group, Version: version, Kind: kind}
	gvr := metav1.GroupVersionResource{Group: group, Version: version, Resource: resourceOf(p, group, kind)}
	name := metaString(obj, "name")

	ns := metaString(obj, "namespace")
	switch {
	case o.namespace != "" && ns != "" && ns != o.namespace:
		return nil, fmt.Errorf("--namespace %s, but the object is in namespace %s", o.namespace, ns)
	case group == "" && kind == "Namespace":
		ns = name // the API server puts a Namespace's name in the request's namespace
	case o.namespace != "":
		ns = o.namespace
	case ns == "" && isNamespacedEntry(p, group, kind):
		ns = "default"
	}
	if ns != "" && !(group == "" && kind == "Namespace") {
		// The API server fills the namespace in before admission.
		for _, m := range []map[string]any{obj, old} {
			if m != nil {
				m["metadata"].(map[string]any)["namespace"] = ns
			}
		}
	}

	groups := append([]string{}, o.groups...)
	groups = append(groups, "system:authenticated")
	req := &admissionv1.AdmissionRequest{
		UID:             "ork-gateway-eval",
		Kind:            gvk,
		Resource:        gvr,
		RequestKind:     &gvk,
		RequestResource: &gvr,
		Name:            name,
		Namespace:       ns,
		Operation:       op,
		UserInfo:        authenticationv1.UserInfo{Username: o.user, Groups: groups},
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

// resourceOf is the resource (plural) of a kind when the gateway can know
// it; "" otherwise (the handlers then name the kind in kubectl hints).
func resourceOf(p *policy.Policy, group, kind string) string {
	for _, c := range p.CRDs {
		if c.Group == group && c.Kind == kind {
			return c.Plural
		}
	}
	switch {
	case group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition":
		return "customresourcedefinitions"
	case group == "" && kind == "Namespace":
		return "namespaces"
	}
	return ""
}

func isNamespacedEntry(p *policy.Policy, group, kind string) bool {
	for _, c := range p.CRDs {
		if c.Group == group && c.Kind == kind {
			return c.Namespaced
		}
	}
	return false
}

func metaString(obj map[string]any, key string) string {
	md, _ := obj["metadata"].(map[string]any)
	s, _ := md[key].(string)
	return s
}

func rawObject(obj map[string]any) (runtime.RawExtension, error) {
	b, err := json.Marshal(obj)
	return runtime.RawExtension{Raw: b}, err
}

// subject names the request for people: "CREATE Website web-a/shop".
func subject(req *admissionv1.AdmissionRequest) string {
	ref := req.Name
	if req.Namespace != "" && !(req.Kind.Group == "" && req.Kind.Kind == "Namespace") {
		ref = req.Namespace + "/" + ref
	}
	return fmt.Sprintf("%s %s %s", req.Operation, req.Kind.Kind, ref)
}

func writeEvalText(w io.Writer, p *policy.Policy, req *admissionv1.AdmissionRequest, ds []admission.Decision, cel *celVerdict, allowed bool) error {
	var b strings.Builder
	if len(ds) == 0 && cel == nil {
		fmt.Fprintf(&b, "no webhook of Katalog %s matches %s\n", p.Name, subject(req))
	}
	for _, d := range ds {
		kind := "validating"
		if d.Mutating {
			kind = "mutating"
		}
		fmt.Fprintf(&b, "%s (%s, failurePolicy %s): ", d.Webhook, kind, orFail(d.FailurePolicy))
		if d.Err != nil {
			verdict := "the request is rejected"
			if d.Allowed() {
				verdict = "the request goes on"
			}
			fmt.Fprintf(&b, "error: %v (%s)\n", d.Err, verdict)
			continue
		}
		resp := d.Response
		if resp.Allowed {
			b.WriteString("allowed\n")
		} else {
			b.WriteString("denied")
			if s := resp.Result; s != nil {
				fmt.Fprintf(&b, " (%d %s)\n  %s\n", s.Code, s.Reason, s.Message)
				// The message lists several causes on one line; one per line reads better.
				if s.Details != nil && len(s.Details.Causes) > 1 {
					for _, c := range s.Details.Causes {
						fmt.Fprintf(&b, "  - %s: %s\n", c.Field, c.Message)
					}
				}
			} else {
				b.WriteString("\n")
			}
		}
		for _, warn := range resp.Warnings {
			fmt.Fprintf(&b, "  warning: %s\n", warn)
		}
		if len(resp.Patch) > 0 {
			b.WriteString("  patch (JSONPatch):\n")
			var ops []json.RawMessage
			if err := json.Unmarshal(resp.Patch, &ops); err != nil {
				ops = []json.RawMessage{resp.Patch}
			}
			for _, op := range ops {
				fmt.Fprintf(&b, "    %s\n", op)
			}
		}
	}
	if cel != nil {
		writeCELText(&b, cel)
	}
	verdict := "denied"
	if allowed {
		verdict = "allowed"
	}
	fmt.Fprintf(&b, "%s: %s\n", subject(req), verdict)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeCELText prints the verdict of the CEL rules: one line per failing
// rule, warnings for failing warn rules.
func writeCELText(b *strings.Builder, v *celVerdict) {
	fmt.Fprintf(b, "CEL rules of %s (evaluated by the API server, failurePolicy %s): ", v.entry, orFail(v.failurePolicy))
	if v.allowed() {
		b.WriteString("allowed\n")
	} else {
		b.WriteString("denied\n")
	}
	for _, r := range v.results {
		rule := fmt.Sprintf("validation.rules[%d]", r.Rule.Index)
		switch {
		case r.Err != nil:
			verdict := "the request goes on"
			if v.failurePolicy == policy.Fail {
				verdict = "the request is rejected"
			}
			fmt.Fprintf(b, "  - %s: error: %v (%s)\n", rule, r.Err, verdict)
		case r.Valid:
		case r.Rule.Warn:
			fmt.Fprintf(b, "  warning: %s: %s\n", rule, r.Message)
		default:
			fmt.Fprintf(b, "  - %s: %s\n", rule, r.Message)
		}
	}
}

// orFail shows the API server's default for an unset failure policy.
func orFail(fp policy.FailurePolicy) policy.FailurePolicy {
	if fp == "" {
		return policy.Fail
	}
	return fp
}

// evalJSON is the -o json document; every field is always present.
type evalJSON struct {
	Allowed   bool           `json:"allowed"`
	Operation string         `json:"operation"`
	Kind      string         `json:"kind"`
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Decisions []evalDecision `json:"decisions"`
	// Expressions are the CEL rules the API server evaluates (empty when
	// none applies).
	Expressions []evalExpression `json:"expressions"`
}

type evalExpression struct {
	Rule       int    `json:"rule"` // index in the entry's validation.rules
	Expression string `json:"expression"`
	Valid      bool   `json:"valid"`
	Warn       bool   `json:"warn"`
	Message    string `json:"message"`
	Error      string `json:"error"`
}

type evalDecision struct {
	Webhook       string          `json:"webhook"`
	Mutating      bool            `json:"mutating"`
	FailurePolicy string          `json:"failurePolicy"`
	Allowed       bool            `json:"allowed"`
	Status        *metav1.Status  `json:"status"`
	Warnings      []string        `json:"warnings"`
	Patch         json.RawMessage `json:"patch"`
	Error         string          `json:"error"`
}

func writeEvalJSON(w io.Writer, req *admissionv1.AdmissionRequest, ds []admission.Decision, cel *celVerdict, allowed bool) error {
	doc := evalJSON{
		Allowed: allowed, Operation: string(req.Operation), Kind: req.Kind.Kind,
		Namespace: req.Namespace, Name: req.Name, Decisions: []evalDecision{}, Expressions: []evalExpression{},
	}
	if cel != nil {
		for _, r := range cel.results {
			e := evalExpression{Rule: r.Rule.Index, Expression: r.Rule.Expression, Valid: r.Valid, Warn: r.Rule.Warn, Message: r.Message}
			if r.Err != nil {
				e.Error = r.Err.Error()
			}
			doc.Expressions = append(doc.Expressions, e)
		}
	}
	for _, d := range ds {
		e := evalDecision{
			Webhook: d.Webhook, Mutating: d.Mutating, FailurePolicy: string(orFail(d.FailurePolicy)),
			Allowed: d.Allowed(), Warnings: []string{}, Patch: json.RawMessage("null"),
		}
		if d.Err != nil {
			e.Error = d.Err.Error()
		} else {
			e.Status = d.Response.Result
			if len(d.Response.Warnings) > 0 {
				e.Warnings = d.Response.Warnings
			}
			if len(d.Response.Patch) > 0 {
				e.Patch = d.Response.Patch
			}
		}
		doc.Decisions = append(doc.Decisions, e)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// applyJSONPatch applies a mutating webhook's patch as the API server does,
// with evanphx/json-patch (linked by the toolchain only).
func applyJSONPatch(doc, patch []byte) ([]byte, error) {
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, err
	}
	return p.Apply(doc)
}
