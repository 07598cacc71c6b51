package check

// Info describes one check for users: its stable ID, short name, what it
// verifies and how to fix a failure.
type Info struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Checks is the catalogue of the 22 checks, in ID order. IDs and names are
// stable: CI pipelines match on them.
var Checks = []Info{
	{"K01", "header", "apiVersion is orkestra.orkspace.io/v1 and kind is Katalog"},
	{"K02", "strict-schema", "no unknown or duplicate keys; every value has the right type"},
	{"K03", "metadata-name", "metadata.name is present and a DNS-1123 label"},
	{"K04", "crd-entry-name", "spec.crds entry names are DNS-1123 labels and unique"},
	{"K05", "crd-identity", "each CRD entry resolves to group, version, kind and plural"},
	{"K06", "crd-file", "crdFile exists, is an apiextensions.k8s.io/v1 CRD and agrees with apiTypes"},
	{"K07", "duplicate-plural", "no two CRD entries claim the same group and plural"},
	{"K08", "rule-shape", "validation rules have field, message, exactly one known operator, action deny|warn"},
	{"K09", "rule-values", "regexes compile, numeric bounds parse, between lo <= hi, in lists are non-empty"},
	{"K10", "templates", "templates parse with the allowed function set"},
	{"K11", "mutation-rules", "mutation rules have field and exactly one of default/override matching valueType"},
	{"K12", "webhook-operations", "webhook operations are a subset of CREATE/UPDATE/DELETE/CONNECT without duplicates"},
	{"K13", "namespace-lists", "allowed and restricted namespaces are not both set; names and globs are well formed"},
	{"K14", "deletion-protection", "deletion protection settings are coherent; break-glass subjects are well formed"},
	{"K15", "failure-policy", "failure policies are Fail or Ignore; timeouts are 1..30 seconds; the admission engine is webhook, native or auto"},
	{"K16", "conversion-versions", "conversion versions are declared, paths join distinct versions, every version reaches the storage version and back"},
	{"K17", "conversion-mappings", "conversion spec mappings are well formed and their templates read the source shape"},
	{"K18", "certificates", "certificate source is self, cert-manager or files; issuerRef only with cert-manager; durations parse; 0 < rotationThreshold < validFor; validFor within 1h..10y"},
	{"K19", "teams", "team names are valid, each team has a channel, emails parse, intervals are positive"},
	{"K20", "channels", "Slack/SMTP settings are complete where used; secrets come from env/file references; tls: none only explicitly; callers and audience are well formed"},
	{"K21", "gateway-block", "gateway service name and namespace are DNS-valid; standalone and runtimeEndpoint are not both set"},
	{"K22", "coherence", "every enabled feature has what it needs; warnings for features that would register nothing"},
}
