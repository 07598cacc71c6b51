package rules

import (
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

const benchObject = `{
  "apiVersion": "web.example.com/v1", "kind": "Website",
  "metadata": {"name": "shop", "namespace": "web-prod",
    "labels": {"app.kubernetes.io/name": "shop", "team": "payments", "tier": "premium"},
    "annotations": {"example.com/owner": "payments@example.com"}},
  "spec": {"replicas": 4, "image": "registry.example.com/shop:1.4.2", "tier": "premium",
    "port": 8080, "domains": ["shop.example.com", "www.shop.example.com"],
    "resources": {"cpu": 2, "memory": 4096}, "backup": {"enabled": true, "retentionDays": 14}}
}`

// benchRules are ten realistic rules: regex, between, in, when, exists.
func benchRules() []katalog.Rule {
	premium := []katalog.Condition{cond(shorthand("spec.tier", "equals", "premium"))}
	return []katalog.Rule{
		{Test: shorthand("spec.replicas", "between", "1,10"), Message: "replicas must be between 1 and 10, got {{ .spec.replicas }}"},
		{Test: shorthand("spec.image", "regex", `^registry\.example\.com/[a-z0-9-]+:[0-9]+\.[0-9]+\.[0-9]+$`), Message: "images come from the internal registry with a semver tag", Action: "warn"},
		{Test: shorthand("spec.tier", "in", []any{"basic", "standard", "premium"}), Message: "unknown tier {{ .spec.tier }}"},
		{Test: shorthand("spec.replicas", "gte", int64(3)), When: premium, Message: "premium sites run at least 3 replicas"},
		{Test: shorthand("spec.backup.enabled", "equals", true), When: premium, Message: "premium sites need backups"},
		{Test: shorthand("spec.port", "notIn", []any{int64(22), int64(25)}), Message: "port {{ .spec.port }} is reserved"},
		{Test: shorthand(`metadata.labels["app.kubernetes.io/name"]`, "exists", true), Message: "the app.kubernetes.io/name label is required"},
		{Test: shorthand(`metadata.annotations["example.com/owner"]`, "suffix", "@example.com"), Message: "the owner must be an example.com address"},
		{Test: shorthand("spec.domains[0]", "regex", `^[a-z0-9.-]+\.example\.com$`), Message: "domains must be under example.com"},
		{Test: shorthand("spec.resources.memory", "lte", "8192"), Message: "at most 8 GiB",
			Or: []katalog.Condition{cond(shorthand("metadata.labels.team", "notEquals", "ml")), cond(shorthand("spec.tier", "equals", "basic"))}},
	}
}

func BenchmarkEvaluate(b *testing.B) {
	set, probs := CompileValidation(benchRules())
	if len(probs) > 0 {
		b.Fatal(probs)
	}
	b.Run("pass", func(b *testing.B) {
		in := Input{Object: decode(b, benchObject)}
		if res := set.Evaluate(in); res != nil {
			b.Fatalf("the object should pass: %+v", res)
		}
		b.ReportAllocs()
		for b.Loop() {
			set.Evaluate(in)
		}
	})
	b.Run("fail3", func(b *testing.B) {
		// Three failures, two with template messages.
		obj := decode(b, benchObject)
		spec := obj["spec"].(map[string]any)
		spec["replicas"], spec["tier"], spec["port"] = 20.0, "gold", 22.0
		in := Input{Object: obj}
		if res := set.Evaluate(in); len(res) != 3 {
			b.Fatalf("want 3 failures, got %+v", res)
		}
		b.ReportAllocs()
		for b.Loop() {
			set.Evaluate(in)
		}
	})
}

func BenchmarkPatch(b *testing.B) {
	set, probs := CompileMutation([]katalog.MutationRule{
		def("spec.tier", "standard"),
		def(`metadata.labels["app.kubernetes.io/managed-by"]`, "orkestra"),
		over("spec.backup.retentionDays", int64(14)),
	})
	if len(probs) > 0 {
		b.Fatal(probs)
	}
	in := Input{Object: decode(b, benchObject)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := set.Patch(in); err != nil {
			b.Fatal(err)
		}
	}
}
