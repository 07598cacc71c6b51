package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orkspace/orkestra-gateway/internal/admission"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// requestSubject names the request for people: "CREATE Website web-a/shop".
func requestSubject(req *admissionv1.AdmissionRequest) string {
	ref := req.Name
	if req.Namespace != "" && !(req.Kind.Group == "" && req.Kind.Kind == "Namespace") {
		ref = req.Namespace + "/" + ref
	}
	return fmt.Sprintf("%s %s %s", req.Operation, req.Kind.Kind, ref)
}

// orFail shows the API server's default for an unset failure policy.
func orFail(fp policy.FailurePolicy) policy.FailurePolicy {
	if fp == "" {
		return policy.Fail
	}
	return fp
}

// WriteText prints the result for people: the conversion, each webhook's
// answer, the CEL rules' verdict, and the verdict.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	req := r.Request
	if c := r.Conversion; c != nil {
		fmt.Fprintf(&b, "converted %s to %s, the version the rules are written for, through the Katalog's conversion (as the API server does before calling the webhooks)\n", c.From, c.To)
	}
	if dep := deprecationWarning(r.Entry, req.RequestKind.Version); dep != "" {
		fmt.Fprintf(&b, "API server warning: %s\n", dep)
	}
	if len(r.Decisions) == 0 && r.CEL == nil {
		fmt.Fprintf(&b, "no webhook of Katalog %s matches %s\n", r.Policy.Name, requestSubject(req))
	}
	for _, d := range r.Decisions {
		writeDecision(&b, d)
	}
	if r.CEL != nil {
		writeCELText(&b, r.CEL)
	}
	// What the native engine's policies answer, in the API server's words.
	for _, st := range r.PolicyDenials {
		fmt.Fprintf(&b, "API server (native engine): denied (%d %s)\n  %s\n", st.Code, st.Reason, st.Message)
	}
	verdict := "denied"
	if r.Allowed {
		verdict = "allowed"
	}
	fmt.Fprintf(&b, "%s: %s\n", requestSubject(req), verdict)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeDecision(b *strings.Builder, d admission.Decision) {
	kind := "validating"
	if d.Mutating {
		kind = "mutating"
	}
	fmt.Fprintf(b, "%s (%s, failurePolicy %s): ", d.Webhook, kind, orFail(d.FailurePolicy))
	if d.Err != nil {
		verdict := "the request is rejected"
		if d.Allowed() {
			verdict = "the request goes on"
		}
		fmt.Fprintf(b, "error: %v (%s)\n", d.Err, verdict)
		return
	}
	resp := d.Response
	if resp.Allowed {
		b.WriteString("allowed\n")
	} else {
		b.WriteString("denied")
		if s := resp.Result; s != nil {
			fmt.Fprintf(b, " (%d %s)\n  %s\n", s.Code, s.Reason, s.Message)
			// The message lists several causes on one line; one per line reads better.
			if s.Details != nil && len(s.Details.Causes) > 1 {
				for _, c := range s.Details.Causes {
					fmt.Fprintf(b, "  - %s: %s\n", c.Field, c.Message)
				}
			}
		} else {
			b.WriteString("\n")
		}
	}
	for _, warn := range resp.Warnings {
		fmt.Fprintf(b, "  warning: %s\n", warn)
	}
	// Rules in audit mode: nothing reaches the user; the gateway logs and
	// counts them.
	for _, f := range d.Rules {
		if f.Audit {
			would := "would deny"
			if f.Warn {
				would = "would warn"
			}
			fmt.Fprintf(b, "  audit: %s %s: %s: %s\n", f.ID(), would, f.Field, f.Message)
		}
	}
	if len(resp.Patch) > 0 {
		b.WriteString("  patch (JSONPatch):\n")
		var ops []json.RawMessage
		if err := json.Unmarshal(resp.Patch, &ops); err != nil {
			ops = []json.RawMessage{resp.Patch}
		}
		for _, op := range ops {
			fmt.Fprintf(b, "    %s\n", op)
		}
	}
}

// writeCELText prints the verdict of the CEL rules: one line per failing
// rule, warnings for failing warn rules, audit lines for rules in audit
// mode.
func writeCELText(b *strings.Builder, v *CELVerdict) {
	fmt.Fprintf(b, "CEL rules of %s (evaluated by the API server, failurePolicy %s): ", v.Entry, orFail(v.FailurePolicy))
	if v.Allowed() {
		b.WriteString("allowed\n")
	} else {
		b.WriteString("denied\n")
	}
	for _, r := range v.Results {
		rule := fmt.Sprintf("validation.rules[%d]", r.Rule.Index)
		if r.Rule.Name != "" {
			rule += " (" + r.Rule.Name + ")"
		}
		switch {
		case r.Err != nil:
			verdict := "the request goes on"
			if v.FailurePolicy == policy.Fail && !r.Rule.Audit {
				verdict = "the request is rejected"
			}
			fmt.Fprintf(b, "  - %s: error: %v (%s)\n", rule, r.Err, verdict)
		case r.Valid:
		case r.Rule.Audit:
			would := "would deny"
			if r.Rule.Warn {
				would = "would warn"
			}
			fmt.Fprintf(b, "  audit: %s %s: %s\n", rule, would, r.Message)
		case r.Rule.Warn:
			fmt.Fprintf(b, "  warning: %s: %s\n", rule, r.Message)
		default:
			fmt.Fprintf(b, "  - %s: %s\n", rule, r.Message)
		}
	}
}

