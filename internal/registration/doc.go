// Package registration owns every object the API server must hold for the
// gateway: the admission webhook configurations a Katalog needs, and the
// spec.conversion of the CRDs it converts. It computes them and keeps them
// in place.
//
// Every replica runs Sync at start-up and on each maintenance tick: Apply
// for the webhook configurations, then EnsureCRD for each conversion CRD.
// It creates what is missing, restores what was edited or deleted, writes
// nothing when the cluster already matches, deletes the configurations of
// features that were disabled, and reports the caBundle every webhook and
// CRD holds, from which the caller computes readiness. The last replica to
// stop removes the configurations (RemoveFeatures) and resets the CRDs to
// strategy None (ResetCRD). Coordination between replicas is optimistic
// concurrency only (create-if-absent, update or patch with the
// resourceVersion read), so replicas need no leader.
//
// # Names
//
// One configuration per feature and Katalog, all with fixed names, so the
// gateway's ClusterRole can restrict get/update/delete by resourceNames and
// the gateway never needs list on webhook configurations:
//
//	orkestra-gateway-<katalog>-deletion-protection   validating  /deletion-protection
//	orkestra-gateway-<katalog>-strict-mode           validating  /strict-mode
//	orkestra-gateway-<katalog>-namespace-protection  validating  /namespace-protection
//	orkestra-gateway-<katalog>-validate              validating  /validate
//	orkestra-gateway-<katalog>-mutate                mutating    /mutate
//
// The Katalog name is a DNS-1123 label (at most 63 characters), so every name
// is a valid DNS subdomain of at most 101 characters. Webhook names are
// "<what>.<katalog>.orkestra.io" ("<entry>.validate.<katalog>.orkestra.io"
// per CRD), unique across Katalogs because the API server's webhook metrics
// and error messages carry the webhook name only.
//
// Labels: app.kubernetes.io/managed-by=orkestra-gateway,
// orkestra.io/deletion-protection=true, orkestra.orkspace.io/katalog=<name>,
// orkestra.orkspace.io/feature=<feature>. Only objects carrying the first and
// the Katalog label are ever deleted.
//
// # Limitation: the gateway's own configurations
//
// The API server never calls admission webhooks for
// ValidatingWebhookConfiguration and MutatingWebhookConfiguration objects (so
// that no webhook can make the cluster unrecoverable; see the Rules field of
// admissionregistration/v1 ValidatingWebhook). The protection label on the
// configurations therefore cannot be enforced: anyone allowed to delete them
// can. What the gateway does instead is restore them on the next maintenance
// tick. Its TLS Secret, an ordinary object, is protected by the label.
//
// Scoping of each webhook is documented on Desired.
//
// # The native engine
//
// With engine native (or auto, per feature) the same features are
// ValidatingAdmissionPolicies and MutatingAdmissionPolicies with their
// bindings (DesiredNative, names in NativeParts), applied the same way.
// Plan.Apply applies both engines' objects and switches a feature from one
// engine to the other without a gap: the old objects are deleted only once
// a Prober has seen the new ones in force.
//
// The package talks to the API server through k8s.io/client-go/dynamic only,
// with the typed admissionregistration/v1 and discovery/v1 structs converted
// from and to unstructured objects, so the gateway binary links no typed
// clientset.
package registration
