package bundle

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// ruleKey is a rule in one line, e.g.
// "admissionregistration.k8s.io/validatingwebhookconfigurations[a b] create".
func ruleKey(r rbacv1.PolicyRule) string {
	return fmt.Sprintf("%s/%s%v %s", strings.Join(r.APIGroups, ","), strings.Join(r.Resources, ","), r.ResourceNames, strings.Join(r.Verbs, ","))
}

func ruleKeys(rules []rbacv1.PolicyRule) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = ruleKey(r)
	}
	return out
}

// checkLeastPrivilege holds for every bundle: no wildcard anywhere; verbs
// that can be restricted by name always are; nothing but the gateway's own
// objects is named.
func checkLeastPrivilege(t *testing.T, b *Bundle) {
	t.Helper()
	cr := decode[rbacv1.ClusterRole](t, b, "ClusterRole")
	role := decode[rbacv1.Role](t, b, "Role")
	allowed := map[string]bool{
		"admissionregistration.k8s.io/validatingwebhookconfigurations":   true,
		"admissionregistration.k8s.io/mutatingwebhookconfigurations":     true,
		"admissionregistration.k8s.io/validatingadmissionpolicies":       true,
		"admissionregistration.k8s.io/validatingadmissionpolicybindings": true,
		"admissionregistration.k8s.io/mutatingadmissionpolicies":         true,
		"admissionregistration.k8s.io/mutatingadmissionpolicybindings":   true,
		"apiextensions.k8s.io/customresourcedefinitions":                 true,
		"authentication.k8s.io/tokenreviews":                             true,
		"/secrets":                                                       true,
		"discovery.k8s.io/endpointslices":                                true,
		"coordination.k8s.io/leases":                                     true,
	}
	for _, r := range append(slices.Clone(cr.Rules), role.Rules...) {
		all := slices.Concat(r.APIGroups, r.Resources, r.Verbs, r.ResourceNames)
		for _, s := range all {
			if strings.Contains(s, "*") {
				t.Errorf("rule %s has a wildcard", ruleKey(r))
			}
		}
		if len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %s grants non-resource URLs", ruleKey(r))
		}
		if len(r.APIGroups) != 1 || len(r.Resources) != 1 {
			t.Errorf("rule %s: one group and one resource per rule, so resourceNames never spill over", ruleKey(r))
			continue
		}
		if !allowed[r.APIGroups[0]+"/"+r.Resources[0]] {
			t.Errorf("rule %s: the gateway never touches %s", ruleKey(r), r.Resources[0])
		}
		for _, v := range r.Verbs {
			switch v {
			case "get", "update", "patch", "delete":
				// The notification Leases are named after hashes of keys
				// chosen at run time: no name is known in advance.
				if len(r.ResourceNames) == 0 && r.Resources[0] != "leases" {
					t.Errorf("rule %s: %s must be restricted by resourceNames", ruleKey(r), v)
				}
			case "create", "list":
				if len(r.ResourceNames) > 0 {
					t.Errorf("rule %s: %s cannot be restricted by name; mixing it with names hides that", ruleKey(r), v)
				}
			default:
				t.Errorf("rule %s: verb %s is never used", ruleKey(r), v)
			}
		}
	}
}