// JSON is the -o json document of eval; every field is always present.
type JSON struct {
	Allowed   bool   `json:"allowed"`
	Operation string `json:"operation"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// RequestAPIVersion is the client's; APIVersion the one the webhooks
	// see (the rules' version). Conversion is set when they differ.
	RequestAPIVersion string      `json:"requestAPIVersion"`
	APIVersion        string      `json:"apiVersion"`
	Conversion        *Conversion `json:"conversion"`
	Decisions         []Decision  `json:"decisions"`
	// Expressions are the CEL rules the API server evaluates (empty when
	// none applies).
	Expressions []Expression `json:"expressions"`
	// Engines is the engine of each feature on a cluster that serves both
	// admission policy kinds.
	Engines map[string]string `json:"engines"`
	// PolicyDenials are the denials of the features the native engine
	// enforces, CEL rules included, as the API server words them (the
	// client gets one of them); those of the webhook engine are in
	// Decisions.
	PolicyDenials []metav1.Status `json:"policyDenials"`
	// Rules are the failing validation rules, audited ones included.
	Rules []RuleOutcome `json:"rules"`
	// Warnings are every warning the client sees.
	Warnings []string `json:"warnings"`
	// Object is the object after admission at the request's version; null
	// for DELETE and when a mutating webhook rejected the request.
	Object map[string]any `json:"object"`
	// ValidatedObject is the object the validating webhooks and CEL rules
	// see: mutated, at apiVersion.
	ValidatedObject map[string]any `json:"validatedObject"`
}

// Expression is one CEL rule's verdict in JSON.
type Expression struct {
	Rule       int    `json:"rule"` // index in the entry's validation.rules
	Name       string `json:"name"`
	Expression string `json:"expression"`
	Valid      bool   `json:"valid"`
	Warn       bool   `json:"warn"`
	Audit      bool   `json:"audit"`
	Message    string `json:"message"`
	Error      string `json:"error"`
}

// Decision is one webhook's answer in JSON.
type Decision struct {
	Webhook          string            `json:"webhook"`
	Mutating         bool              `json:"mutating"`
	FailurePolicy    string            `json:"failurePolicy"`
	Allowed          bool              `json:"allowed"`
	Status           *metav1.Status    `json:"status"`
	Warnings         []string          `json:"warnings"`
	AuditAnnotations map[string]string `json:"auditAnnotations"`
	Patch            json.RawMessage   `json:"patch"`
	Error            string            `json:"error"`
}

// jsonDoc is the result as the -o json document.
func (r *Result) jsonDoc() JSON {
	req := r.Request
	doc := JSON{
		Allowed: r.Allowed, Operation: string(req.Operation), Kind: req.Kind.Kind,
		Namespace: req.Namespace, Name: req.Name,
		RequestAPIVersion: r.RequestAPIVersion, APIVersion: joinAPIVersion(req.Kind.Group, req.Kind.Version),
		Conversion: r.Conversion, Decisions: []Decision{}, Expressions: []Expression{},
		Engines: map[string]string{}, PolicyDenials: r.PolicyDenials,
		Rules: r.Rules(), Warnings: r.Warnings, Object: r.Object, ValidatedObject: r.ValidatedObject,
	}
	if doc.Rules == nil {
		doc.Rules = []RuleOutcome{}
	}
	if doc.PolicyDenials == nil {
		doc.PolicyDenials = []metav1.Status{}
	}
	for f, e := range r.Engines {
		doc.Engines[string(f)] = string(e)
	}
	if doc.Warnings == nil {
		doc.Warnings = []string{}
	}
	if r.CEL != nil {
		for _, c := range r.CEL.Results {
			e := Expression{Rule: c.Rule.Index, Name: c.Rule.Name, Expression: c.Rule.Expression, Valid: c.Valid,
				Warn: c.Rule.Warn, Audit: c.Rule.Audit, Message: c.Message}
			if c.Err != nil {
				e.Error = c.Err.Error()
			}
			doc.Expressions = append(doc.Expressions, e)
		}
	}
	for _, d := range r.Decisions {
		e := Decision{
			Webhook: d.Webhook, Mutating: d.Mutating, FailurePolicy: string(orFail(d.FailurePolicy)),
			Allowed: d.Allowed(), Warnings: []string{}, AuditAnnotations: map[string]string{}, Patch: json.RawMessage("null"),
		}
		if d.Err != nil {
			e.Error = d.Err.Error()
		} else {
			e.Status = d.Response.Result
			if len(d.Response.Warnings) > 0 {
				e.Warnings = d.Response.Warnings
			}
			if len(d.Response.AuditAnnotations) > 0 {
				e.AuditAnnotations = d.Response.AuditAnnotations
			}
			if len(d.Response.Patch) > 0 {
				e.Patch = d.Response.Patch
			}
		}
		doc.Decisions = append(doc.Decisions, e)
	}
	return doc
}

// WriteJSON prints the -o json document.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.jsonDoc())
}
