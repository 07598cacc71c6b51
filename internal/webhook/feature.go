package webhook

// Feature is one family of webhooks the gateway serves, at Path. Each but
// Convert has exactly one webhook configuration per Katalog (see package
// registration); Convert is what the CRDs' spec.conversion points at.
type Feature string

// The features with a webhook configuration.
const (
	DeletionProtection  Feature = "deletion-protection"
	StrictMode          Feature = "strict-mode"
	NamespaceProtection Feature = "namespace-protection"
	Validate            Feature = "validate"
	Mutate              Feature = "mutate"
)

// Convert is the conversion webhook. It has no webhook configuration: the
// CRDs' spec.conversion points at its path. It is not in Features.
const Convert Feature = "convert"

// Features lists every feature with a webhook configuration, in
// registration order.
var Features = []Feature{DeletionProtection, StrictMode, NamespaceProtection, Validate, Mutate}

// Path is the gateway path that serves the feature's webhooks.
func (f Feature) Path() string { return "/" + string(f) }

// Mutating reports whether the feature registers a MutatingWebhookConfiguration
// (only Mutate does; the others are validating).
func (f Feature) Mutating() bool { return f == Mutate }
