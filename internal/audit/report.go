package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// WriteText prints, per entry and rule, the objects that would be denied
// or warned, then the totals.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	for _, e := range r.Entries {
		if len(e.Operations) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s: %d %s listed, %d subject to the rules, evaluated as %s\n",
			e.Name, e.Listed, e.Resource.Resource, e.Evaluated, strings.Join(e.Operations, " and "))
		for _, rule := range e.Rules {
			verb := map[string]string{"deny": "would be denied", "warn": "would be warned"}
			head := rule.Action
			if rule.Would != "" {
				head = "audit, would " + rule.Would
			}
			if rule.Expression {
				head += ", CEL"
			}
			if len(rule.Findings) == 0 {
				fmt.Fprintf(&b, "  %s (%s): no object\n", rule.ID, head)
				continue
			}
			what := verb[rule.Action]
			if rule.Would != "" {
				what = verb[rule.Would]
			}
			fmt.Fprintf(&b, "  %s (%s): %d %s\n", rule.ID, head, len(rule.Findings), plural(len(rule.Findings), "object "+what, "objects "+what))
			for _, f := range rule.Findings {
				fmt.Fprintf(&b, "    %s %s (%s): %s\n", e.Kind, f.Object, strings.Join(f.Operations, ", "), f.Message)
			}
		}
	}
	pass, fail, warn, errs := r.totals()
	fmt.Fprintf(&b, "%d would be denied, %d warned, %d errors, %d passed (rule and object pairs)\n", fail, warn, errs, pass)
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// policyReport is the wgpolicyk8s.io/v1alpha2 PolicyReport (namespaced)
// or ClusterPolicyReport.
type policyReport struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   reportMetadata `json:"metadata"`
	Summary    reportSummary  `json:"summary"`
	Results    []policyResult `json:"results"`
}

// reportMetadata is the report's object metadata.
type reportMetadata struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// reportSummary counts results.
type reportSummary struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Warn  int `json:"warn"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
}

// policyResult is one policy result.
type policyResult struct {
	Source     string            `json:"source"`
	Policy     string            `json:"policy"`
	Rule       string            `json:"rule"`
	Result     string            `json:"result"`
	Message    string            `json:"message,omitempty"`
	Scored     bool              `json:"scored"`
	Resources  []Object          `json:"resources"`
	Properties map[string]string `json:"properties,omitempty"`
	Timestamp  timestamp         `json:"timestamp"`
}

// timestamp is the protobuf-style time of a result.
type timestamp struct {
	Seconds int64 `json:"seconds"`
	Nanos   int32 `json:"nanos"`
}

// reportList holds the reports, as `kubectl get -o yaml` prints several objects.
type reportList struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Items      []policyReport `json:"items"`
}

// reportSource names the gateway in every result.
const reportSource = "orkestra-gateway"

// policyReports builds one PolicyReport per namespace with results and a
// ClusterPolicyReport for cluster-scoped objects: a result per failing
// rule and object, and per rule one pass result listing the objects it
// passed. They are for reading (or storing as the user chooses); the
// audit applies nothing.
func (r *Report) policyReports(now time.Time) reportList {
	ts := timestamp{Seconds: now.Unix()}
	out := reportList{APIVersion: "v1", Kind: "List", Items: []policyReport{}}
	for _, ns := range r.namespacesOf() {
		pr := policyReport{
			APIVersion: "wgpolicyk8s.io/v1alpha2", Kind: "PolicyReport",
			Metadata: reportMetadata{Name: "ork-audit-" + r.Katalog, Namespace: ns,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "ork-audit", "orkestra.orkspace.io/katalog": r.Katalog}},
			Results: []policyResult{},
		}
		if ns == "" {
			pr.Kind = "ClusterPolicyReport"
		}
		for _, e := range r.Entries {
			for _, rule := range e.Rules {
				props := map[string]string{"action": rule.Action, "entry": e.Name}
				if rule.Would != "" {
					props["enforcement"] = "audit"
					props["wouldAction"] = rule.Would
				}
				if rule.Expression {
					props["expression"] = "true"
				}
				for _, f := range rule.Findings {
					if f.Object.Namespace != ns {
						continue
					}
					p := map[string]string{"operations": strings.Join(f.Operations, ",")}
					for k, v := range props {
						p[k] = v
					}
					pr.Results = append(pr.Results, policyResult{Source: reportSource, Policy: r.Katalog, Rule: rule.ID, Result: f.Result,
						Message: f.Message, Scored: true, Resources: []Object{f.Object}, Properties: p, Timestamp: ts})
					switch f.Result {
					case "fail":
						pr.Summary.Fail++
					case "warn":
						pr.Summary.Warn++
					default:
						pr.Summary.Error++
					}
				}
				var passed []Object
				for _, o := range rule.Passed {
					if o.Namespace == ns {
						passed = append(passed, o)
					}
				}
				if len(passed) > 0 {
					pr.Results = append(pr.Results, policyResult{Source: reportSource, Policy: r.Katalog, Rule: rule.ID, Result: "pass",
						Scored: true, Resources: passed, Properties: props, Timestamp: ts})
					pr.Summary.Pass += len(passed)
				}
			}
		}
		out.Items = append(out.Items, pr)
	}
	return out
}

// WriteJSON prints the reports as a JSON List.
func (r *Report) WriteJSON(w io.Writer, now time.Time) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.policyReports(now))
}

// WriteYAML prints the reports as a YAML List.
func (r *Report) WriteYAML(w io.Writer, now time.Time) error {
	b, err := yaml.Marshal(r.policyReports(now))
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
