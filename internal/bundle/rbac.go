package bundle

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/orkspace/orkestra-gateway/internal/certs"
	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/registration"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// Rule is one RBAC rule with the reason the gateway needs it, written as a
// comment above the rule.
type Rule struct {
	rbacv1.PolicyRule
	Why string
}

// The verbs each part of the gateway uses; each comes from reading the code
// that calls the API server (package named in the comment).
var (
	// registration.Apply: Get by name, Create when absent, Update (guarded by
	// resourceVersion) when different; Remove: Get then Delete. Never list,
	// watch or patch.
	webhookReadVerbs   = []string{"get", "delete"}
	webhookCreateVerbs = []string{"create"}
	webhookUpdateVerbs = []string{"update"}
	// conversion: the CRD's spec.conversion is read and patched.
	crdVerbs = []string{"get", "patch"}
	// certs.Ensure: Get, Create when absent, Update when invalid or rotated.
	secretCreateVerbs = []string{"create"}
	secretVerbs       = []string{"get", "update"}
	// registration.OtherReadyReplicas lists by label selector.
	endpointSliceVerbs = []string{"list"}
	// dedup.Leases: Create a key's Lease; on AlreadyExists Get it, Update
	// (guarded by resourceVersion) when expired; Delete expired ones on the
	// tick and a claim whose delivery failed. Never list or watch.
	leaseCreateVerbs = []string{"create"}
	leaseVerbs       = []string{"get", "update", "delete"}
)

