package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/eval"
)

// Result is the outcome of one suite.
type Result struct {
	Suite *Suite
	// Katalog is the check pass of the suite's Katalog; when it has errors
	// no case ran and every case failed.
	Katalog *check.Result
	Cases   []CaseResult
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	Case *LoadedCase
	// Failures say what differed from the expectation; none when the case
	// passed.
	Failures []string
}

// passed reports whether the case met its expectation.
func (r CaseResult) passed() bool { return len(r.Failures) == 0 }

// failed counts the failed cases of r.
func (r *Result) failed() int {
	n := 0
	for _, c := range r.Cases {
		if !c.passed() {
			n++
		}
	}
	return n
}

// Runner runs suites; Katalogs shared by several suites are checked once.
type Runner struct {
	// Log receives what the gateway would log while converting.
	Log      *slog.Logger
	katalogs map[string]*loaded
}

type loaded struct {
	check *check.Result
	ev    *eval.Evaluator
	err   error
}

func (r *Runner) katalog(path string) *loaded {
	if r.katalogs == nil {
		r.katalogs = map[string]*loaded{}
	}
	if l, ok := r.katalogs[path]; ok {
		return l
	}
	l := &loaded{}
	r.katalogs[path] = l
	if l.check, l.err = check.RunFile(path); l.err != nil {
		return l
	}
	if l.check.File == "" {
		l.check.File = path
	}
	if l.check.Policy != nil {
		l.ev, l.err = eval.New(l.check.Policy, eval.Options{Logger: r.Log})
	}
	return l
}

// Run runs every case of s.
func (r *Runner) Run(ctx context.Context, s *Suite) *Result {
	res := &Result{Suite: s}
	k := r.katalog(s.Katalog)
	res.Katalog = k.check
	for _, c := range s.Cases {
		cr := CaseResult{Case: c}
		switch {
		case k.err != nil:
			cr.Failures = []string{fmt.Sprintf("Katalog %s: %v", s.Katalog, k.err)}
		case k.ev == nil:
			cr.Failures = []string{fmt.Sprintf("Katalog %s has errors (%d); no case runs", s.Katalog, k.check.Errors())}
		case c.Convert != nil:
			cr.Failures = runConversion(k.ev, c)
		default:
			cr.Failures = runAdmission(ctx, k.ev, c)
		}
		res.Cases = append(res.Cases, cr)
	}
	return res
}

func runConversion(ev *eval.Evaluator, c *LoadedCase) []string {
	out, err := ev.Convert(c.Convert, c.ConvertTo)
	e := c.Expect
	switch {
	case err != nil && e.Error == "":
		return []string{"conversion failed: " + err.Error()}
	case err != nil:
		if !strings.Contains(err.Error(), e.Error) {
			return []string{fmt.Sprintf("error: want one containing %q, got %q", e.Error, err.Error())}
		}
		return nil
	case e.Error != "":
		return []string{fmt.Sprintf("error: want one containing %q, the conversion succeeded", e.Error)}
	}
	if diffs := subset("object", e.Object.V, normalize(out)); len(diffs) > 0 {
		return diffs
	}
	return nil
}

func runAdmission(ctx context.Context, ev *eval.Evaluator, c *LoadedCase) []string {
	res, err := ev.Run(ctx, *c.Input)
	if err != nil {
		var ie *eval.InputError
		if errors.As(err, &ie) {
			return []string{"the request cannot be made: " + err.Error()}
		}
		return []string{"evaluation failed: " + err.Error()}
	}
	e := c.Expect
	var f []string
	if e.Allowed != nil && *e.Allowed != res.Allowed {
		f = append(f, fmt.Sprintf("allowed: want %t, got %t%s", *e.Allowed, res.Allowed, why(res)))
	}
	denials := denials(res)
	if e.Code != nil && !slices.ContainsFunc(denials, func(d denial) bool { return d.code == int32(*e.Code) }) {
		f = append(f, fmt.Sprintf("code: want a %d denial, got %s", *e.Code, describeDenials(denials)))
	}
	if e.Message != "" && !slices.ContainsFunc(denials, func(d denial) bool { return strings.Contains(d.message, e.Message) }) {
		f = append(f, fmt.Sprintf("message: want a denial containing %q, got %s", e.Message, describeDenials(denials)))
	}
	if e.Causes != nil {
		if got := causes(res); !causesMatch(e.Causes, got) {
			f = append(f, fmt.Sprintf("causes: want %s, got %s", showCauses(e.Causes), showStatusCauses(got)))
		}
	}
	entry := ""
	if res.Entry != nil {
		entry = res.Entry.Name
	}
	var failing, audited []string
	for _, o := range res.Rules() {
		failing = append(failing, o.Rule)
		if o.Action == "audit" {
			audited = append(audited, o.Rule)
		}
	}
	if e.Rules != nil {
		if want := ruleIDs(entry, e.Rules); !sameSet(want, failing) {
			f = append(f, fmt.Sprintf("rules: want %s, got %s", list(want), list(failing)))
		}
	}
	if e.Audit != nil {
		if want := ruleIDs(entry, e.Audit); !sameSet(want, audited) {
			f = append(f, fmt.Sprintf("audit: want %s, got %s", list(want), list(audited)))
		}
	}
	if e.Warnings != nil && !sameSet(e.Warnings, withoutPolicyPrefix(res.Warnings)) {
		f = append(f, fmt.Sprintf("warnings: want %s, got %s", list(e.Warnings), list(res.Warnings)))
	}
	if e.Patch != nil {
		got := []any{}
		for _, d := range res.Decisions {
			if d.Mutating && d.Response != nil && len(d.Response.Patch) > 0 {
				var ops []any
				if err := json.Unmarshal(d.Response.Patch, &ops); err == nil {
					got = append(got, ops...)
				}
			}
		}
		if want := normalize(e.Patch.V); !reflect.DeepEqual(want, normalize(got)) {
			f = append(f, fmt.Sprintf("patch: want %s, got %s", compact(want), compact(got)))
		}
	}
	if e.Object != nil {
		if res.Object == nil {
			f = append(f, "object: want one, got none (a DELETE, or a mutating webhook rejected the request)")
		} else {
			f = append(f, subset("object", e.Object.V, normalize(res.Object))...)
		}
	}
	return f
}

