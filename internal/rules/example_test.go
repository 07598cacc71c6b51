package rules_test

import (
	"fmt"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
	"github.com/orkspace/orkestra-gateway/internal/rules"
)

// A validation set is compiled once from the Katalog's rules and evaluated
// per object: every rule runs, and each failure names its field, with the
// element's index for a [*] path.
func ExampleValidationSet_Evaluate() {
	set, problems := rules.CompileValidation([]katalog.Rule{
		{Test: katalog.Test{Field: "spec.replicas", Between: &katalog.Value{V: "1,10"}}, Message: "replicas must be between 1 and 10"},
		{Test: katalog.Test{Field: "spec.containers[*].image", Prefix: &katalog.Value{V: "registry.example.com/"}},
			Message: "images come from the internal registry", Action: "warn"},
	})
	if len(problems) > 0 {
		fmt.Println(problems)
		return
	}
	object := map[string]any{"spec": map[string]any{
		"replicas": int64(20),
		"containers": []any{
			map[string]any{"image": "registry.example.com/shop:1.2"},
			map[string]any{"image": "docker.io/nginx"},
		},
	}}
	for _, r := range set.Evaluate(rules.Input{Object: object, Operation: "CREATE"}) {
		fmt.Printf("%s: %s (warn: %v)\n", r.Field, r.Message, r.Warn)
	}
	// Output:
	// spec.replicas: replicas must be between 1 and 10 (warn: false)
	// spec.containers[1].image: images come from the internal registry (warn: true)
}

// A mutation set plans JSONPatch operations: default sets a field only when
// it is absent or empty, override always; keys are escaped as RFC 6901 says.
func ExampleMutationSet_Patch() {
	set, problems := rules.CompileMutation([]katalog.MutationRule{
		{Field: "spec.tier", Default: &katalog.Value{V: "standard"}},
		{Field: `metadata.annotations["app.kubernetes.io/managed-by"]`, Override: &katalog.Value{V: "orkestra"}},
	})
	if len(problems) > 0 {
		fmt.Println(problems)
		return
	}
	ops, err := set.Patch(rules.Input{Object: map[string]any{
		"metadata": map[string]any{"name": "shop", "annotations": map[string]any{"team": "web"}},
		"spec":     map[string]any{},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, op := range ops {
		fmt.Printf("%s %s %v\n", op.Op, op.Path, op.Value)
	}
	// Output:
	// add /spec/tier standard
	// add /metadata/annotations/app.kubernetes.io~1managed-by orkestra
}