func TestRules(t *testing.T) {
	const vwc, mwc = "admissionregistration.k8s.io/validatingwebhookconfigurations", "admissionregistration.k8s.io/mutatingwebhookconfigurations"
	names := func(katalog string, features ...string) string {
		var n []string
		for _, f := range features {
			n = append(n, "orkestra-gateway-"+katalog+"-"+f)
		}
		return fmt.Sprint(n)
	}
	secretRules := []string{"/secrets[] create", "/secrets[orkestra-internal-tls] get,update"}
	const vap, vapb, mapol, mapb = "admissionregistration.k8s.io/validatingadmissionpolicies", "admissionregistration.k8s.io/validatingadmissionpolicybindings",
		"admissionregistration.k8s.io/mutatingadmissionpolicies", "admissionregistration.k8s.io/mutatingadmissionpolicybindings"
	validatingParts := []string{"deletion-protection", "deletion-protection-crds", "strict-mode", "strict-mode-break-glass",
		"namespace-protection", "namespace-protection-deletion", "validate", "validate-warn", "validate-audit"}
	// readNative: every engine reads and deletes the other engine's objects.
	readNative := func(katalog string) []string {
		return []string{
			vap + names(katalog, validatingParts...) + " get,delete",
			vapb + names(katalog, validatingParts...) + " get,delete",
			mapol + names(katalog, "mutate") + " get,delete",
			mapb + names(katalog, "mutate") + " get,delete",
		}
	}
	listSlices := "discovery.k8s.io/endpointslices[] list"

	for _, tc := range []struct {
		name, text   string
		cluster, ns  []string
		notInCluster []string
	}{
		{
			name: "protection only",
			text: "metadata:\n  name: guard\nsecurity:\n  deletionProtection: {}\n",
			cluster: append([]string{
				vwc + "[] create",
				vwc + names("guard", "deletion-protection", "strict-mode", "namespace-protection", "validate") + " get,delete",
				vwc + names("guard", "deletion-protection") + " update",
				// Apply reads the mutate configuration to delete it if a
				// previous Katalog registered one; nothing creates it.
				mwc + names("guard", "mutate") + " get,delete",
			}, readNative("guard")...),
			ns: append(secretRules, listSlices),
		},
		{
			name: "strict mode and namespace protection, no cleanup, custom secret",
			text: `metadata:
  name: strict
security:
  deletionProtection: {strictMode: true, cleanupOnShutdown: false}
  namespaceProtection: {restrictedNamespaces: [kube-system], cleanupOnShutdown: false}
  webhooks: {admission: {enabled: false}, cleanupOnShutdown: false}
  certManager: {secretName: strict-tls}
`,
			cluster: append([]string{
				vwc + "[] create",
				vwc + names("strict", "deletion-protection", "strict-mode", "namespace-protection", "validate") + " get,delete",
				vwc + names("strict", "deletion-protection", "strict-mode", "namespace-protection") + " update",
				mwc + names("strict", "mutate") + " get,delete",
			}, readNative("strict")...),
			// Nothing is removed at shutdown, so nothing is listed.
			ns: []string{"/secrets[] create", "/secrets[strict-tls] get,update"},
		},
		{
			name: "url mode lists nothing at shutdown",
			text: "metadata:\n  name: byurl\ngateway:\n  url: https://gateway.example.com:8443\nsecurity:\n  deletionProtection: {}\n",
			cluster: append([]string{
				vwc + "[] create",
				vwc + names("byurl", "deletion-protection", "strict-mode", "namespace-protection", "validate") + " get,delete",
				vwc + names("byurl", "deletion-protection") + " update",
				mwc + names("byurl", "mutate") + " get,delete",
			}, readNative("byurl")...),
			ns: secretRules,
		},
		{
			name: "notifications only",
			text: "metadata:\n  name: relay\nnotification:\n  allowedCallers: [ops/forwarder]\n  teams:\n    ops:\n      slackWebhookURLFrom: {env: OPS_SLACK}\n",
			cluster: append(append([]string{
				vwc + names("relay", "deletion-protection", "strict-mode", "namespace-protection", "validate") + " get,delete",
				mwc + names("relay", "mutate") + " get,delete",
			}, readNative("relay")...), "authentication.k8s.io/tokenreviews[] create"),
			ns: append(secretRules, listSlices, "coordination.k8s.io/leases[] create", "coordination.k8s.io/leases[] get,update,delete"),
		},
		{
			name: "conversion without updateCRD",
			text: `metadata:
  name: conv
security:
  conversion: {enabled: true}
spec:
  crds:
    widget:
      apiTypes: {group: example.com, version: v2, kind: Widget, plural: widgets}
      conversion:
        storageVersion: v2
        versions: [v1, v2]
        updateCRD: false
`,
			cluster: append([]string{
				vwc + names("conv", "deletion-protection", "strict-mode", "namespace-protection", "validate") + " get,delete",
				mwc + names("conv", "mutate") + " get,delete",
			}, readNative("conv")...),
			ns: append(secretRules, listSlices),
		},
		{
			name: "rules and conversion on two CRDs",
			text: `metadata:
  name: full
security:
  webhooks: {admission: {enabled: true}}
  conversion: {enabled: true}
spec:
  crds:
    widget:
      apiTypes: {group: example.com, version: v2, kind: Widget, plural: widgets}
      mutation:
        rules: [{field: spec.tier, default: basic}]
      conversion: {storageVersion: v2, versions: [v1, v2]}
    gadget:
      apiTypes: {group: example.com, version: v1, kind: Gadget, plural: gadgets}
      validation:
        rules: [{field: spec.size, gt: 0, message: size must be positive}]
      conversion: {storageVersion: v1, versions: [v1, v2]}
`,
			cluster: append(append([]string{
				vwc + "[] create",
				vwc + names("full", "deletion-protection", "strict-mode", "namespace-protection", "validate") + " get,delete",
				vwc + names("full", "validate") + " update",
				mwc + "[] create",
				mwc + names("full", "mutate") + " get,delete",
				mwc + names("full", "mutate") + " update",
			}, readNative("full")...), "apiextensions.k8s.io/customresourcedefinitions[gadgets.example.com widgets.example.com] get,patch"),
			ns: append(secretRules, listSlices),
		},
		{
			name: "native engine: policies by name, webhook configurations only read and deleted",
			text: `metadata:
  name: nat
security:
  deletionProtection: {strictMode: true, breakGlass: {groups: [ops]}}
  webhooks: {admission: {enabled: true, engine: native}}
spec:
  crds:
    gadget:
      apiTypes: {group: example.com, version: v1, kind: Gadget, plural: gadgets}
      validation:
        rules: [{field: spec.size, gt: 0, message: size must be positive}]
`,
			cluster: []string{
				vwc + names("nat", "deletion-protection", "strict-mode", "namespace-protection", "validate") + " get,delete",
				mwc + names("nat", "mutate") + " get,delete",
				vap + "[] create",
				vap + names("nat", validatingParts...) + " get,delete",
				vap + names("nat", "deletion-protection", "deletion-protection-crds", "strict-mode", "strict-mode-break-glass", "validate") + " update",
				vapb + "[] create",
				vapb + names("nat", validatingParts...) + " get,delete",
				vapb + names("nat", "deletion-protection", "deletion-protection-crds", "strict-mode", "strict-mode-break-glass", "validate") + " update",
				mapol + names("nat", "mutate") + " get,delete",
				mapb + names("nat", "mutate") + " get,delete",
			},
			ns: append(secretRules, listSlices),
		},
		{
			name: "auto engine: both kinds may be registered",
			text: `metadata:
  name: auto
security:
  deletionProtection: {}
  webhooks: {admission: {enabled: true, engine: auto}}
spec:
  crds:
    widget:
      apiTypes: {group: example.com, version: v1, kind: Widget, plural: widgets}
      mutation:
        rules: [{field: spec.tier, default: basic}]
`,
			cluster: []string{
				vwc + "[] create",
				vwc + names("auto", "deletion-protection", "strict-mode", "namespace-protection", "validate") + " get,delete",
				vwc + names("auto", "deletion-protection") + " update",
				mwc + "[] create",
				mwc + names("auto", "mutate") + " get,delete",
				mwc + names("auto", "mutate") + " update",
				vap + "[] create",
				vap + names("auto", validatingParts...) + " get,delete",
				vap + names("auto", "deletion-protection", "deletion-protection-crds") + " update",
				vapb + "[] create",
				vapb + names("auto", validatingParts...) + " get,delete",
				vapb + names("auto", "deletion-protection", "deletion-protection-crds") + " update",
				mapol + "[] create",
				mapol + names("auto", "mutate") + " get,delete",
				mapol + names("auto", "mutate") + " update",
				mapb + "[] create",
				mapb + names("auto", "mutate") + " get,delete",
				mapb + names("auto", "mutate") + " update",
			},
			ns: append(secretRules, listSlices),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bundleOf(t, header+tc.text, Options{})
			checkLeastPrivilege(t, b)
			cr := decode[rbacv1.ClusterRole](t, b, "ClusterRole")
			role := decode[rbacv1.Role](t, b, "Role")
			if got := ruleKeys(cr.Rules); !slices.Equal(got, tc.cluster) {
				t.Errorf("ClusterRole rules:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.cluster, "\n  "))
			}
			if got := ruleKeys(role.Rules); !slices.Equal(got, tc.ns) {
				t.Errorf("Role rules:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.ns, "\n  "))
			}
			// Each rule says why, right above it.
			for _, o := range b.Objects {
				if o.Kind != "ClusterRole" && o.Kind != "Role" {
					continue
				}
				lines := strings.Split(string(o.YAML), "\n")
				for i, l := range lines {
					if strings.HasPrefix(l, "  - apiGroups:") && (i == 0 || !strings.HasPrefix(lines[i-1], "  # ")) {
						t.Errorf("%s: rule at line %d has no comment above it", o.Kind, i+1)
					}
				}
			}
		})
	}
}

// The examples' bundles hold no wildcard and name only their own objects.
func TestExamplesLeastPrivilege(t *testing.T) {
	for _, path := range examples(t) {
		t.Run(path, func(t *testing.T) {
			b, err := Generate(load(t, path), Options{Image: goldenImage})
			if err != nil {
				t.Fatal(err)
			}
			checkLeastPrivilege(t, b)
		})
	}
}
