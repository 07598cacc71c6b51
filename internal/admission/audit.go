package admission

import (
	"context"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/metrics"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// Option configures the handlers of Webhooks.
type Option func(*options)

type options struct {
	m *Metrics
}

// WithMetrics counts into m the handlers' own metrics (the denials and
// audit counters of the validation handler); without it they count into
// collectors nobody registers.
func WithMetrics(m *Metrics) Option {
	return func(o *options) { o.m = m }
}

// auditMetric counts the failures of rules in audit mode.
const auditMetric = "orkestra_gateway_admission_audit_total"

// denialsMetric counts the denials by each validation rule.
const denialsMetric = "orkestra_gateway_admission_denials_total"

// auditRuleLabel is the value of the rule label of the audit and denials
// counters for rule of entry: "<entry>/<rule name or index>". The values
// are bounded by the Katalog.
func auditRuleLabel(entry string, r rules.RuleInfo) string { return entry + "/" + r.ID() }

func newAuditVec() *metrics.CounterVec {
	return metrics.NewCounterVec(metrics.Opts{
		Name: auditMetric,
		Help: "Failures of validation rules in audit mode (action: audit, or enforcement: audit): requests they would deny or warn, by rule (<entry>/<rule name or index>).",
	}, []string{"rule"})
}

func newDenialsVec() *metrics.CounterVec {
	return metrics.NewCounterVec(metrics.Opts{
		Name: denialsMetric,
		Help: "Admission requests denied by a validation rule, by rule (<entry>/<rule name or index>); a request failing several rules counts once for each.",
	}, []string{"rule"})
}

// ruleCounters hold one counter per field rule of the Katalog the webhook
// evaluates (CEL rules are the API server's: the webhook never sees them
// fail): denials of the enforced deny rules, failures of the rules in audit
// mode. They are created at zero when the handler is built, so a dashboard
// sees every rule before its first failure.
type ruleCounters map[ruleKey]*metrics.Counter

type ruleKey struct {
	entry string
	rule  int
}

func newRuleCounters(p *policy.Policy, o options) (audits, denials ruleCounters) {
	auditVec, denialsVec := newAuditVec(), newDenialsVec()
	if o.m != nil {
		auditVec, denialsVec = o.m.audit, o.m.denials
	}
	audits, denials = ruleCounters{}, ruleCounters{}
	for _, c := range p.CRDs {
		for _, r := range c.Validation.Rules() {
			switch {
			case r.Expression:
			case r.Audit:
				audits[ruleKey{c.Name, r.Index}] = auditVec.WithLabelValues(auditRuleLabel(c.Name, r))
			case !r.Warn:
				denials[ruleKey{c.Name, r.Index}] = denialsVec.WithLabelValues(auditRuleLabel(c.Name, r))
			}
		}
	}
	return audits, denials
}

// countDenials counts each deny rule among results once (a [*] rule
// failing on several elements is one denial).
func (rc ruleCounters) countDenials(entry string, results []rules.Result) {
	last := -1
	for _, r := range results {
		if r.Audit || r.Warn || r.Rule == last {
			continue
		}
		last = r.Rule
		if ctr := rc[ruleKey{entry, r.Rule}]; ctr != nil {
			ctr.Inc()
		}
	}
}

// RuleFailure is one failing validation rule of a request: denied, warned
// or audited.
type RuleFailure struct {
	Entry string
	rules.Result
}

// ID is the rule's "<entry>/<rule name or index>".
func (f RuleFailure) ID() string { return f.Entry + "/" + rules.RuleID(f.Rule, f.Name) }

// Action is what the rule does: deny, warn, or audit (with the action it
// would take once enforced in Warn).
func (f RuleFailure) Action() string {
	switch {
	case f.Audit:
		return "audit"
	case f.Warn:
		return "warn"
	}
	return "deny"
}

// failureLog collects the rule failures of one handler call for Review;
// the server path has none.
type failureLog struct{ failures []RuleFailure }

type failureLogKey struct{}

func noteFailures(ctx context.Context, entry string, results []rules.Result) {
	if l, _ := ctx.Value(failureLogKey{}).(*failureLog); l != nil {
		for _, r := range results {
			l.failures = append(l.failures, RuleFailure{Entry: entry, Result: r})
		}
	}
}

// audit records the failures of rules in audit mode, once per rule and
// request: one log line, one count, and an audit annotation (the API
// server writes it to its audit log as
// <webhook>/audit-rule-<index>). A [*] rule failing on several elements
// is one would-be denial naming every element.
func (h *validation) audit(ctx context.Context, req *admissionv1.AdmissionRequest, c *policy.CRD, audited []rules.Result) map[string]string {
	if len(audited) == 0 {
		return nil
	}
	log := logger(ctx)
	ann := map[string]string{}
	for i := 0; i < len(audited); {
		r := audited[i]
		var causes []string
		for ; i < len(audited) && audited[i].Rule == r.Rule; i++ {
			causes = append(causes, auditCause(audited[i]))
		}
		id := c.Name + "/" + rules.RuleID(r.Rule, r.Name)
		would := "would deny"
		if r.Warn {
			would = "would warn"
		}
		if ctr := h.audits[ruleKey{c.Name, r.Rule}]; ctr != nil {
			ctr.Inc()
		}
		msg := strings.Join(causes, "; ")
		attrs := append(requestAttrs(req), "rule", id, "message", msg)
		if req.DryRun != nil && *req.DryRun {
			attrs = append(attrs, "dryRun", true) // a dry run is a would-be denial too
		}
		log.Info("admission audit: rule "+would, attrs...)
		ann["audit-rule-"+rules.RuleID(r.Rule, "")] = id + " " + would + ": " + msg
	}
	return ann
}

// auditCause is a failure as the rule would report it once enforced.
func auditCause(r rules.Result) string {
	msg := r.Message
	if r.Value != nil && !r.Warn {
		msg = "Invalid value: " + valueString(r.Value) + ": " + msg
	}
	return r.Field + ": " + msg
}
