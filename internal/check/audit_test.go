package check

import (
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

func init() {
	cases = append(cases, []struct {
		name string
		src  string
	}{
		{"K08 pass audit mode and rule names", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      enforcement: audit
      validation:
        rules:
          - name: replicas-range
            field: spec.replicas
            between: "1,10"
            message: replicas between 1 and 10
          - field: spec.tier
            exists: true
            action: audit
            message: tier is required
`},
		{"K08 bad enforcement", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      enforcement: Audit # want: K08 error
      validation:
        rules:
          - field: spec.replicas
            exists: true
            message: m
`},
		{"K08 duplicate rule name", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      validation:
        rules:
          - name: replicas
            field: spec.replicas
            exists: true
            message: m
          - name: replicas # want: K08 error
            field: spec.replicas
            gte: 1
            message: m
`},
		{"K22 audit without rules", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      enforcement: audit # want: K22 warning
      mutation:
        rules:
          - field: spec.tier
            default: standard
`},
	}...)
}

// enforcement: audit reaches the compiled rules; action: audit the rule.
func TestAuditCompiled(t *testing.T) {
	src := admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      validation:
        rules:
          - field: spec.replicas
            exists: true
            message: m
          - field: spec.tier
            exists: true
            action: audit
            message: m
    blog:
      apiTypes: {group: web.example.com, version: v1, kind: Blog, plural: blogs}
      enforcement: audit
      validation:
        rules:
          - field: spec.title
            exists: true
            action: warn
            message: m
`
	f, errs := katalog.Parse("t.yaml", []byte(src))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := Run(f, errs)
	if r.Policy == nil {
		t.Fatalf("findings %v", r.Findings)
	}
	audit := map[string][]bool{}
	for _, c := range r.Policy.CRDs {
		for _, ru := range c.Validation.Rules() {
			audit[c.Name] = append(audit[c.Name], ru.Audit)
		}
		if c.Audit != (c.Name == "blog") {
			t.Errorf("%s: Audit %t", c.Name, c.Audit)
		}
	}
	if w := audit["website"]; len(w) != 2 || w[0] || !w[1] {
		t.Errorf("website rules audit %v, want [false true]", w)
	}
	if b := audit["blog"]; len(b) != 1 || !b[0] {
		t.Errorf("blog rules audit %v, want [true]", b)
	}
}
