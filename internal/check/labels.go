package check

import (
	"fmt"
	"slices"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// protectionLabelPath is the canonical field path of the protection label.
var protectionLabelPath = func() string {
	p, err := rules.ParsePath(`metadata.labels["` + policy.ProtectionLabel + `"]`)
	if err != nil {
		panic(err)
	}
	return p.String()
}()

// valueOperators compare a field with the values they are given; a value
// other than "true" for the protection label suggests the author believes
// it protects.
var valueOperators = []string{"equals", "notEquals", "in", "notIn", "contains", "notContains", "prefix", "notPrefix", "suffix", "notSuffix"}

// protectionLabelValues warns (K14) where a rule of the entry sets the
// protection label, or compares it, to a value other than the string
// "true": only that exact value protects an object (the webhooks select
// orkestra.io/deletion-protection=true), so "yes", "True", "enabled" or an
// unquoted YAML true protect nothing.
func (p *pass) protectionLabelValues(base string, e *katalog.CRD) {
	if e.Mutation != nil {
		for i, r := range e.Mutation.Rules {
			field := fmt.Sprintf("%s.mutation.rules[%d]", base, i)
			if isProtectionLabel(r.Field) {
				for _, op := range []struct {
					name string
					v    *katalog.Value
				}{{"default", r.Default}, {"override", r.Override}} {
					if op.v != nil && !isTrueString(op.v.V) {
						p.warnf("K14", field+"."+op.name, `write the quoted string "true"; no other value protects the object`,
							"this mutation rule sets %s to %s; only the string \"true\" protects an object from deletion", policy.ProtectionLabel, describeValue(op.v.V))
					}
				}
			}
			p.protectionConditions(field, r.When, r.Or)
		}
	}
	if e.Validation != nil {
		for i, r := range e.Validation.Rules {
			field := fmt.Sprintf("%s.validation.rules[%d]", base, i)
			p.protectionTest(field, &r.Test)
			p.protectionConditions(field, r.When, r.Or)
		}
	}
}

func (p *pass) protectionConditions(field string, when, or []katalog.Condition) {
	for j := range when {
		p.protectionTest(fmt.Sprintf("%s.when[%d]", field, j), &when[j].Test)
	}
	for j := range or {
		p.protectionTest(fmt.Sprintf("%s.or[%d]", field, j), &or[j].Test)
	}
}

// protectionTest warns when t compares the protection label with a value
// other than "true".
func (p *pass) protectionTest(field string, t *katalog.Test) {
	if !isProtectionLabel(t.Field) {
		return
	}
	ops := t.Shorthands()
	if t.Operator != "" {
		ops = append(ops, katalog.OperatorValue{Operator: t.Operator, Value: t.Value})
	}
	for _, ov := range ops {
		if !slices.Contains(valueOperators, ov.Operator) || ov.Value == nil {
			continue
		}
		values := []any{ov.Value.V}
		if l, ok := ov.Value.V.([]any); ok {
			values = l
		}
		for _, v := range values {
			if isTrueString(v) {
				continue
			}
			at := field + "." + ov.Operator
			if t.Operator != "" && ov.Operator == t.Operator {
				at = field + ".value"
			}
			p.warnf("K14", at, `compare with the quoted string "true": an object is protected exactly when the label is "true"`,
				"this rule compares %s with %s (%s); only the string \"true\" protects an object from deletion, other values protect nothing",
				policy.ProtectionLabel, describeValue(v), ov.Operator)
			break
		}
	}
}

// isProtectionLabel reports whether a rule's field path is the protection
// label.
func isProtectionLabel(field string) bool {
	p, err := rules.ParsePath(field)
	return err == nil && p.String() == protectionLabelPath
}

func isTrueString(v any) bool {
	s, ok := v.(string)
	return ok && s == "true"
}

// describeValue names a YAML value for a message: quoted strings, the YAML
// type of anything else.
func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case bool:
		return fmt.Sprintf("the boolean %v (unquoted YAML), not a string", x)
	case nil:
		return "null"
	case int64, float64:
		return fmt.Sprintf("the number %v, not a string", x)
	}
	return fmt.Sprintf("a %T, not a string", v)
}
