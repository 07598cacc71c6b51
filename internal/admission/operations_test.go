package admission_test

import (
	"path/filepath"
	"slices"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/admission"
	"github.com/orkspace/orkestra-gateway/internal/check"
	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// Webhook.Operations (the operations whose metrics exist from the start)
// are those the registration sends each webhook, for every example
// Katalog: the union of the operations of the rules of every webhook
// registered at the feature's path.
func TestOperationsAreTheRegistrations(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*", "katalog.yaml"))
	if len(files) == 0 {
		t.Fatal("no example Katalog")
	}
	for _, f := range files {
		res, err := check.RunFile(f)
		if err != nil || res.Policy == nil {
			t.Fatalf("%s: %v %v", f, err, res.Findings)
		}
		p := res.Policy
		registered := map[string]map[admissionv1.Operation]bool{}
		add := func(path *string, ops []admissionv1.Operation) {
			if registered[*path] == nil {
				registered[*path] = map[admissionv1.Operation]bool{}
			}
			for _, op := range ops {
				registered[*path][op] = true
			}
		}
		ep := registration.Endpoint{Namespace: "orkestra-system", Service: "orkestra-gateway"}
		validating, mutating := registration.Desired(p, ep, nil)
		for _, c := range validating {
			for _, w := range c.Webhooks {
				for _, r := range w.Rules {
					add(w.ClientConfig.Service.Path, toOps(r.Operations))
				}
			}
		}
		for _, c := range mutating {
			for _, w := range c.Webhooks {
				for _, r := range w.Rules {
					add(w.ClientConfig.Service.Path, toOps(r.Operations))
				}
			}
		}
		for _, w := range admission.Webhooks(p) {
			var want []admissionv1.Operation
			for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect} {
				if registered[webhook.Feature(w.Name).Path()][op] {
					want = append(want, op)
				}
			}
			if !slices.Equal(w.Operations, want) {
				t.Errorf("%s: %s: Operations %v, the registration sends %v", filepath.Base(filepath.Dir(f)), w.Name, w.Operations, want)
			}
		}
	}
}

func toOps[T ~string](ops []T) []admissionv1.Operation {
	out := make([]admissionv1.Operation, len(ops))
	for i, op := range ops {
		out[i] = admissionv1.Operation(op)
	}
	return out
}
