package check

import (
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/celeval"
	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// The toolchain's CEL type-checker, as cmd/ork sets it.
func init() { CEL = &celeval.Checker{} }

// auto turns admission on with the auto engine, for CEL rules.
const auto = header + `security:
  webhooks:
    admission:
      engine: auto
`

// native turns admission on with the native engine.
const native = header + `security:
  webhooks:
    admission:
      engine: native
`

const pod = `{group: "", version: v1, kind: Pod, plural: pods}`

func init() {
	cases = append(cases, []struct {
		name string
		src  string
	}{
		{"K05 pass built-in resources", admission + `  deletionProtection: {}
spec:
  crds:
    pod:
      apiTypes: ` + pod + `
      validation:
        rules:
          - field: spec.containers[*].image
            prefix: registry.example.com/
            message: images come from registry.example.com
      mutation:
        rules:
          - field: spec.containers[*].imagePullPolicy
            default: IfNotPresent
      deletionProtection:
        protectCRs: true
    deployment:
      apiTypes: {group: apps, version: v1, kind: Deployment, plural: deployments}
      validation:
        rules:
          - field: spec.replicas
            lte: "{{ .metadata.annotations.maxReplicas }}"
            message: too many replicas
            when:
              - field: request.userInfo.username
                notEquals: admin
              - field: oldObject.spec.replicas
                exists: true
    ingress:
      apiTypes: {group: networking.k8s.io, version: v1, kind: Ingress, plural: ingresses}
      validation:
        rules:
          - field: spec.rules[*].host
            suffix: .example.com
            message: hosts under example.com
`},
		{"K05 group missing", header + `spec:
  crds:
    pod:
      apiTypes: {version: v1, kind: Pod, plural: pods} # want: K05 error
`},
		{"K07 two entries for pods", header + `spec:
  crds:
    pod:
      apiTypes: ` + pod + `
    pods: # want: K07 error
      apiTypes: ` + pod + `
`},
		{"K14 protectCRD on a built-in resource", header + `security:
  deletionProtection: {}
spec:
  crds:
    pod:
      apiTypes: ` + pod + `
      deletionProtection:
        protectCRD: true # want: K14 error
        protectCRs: true
`},
		{"K16 conversion of a built-in resource", header + `security:
  conversion: {}
spec:
  crds:
    deployment:
      apiTypes: {group: apps, version: v1, kind: Deployment, plural: deployments}
      conversion: # want: K16 error
        storageVersion: v1
        versions: [v1]
`},
		{"K08 pass CEL rules with engine auto", auto + `spec:
  crds:
    pod:
      apiTypes: ` + pod + `
      validation:
        rules:
          - expression: "object.spec.containers.all(c, has(c.resources.limits))" # want: K22 warning
            message: every container has limits
          - expression: "request.userInfo.username != 'root'"
            messageExpression: "'user ' + request.userInfo.username + ' may not'"
            action: warn
`},
		{"K08 CEL rules of an entry auto keeps on the webhook engine", auto + `spec:
  crds:
    pod:
      apiTypes: ` + pod + `
      validation:
        rules:
          - field: "{{ .spec.which }}" # want: K22 warning
            exists: true
            message: m
          - expression: "object.spec.containers.size() < 10" # want: K08 error
            message: fewer than 10 containers
`},
		{"K10 a value template the native engine cannot compile", native + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      validation:
        rules:
          - field: spec.replicas
            lte: "{{ range .spec.l }}{{ . }}{{ end }}" # want: K10 error
            message: m
          - field: spec.replicas
            lte: "{{ .spec.max }}"
            message: m
          - field: "spec.containers[*].image"
            prefix: "{{ .metadata.namespace }}/"
            when:
              - {field: oldObject.spec.x, exists: true}
              - {field: request.userInfo.groups, contains: "{{ printf \"%s\" .metadata.namespace }}"} # want: K10 error
            message: m
`},
		{"K08 CEL rules with engine native", native + `spec:
  crds:
    pod:
      apiTypes: ` + pod + `
      validation:
        rules:
          - expression: "object.spec.containers.size() < 10"
            message: fewer than 10 containers
`},
		{"K08 CEL rules need the native or auto engine", admission + `spec:
  crds:
    pod:
      apiTypes: ` + pod + `
      validation:
        rules:
          - expression: "object.spec.containers.size() < 10" # want: K08 error
            message: fewer than 10 containers
`},
		{"K08 new shapes", auto + `spec:
  crds:
    pod:
      apiTypes: ` + pod + `
      validation:
        rules:
          - field: spec.containers[*].image # want: K08 error
            expression: "true"
            message: m
          - field: oldObject.spec.nodeName # want: K08 error
            exists: true
            message: m
          - field: spec.nodeName
            exists: true
            message: m
            when:
              - field: request.namespace # want: K08 error
                equals: default
          - expression: "true" # want: K08 error
`},
		{"K09 CEL that does not compile", auto + `spec:
  crds:
    website:
      crdFile: crds/website.yaml
      validation:
        rules:
          - expression: "object.spec.replicas <" # want: K09 error, K22 warning
            message: m
          - expression: "object.spec.size <= 10" # want: K09 error
            message: v2 has replicas, not size
          - expression: "object.spec.replicas <= 10 && object.metadata.labels['team'] != ''"
            messageExpression: "object.spec.replicas" # want: K09 error
            message: m
          - expression: "object.spec.replicas" # want: K09 error
            message: not a bool
`},
		{"K09 template values", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      validation:
        rules:
          - field: spec.image
            regex: "^{{ .spec.registry }}/" # want: K09 error
            message: m
          - field: spec.replicas
            lte: "{{ .spec.maxReplicas }}"
            message: at most maxReplicas
`},
		{"K10 template values", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      validation:
        rules:
          - field: spec.replicas
            lte: "{{ .spec.maxReplicas | double }}" # want: K10 error
            message: m
`},
		{"K13 namespace protection of a built-in resource covers kube-system", header + `security:
  namespaceProtection: {}
spec:
  crds:
    pod:
      apiTypes: ` + pod + ` # want: K13 warning
    deployment:
      apiTypes: {group: apps, version: v1, kind: Deployment, plural: deployments}
      allowedNamespaces: [team-*] # want: K13 warning
    website:
      apiTypes: ` + website + `
`},
		{"K13 pass built-in resource outside kube-system", header + `security:
  namespaceProtection:
    restrictedNamespaces: [kube-public, legacy-*]
spec:
  crds:
    pod:
      apiTypes: ` + pod + `
`},
		{"K15 engine misspelt", header + `security:
  webhooks:
    admission: # want: K22 warning
      engine: Native # want: K15 error
`},
	}...)
}

func TestBuiltInEntries(t *testing.T) {
	r := run(admission + `  deletionProtection: {}
spec:
  crds:
    pod:
      apiTypes: ` + pod + `
      validation:
        rules:
          - {field: "spec.containers[*].image", prefix: r/, message: m}
      deletionProtection: {}
    deployment:
      apiTypes: {group: apps, version: v1, kind: Deployment, plural: deployments}
      validation:
        rules:
          - {field: spec.replicas, gt: 0, message: m}
    website:
      apiTypes: ` + website + `
      deletionProtection: {}
    route:
      apiTypes: {group: gateway.networking.k8s.io, version: v1, kind: HTTPRoute, plural: httproutes}
`)
	if r.Policy == nil {
		t.Fatal(dump(r))
	}
	byName := map[string]*policy.CRD{}
	for _, c := range r.Policy.CRDs {
		byName[c.Name] = c
	}
	for name, want := range map[string]bool{"pod": true, "deployment": true, "website": false, "route": false} {
		if got := byName[name].BuiltIn; got != want {
			t.Errorf("%s: BuiltIn %t, want %t", name, got, want)
		}
	}
	// A built-in's block protects its labelled objects, never a CRD.
	if p := byName["pod"]; p.ProtectCRD || !p.ProtectCRs || p.Group != "" {
		t.Errorf("pod: ProtectCRD %t ProtectCRs %t group %q", p.ProtectCRD, p.ProtectCRs, p.Group)
	}
	if w := byName["website"]; !w.ProtectCRD {
		t.Error("website: protectCRD does not default to true for a CRD")
	}
	if r.Policy.Admission.Engine != policy.EngineWebhook {
		t.Errorf("engine = %q, want the webhook default", r.Policy.Admission.Engine)
	}
}

// Without the toolchain's checker (the gateway build), CEL rules are
// checked for shape only: the API server type-checks them.
func TestExpressionsWithoutChecker(t *testing.T) {
	saved := CEL
	CEL = nil
	defer func() { CEL = saved }()
	src := auto + `spec:
  crds:
    pod:
      apiTypes: ` + pod + `
      validation:
        rules:
          - expression: "object.spec.replicas <"
            message: m
`
	if r := run(src); r.Policy == nil {
		t.Errorf("without a checker: %s", dump(r))
	}
	CEL = saved
	if r := run(src); find(r, "K09") == nil {
		t.Errorf("with the checker: %s", dump(r))
	}
}