// ClusterRules are the cluster-scoped permissions the gateway needs for a
// Katalog: its webhook configurations and admission policies (by name), the
// CRDs whose conversion it manages (by name), and TokenReviews for /notify.
// Nothing on any other CRD or on the custom resources the Runtime manages,
// no list or watch, no wildcard. ep is where webhooks point (it decides
// nothing but must be valid for registration.Desired).
//
// The engine decides what may be created and updated: webhook
// configurations with engine webhook, policies and bindings with native,
// both with auto (which may choose either, per feature, on each tick).
// Every engine reads and deletes the other's objects by name, so that
// switching engine (or turning a feature off) removes what the other one
// registered. Two requests need no rule: auto's discovery (a GET of
// /apis/admissionregistration.k8s.io/v1, which system:discovery grants to
// every authenticated user) and the probes of an engine switch (dry-run
// updates of the TLS Secret, granted in the namespace Role).
func ClusterRules(p *policy.Policy, ep registration.Endpoint) []Rule {
	engine := p.Admission.Engine
	webhooks := engine != policy.EngineNative
	var vNames, mNames []string
	if webhooks {
		validating, mutating := registration.Desired(p, ep, nil)
		for _, c := range validating {
			vNames = append(vNames, c.Name)
		}
		for _, c := range mutating {
			mNames = append(mNames, c.Name)
		}
	}
	var rules []Rule
	rules = append(rules, webhookRules(p.Name, "validatingwebhookconfigurations", false, vNames)...)
	rules = append(rules, webhookRules(p.Name, "mutatingwebhookconfigurations", true, mNames)...)
	rules = append(rules, nativeRules(p, ep)...)

	if p.Conversion.Enabled {
		var crds []string
		for _, c := range p.CRDs {
			if c.Conversion != nil && c.Conversion.UpdateCRD && !slices.Contains(crds, c.CRDName()) {
				crds = append(crds, c.CRDName())
			}
		}
		if len(crds) > 0 {
			rules = append(rules, Rule{
				PolicyRule: rbacv1.PolicyRule{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: crdVerbs, ResourceNames: crds},
				Why:        "conversion (updateCRD): point each CRD's spec.conversion at /convert with the current caBundle; only the Katalog's CRDs with a conversion block",
			})
		}
	}
	if p.Notification != nil {
		rules = append(rules, Rule{
			PolicyRule: rbacv1.PolicyRule{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
			Why:        "notification: authenticate the bearer tokens of POST /notify callers (a TokenReview is a create)",
		})
	}
	return rules
}

// webhookRules are the rules on one kind of webhook configuration. Apply
// reads the configurations of every feature by name (to delete those of
// disabled features), so get and delete cover all of the Katalog's names;
// create and update only what the Katalog registers.
func webhookRules(katalogName, resource string, mutating bool, enabled []string) []Rule {
	var all, features, enabledFeatures []string
	for _, f := range webhook.Features {
		if f.Mutating() != mutating {
			continue
		}
		name := registration.ConfigName(katalogName, f)
		all = append(all, name)
		features = append(features, string(f))
		if slices.Contains(enabled, name) {
			enabledFeatures = append(enabledFeatures, string(f))
		}
	}
	group := []string{"admissionregistration.k8s.io"}
	var rules []Rule
	if len(enabled) > 0 {
		rules = append(rules, Rule{
			PolicyRule: rbacv1.PolicyRule{APIGroups: group, Resources: []string{resource}, Verbs: webhookCreateVerbs},
			Why:        "webhooks " + strings.Join(enabledFeatures, ", ") + ": register the configuration when it is absent (create cannot be restricted to names)",
		})
	}
	rules = append(rules, Rule{
		PolicyRule: rbacv1.PolicyRule{APIGroups: group, Resources: []string{resource}, Verbs: webhookReadVerbs, ResourceNames: all},
		Why: "webhooks " + strings.Join(features, ", ") + ": read each configuration by name (never list); delete those of disabled features, " +
			"and all of them when the last replica stops (cleanupOnShutdown)",
	})
	if len(enabled) > 0 {
		rules = append(rules, Rule{
			PolicyRule: rbacv1.PolicyRule{APIGroups: group, Resources: []string{resource}, Verbs: webhookUpdateVerbs, ResourceNames: enabled},
			Why:        "webhooks " + strings.Join(enabledFeatures, ", ") + ": restore an edited configuration and install a rotated caBundle",
		})
	}
	return rules
}

// nativeRules are the rules on the policy kinds: create and update of the
// policies and bindings the engine may register, get and delete of every
// name the Katalog can have (see webhookRules).
func nativeRules(p *policy.Policy, ep registration.Endpoint) []Rule {
	var desired []registration.NativePolicy
	if e := p.Admission.Engine; e == policy.EngineNative || e == policy.EngineAuto {
		// For auto: every feature whose rules compile, as on a cluster that
		// serves both kinds.
		engines := registration.Engines(p, registration.Support{Validating: true, Mutating: true})
		desired, _ = registration.DesiredNative(p, ep, engines)
	}
	group := []string{"admissionregistration.k8s.io"}
	var rules []Rule
	for _, kind := range []struct {
		policy, binding string
		mutating        bool
	}{
		{registration.ValidatingPolicies, registration.ValidatingBindings, false},
		{registration.MutatingPolicies, registration.MutatingBindings, true},
	} {
		var all, enabled []string
		for _, part := range registration.NativeParts {
			if part.Mutating == kind.mutating {
				all = append(all, part.Name(p.Name))
			}
		}
		for _, np := range desired {
			if np.Part.Mutating == kind.mutating {
				enabled = append(enabled, np.Name())
			}
		}
		for _, resource := range []string{kind.policy, kind.binding} {
			if len(enabled) > 0 {
				rules = append(rules, Rule{
					PolicyRule: rbacv1.PolicyRule{APIGroups: group, Resources: []string{resource}, Verbs: webhookCreateVerbs},
					Why:        "engine " + string(p.Admission.Engine) + ": register the " + resource + " of " + strings.Join(enabled, ", ") + " when absent (create cannot be restricted to names)",
				})
			}
			rules = append(rules, Rule{
				PolicyRule: rbacv1.PolicyRule{APIGroups: group, Resources: []string{resource}, Verbs: webhookReadVerbs, ResourceNames: all},
				Why: "admission engines: read each of the Katalog's " + resource + " by name (never list); delete those of disabled features or of the other engine, " +
					"and all of them when the last replica stops (cleanupOnShutdown)",
			})
			if len(enabled) > 0 {
				rules = append(rules, Rule{
					PolicyRule: rbacv1.PolicyRule{APIGroups: group, Resources: []string{resource}, Verbs: webhookUpdateVerbs, ResourceNames: enabled},
					Why:        "engine " + string(p.Admission.Engine) + ": restore an edited " + strings.TrimSuffix(resource, "s"),
				})
			}
		}
	}
	return rules
}

// NamespaceRules are the permissions in the gateway's own namespace: its TLS
// Secret, the EndpointSlices of its Service when shutdown has to tell
// whether it is the last ready replica, and the Leases that make
// notification throttling hold across replicas.
func NamespaceRules(p *policy.Policy) []Rule {
	var rules []Rule
	// With cert-manager or mounted files the gateway reads its certificate
	// from files and never calls the API server about a Secret.
	if !p.Certs.External() {
		rules = append(rules, Rule{
			PolicyRule: rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: secretCreateVerbs},
			Why:        "certManager: the first replica creates the TLS Secret " + p.Certs.SecretName + " (create cannot be restricted to a name)",
		},
			Rule{
				PolicyRule: rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: secretVerbs, ResourceNames: []string{p.Certs.SecretName}},
				Why: "certManager: read the shared TLS Secret; replace it when invalid and rotate it before expiry; dry-run updates of it " +
					"probe that newly registered admission objects are in force before an engine switch removes the old ones. No other Secret",
			})
	}
	// With cert-manager or mounted files the TLS Secret is not the
	// gateway's, so the key sealing the conversion annotation lives in a
	// Secret of its own, created by the first replica.
	if p.Certs.External() && p.Converts() {
		key := certs.KeySecretName(p.Certs.SecretName)
		rules = append(rules, Rule{
			PolicyRule: rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: secretCreateVerbs},
			Why:        "conversion: the first replica creates the Secret " + key + " holding the key that seals the preserved-fields annotation (create cannot be restricted to a name)",
		},
			Rule{
				PolicyRule: rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: []string{key}},
				Why:        "conversion: read the conversion key every replica seals with. No other Secret",
			})
	}
	// In URL mode every replica counts as the last one (server.otherReplicas)
	// and nothing is listed; without cleanup nothing is removed at all.
	if p.Gateway.URL == nil && len(registration.CleanupFeatures(p)) > 0 {
		rules = append(rules, Rule{
			PolicyRule: rbacv1.PolicyRule{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: endpointSliceVerbs},
			Why: "cleanupOnShutdown: a stopping replica removes the registrations only when no other ready replica " +
				"remains in the EndpointSlices of Service " + p.Gateway.ServiceName,
		})
	}
	if p.Notification != nil {
		// A Lease is named after a hash of the throttle key or event id,
		// which callers choose at run time: no name can be listed in
		// advance, so neither rule has resourceNames (create never can).
		rules = append(rules,
			Rule{
				PolicyRule: rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: leaseCreateVerbs},
				Why: "notification: claim a throttle key or event id for every replica (one Lease each, orkestra-notify-<hash>), " +
					"so N replicas send one message (create cannot be restricted to names)",
			},
			Rule{
				PolicyRule: rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: leaseVerbs},
				Why: "notification: read a key held by another replica, take over an expired one (update guarded by resourceVersion), " +
					"remove expired ones on the tick; the names are hashes of keys chosen at run time, so they cannot be listed here",
			})
	}
	return rules
}

func policyRules(rules []Rule) []rbacv1.PolicyRule {
	out := make([]rbacv1.PolicyRule, len(rules))
	for i, r := range rules {
		out[i] = r.PolicyRule
	}
	return out
}

func ruleNotes(rules []Rule) []note {
	notes := make([]note, len(rules))
	for i, r := range rules {
		notes[i] = note{path: []any{"rules", i}, text: r.Why}
	}
	return notes
}