// why summarizes the verdict for a failed allowed expectation.
func why(res *eval.Result) string {
	ds := denials(res)
	if len(ds) == 0 {
		return ""
	}
	return " (" + describeDenials(ds) + ")"
}

type denial struct {
	by      string
	code    int32
	message string
}

// denials are the denials of the request: each webhook's, and the CEL
// rules' (an evaluation error under failurePolicy Fail included).
func denials(res *eval.Result) []denial {
	var out []denial
	for _, d := range res.Decisions {
		switch {
		case d.Allowed():
		case d.Err != nil:
			out = append(out, denial{by: d.Webhook, code: 500, message: d.Err.Error()})
		case d.Response.Result != nil:
			out = append(out, denial{by: d.Webhook, code: d.Response.Result.Code, message: d.Response.Result.Message})
		default:
			out = append(out, denial{by: d.Webhook, code: 403})
		}
	}
	if res.CEL != nil && !res.CEL.Allowed() {
		for _, r := range res.CEL.Results {
			switch {
			case r.Rule.Audit || r.Valid && r.Err == nil:
			case r.Err != nil:
				out = append(out, denial{by: "CEL rules", code: 500, message: r.Err.Error()})
			case !r.Rule.Warn:
				out = append(out, denial{by: "CEL rules", code: 422, message: r.Message})
			}
		}
	}
	return out
}

func describeDenials(ds []denial) string {
	if len(ds) == 0 {
		return "none (allowed)"
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%s: %d %q", d.by, d.code, d.message)
	}
	return strings.Join(parts, "; ")
}

func causes(res *eval.Result) []metav1.StatusCause {
	var out []metav1.StatusCause
	for _, d := range res.Decisions {
		if d.Response != nil && d.Response.Result != nil && d.Response.Result.Details != nil {
			out = append(out, d.Response.Result.Details.Causes...)
		}
	}
	return out
}

// causesMatch: the same number, in order, each field equal and each
// message equal or ending with ": " + the expected message (the rule's
// message after "Invalid value: 20").
func causesMatch(want []Cause, got []metav1.StatusCause) bool {
	if len(want) != len(got) {
		return false
	}
	for i, w := range want {
		g := got[i]
		if w.Field != "" && w.Field != g.Field {
			return false
		}
		if w.Message != "" && w.Message != g.Message && !strings.HasSuffix(g.Message, ": "+w.Message) {
			return false
		}
	}
	return true
}

func showCauses(cs []Cause) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Field + ": " + c.Message
	}
	return list(parts)
}

func showStatusCauses(cs []metav1.StatusCause) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Field + ": " + c.Message
	}
	return list(parts)
}

// ruleIDs qualifies rule names without an entry with the request's.
func ruleIDs(entry string, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if !strings.Contains(id, "/") {
			id = entry + "/" + id
		}
		out[i] = id
	}
	return out
}

// policyPrefix starts the warnings of a ValidatingAdmissionPolicy (the
// native engine's): suites name warnings without it, so one suite serves
// both engines.
var policyPrefix = regexp.MustCompile(`^Validation failed for ValidatingAdmissionPolicy '[^']*' with binding '[^']*': `)

func withoutPolicyPrefix(ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = policyPrefix.ReplaceAllString(w, "")
	}
	return out
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	sort.Strings(x)
	sort.Strings(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// normalize turns numbers into float64, as JSON decoding gives them, so
// 3 (YAML) equals 3.0 (JSON).
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = normalize(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = normalize(e)
		}
		return s
	case int64:
		return float64(x)
	case int:
		return float64(x)
	}
	return v
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// subset compares an expected object with the actual one: a mapping
// matches when each key it gives matches (keys it does not give are not
// compared), a list when it has as many items each matching in order, a
// scalar when equal (numbers by value).
func subset(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want a mapping, got %s", path, compact(got))}
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			gv, present := g[k]
			p := path + "." + k
			switch {
			case !present && w[k] != nil:
				out = append(out, fmt.Sprintf("%s: want %s, got nothing", p, compact(normalize(w[k]))))
			case present:
				out = append(out, subset(p, w[k], gv)...)
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %s, got %s", path, compact(normalize(w)), compact(got))}
		}
		var out []string
		for i := range w {
			out = append(out, subset(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	}
	if !reflect.DeepEqual(normalize(want), got) {
		return []string{fmt.Sprintf("%s: want %s, got %s", path, compact(normalize(want)), compact(got))}
	}
	return nil
}
