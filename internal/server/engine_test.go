package server

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/registration"
)

const celKatalog = katalogHead + `security:
  webhooks:
    admission:
      engine: auto
spec:
  crds:
    pod:
      apiTypes: {group: "", version: v1, kind: Pod, plural: pods}
      validation:
        rules:
          - {field: "spec.containers[*].image", prefix: registry.example.com/, message: registry}
          - {expression: "object.spec.containers.size() < 10", message: fewer than 10 containers}
          - {expression: "!has(object.spec.hostPID)", message: no host PID, action: warn}
`

// CEL rules nothing enforces (engine auto on a cluster without
// ValidatingAdmissionPolicy) are an error on every tick and a gauge; with
// policy support they are the API server's, and nothing is said.
func TestCELRulesUnenforcedAreLoud(t *testing.T) {
	for _, tc := range []struct {
		name    string
		support registration.Support
		want    int
	}{
		{"no policy support", registration.Support{}, 2},
		{"mutating policies only", registration.Support{Mutating: true}, 2},
		{"validating policies", registration.Support{Validating: true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := gatewayFor(t, celKatalog)
			var logs bytes.Buffer
			g.log = slog.New(slog.NewJSONHandler(&logs, nil))
			g.checkCELEnforced(registration.Engines(g.policy, tc.support))
			if got := g.metrics.unenforced.Value(); got != float64(tc.want) {
				t.Errorf("orkestra_gateway_admission_cel_rules_unenforced = %v, want %d", got, tc.want)
			}
			loud := strings.Contains(logs.String(), `"level":"ERROR","msg":"CEL rules are not enforced`)
			if loud != (tc.want > 0) || (loud && !strings.Contains(logs.String(), `"entries":"pod"`)) {
				t.Errorf("log:\n%s", logs.String())
			}
		})
	}
}
