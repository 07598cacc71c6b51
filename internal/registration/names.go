package registration

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/orkspace/orkestra-gateway/internal/policy"
	"github.com/orkspace/orkestra-gateway/internal/webhook"
)

// Labels on every configuration the gateway registers. The Katalog label
// scopes cleanup to one Katalog, so several gateways (one per Katalog) can
// share a cluster; the feature label lets shutdown keep the features whose
// cleanupOnShutdown is false.
const (
	KatalogLabel = "orkestra.orkspace.io/katalog"
	FeatureLabel = "orkestra.orkspace.io/feature"
)

// ConfigName is the name of the feature's webhook configuration for a
// Katalog: "orkestra-gateway-<katalog>-<feature>". The Katalog name is a
// DNS-1123 label (check K03), so the name is a valid DNS subdomain of at most
// 17+63+21 = 101 characters. The names are fixed, which lets the gateway's
// ClusterRole restrict get/update/delete by resourceNames and lets Apply and
// Remove work without list permission.
func ConfigName(katalog string, f webhook.Feature) string {
	return "orkestra-gateway-" + katalog + "-" + string(f)
}

// CleanupFeatures returns the features whose configurations should be removed
// when the last replica shuts down (cleanupOnShutdown of their Katalog block).
// Strict mode follows deletion protection; validate and mutate follow
// security.webhooks.
func CleanupFeatures(p *policy.Policy) []webhook.Feature {
	var fs []webhook.Feature
	if p.DeletionProtection.CleanupOnShutdown {
		fs = append(fs, webhook.DeletionProtection, webhook.StrictMode)
	}
	if p.NamespaceProtection.CleanupOnShutdown {
		fs = append(fs, webhook.NamespaceProtection)
	}
	if p.Admission.CleanupOnShutdown {
		fs = append(fs, webhook.Validate, webhook.Mutate)
	}
	return fs
}

var (
	validatingGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}
	mutatingGVR   = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingwebhookconfigurations"}
)

func gvrOf(f webhook.Feature) schema.GroupVersionResource {
	if f.Mutating() {
		return mutatingGVR
	}
	return validatingGVR
}

// labels are the labels of one configuration. The protection label marks the
// configurations as protected, but see the package documentation: the API
// server never calls admission webhooks for webhook configurations, so it is
// a statement of intent that the gateway cannot enforce.
func labels(katalog string, f webhook.Feature) map[string]string {
	return map[string]string{
		policy.ManagedByLabel:  policy.ManagedByValue,
		policy.ProtectionLabel: "true",
		KatalogLabel:           katalog,
		FeatureLabel:           string(f),
	}
}

// owned reports whether a live object's labels say it is this Katalog's
// configuration: only those are ever deleted.
func owned(l map[string]string, katalog string) bool {
	return l[policy.ManagedByLabel] == policy.ManagedByValue && l[KatalogLabel] == katalog
}
