// Package policy is the compiled Katalog: every default applied, every
// regex, template, number and field path parsed once, so the request paths
// (admission, conversion, notify) only read it. It is built by the check pass
// (package check) and never changes after start-up.
package policy

import (
	"net/url"
	"path"
	"strings"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/orkspace/orkestra-gateway/internal/rules"
	"github.com/orkspace/orkestra-gateway/internal/tmpl"
)

// Labels and names the gateway owns.
const (
	ProtectionLabel = "orkestra.io/deletion-protection"
	ManagedByLabel  = "app.kubernetes.io/managed-by"
	ManagedByValue  = "orkestra-gateway"
)

// Probes: to tell that an admission object it registered is in force, the
// gateway makes a dry-run UPDATE of its own TLS Secret with ProbeAnnotation
// set to ProbeTarget(engine, object name). An object in force answers with
// ProbeMessage (a denial or a warning), or, a mutating policy, by setting
// ProbeResultAnnotation to the target.
const (
	ProbeAnnotation       = "orkestra.orkspace.io/probe"
	ProbeResultAnnotation = "orkestra.orkspace.io/probe-result"
)

// ProbeTarget is the probe annotation's value for an object: the engine
// and the name, so that a policy and a webhook configuration of the same
// name never answer each other's probe.
func ProbeTarget(engine Engine, name string) string { return string(engine) + "/" + name }

// ProbeMessage is what an object in force answers to its probe.
func ProbeMessage(target string) string { return "orkestra-gateway probe: " + target + " is in force" }

// FailurePolicy is "Fail" or "Ignore", as in admissionregistration/v1.
type FailurePolicy string

// The failure policies: Fail makes the API server refuse a request the
// gateway cannot answer; Ignore admits it.
const (
	Fail   FailurePolicy = "Fail"
	Ignore FailurePolicy = "Ignore"
)

// Policy is one compiled Katalog, the only configuration the request paths
// read.
type Policy struct {
	Name   string // metadata.name
	Source string // the Katalog file path

	Gateway             Gateway
	DeletionProtection  DeletionProtection
	NamespaceProtection NamespaceProtection
	Admission           Admission
	Conversion          Conversion
	Certs               Certs
	// CRDs in entry-name order.
	CRDs         []*CRD
	Notification *Notification // nil when notifications are off
}

// Gateway is how the gateway is deployed and registered: by Service
// reference (ServiceName in Namespace) or by URL.
type Gateway struct {
	Standalone  bool     // no Orkestra Runtime beside the gateway
	ServiceName string   // default "orkestra-gateway"
	Namespace   string   // "" means the pod's namespace
	URL         *url.URL // nil: register by Service reference
	Replicas    int      // default 2
}

// Endpoint is the settings of one webhook endpoint.
type Endpoint struct {
	Enabled        bool
	FailurePolicy  FailurePolicy
	TimeoutSeconds int32 // how long the API server waits for an answer
	// CleanupOnShutdown removes the registration when the last ready
	// replica stops.
	CleanupOnShutdown bool
}

// DeletionProtection is the /deletion-protection and /strict-mode
// endpoints: labelled objects cannot be deleted and, in strict mode, the
// label cannot be removed except by BreakGlass.
type DeletionProtection struct {
	Endpoint
	StrictMode bool     // also guard the label itself on UPDATE
	BreakGlass Subjects // who may lift protection in strict mode
}

// Subjects lists users and groups as an admission request's userInfo names
// them.
type Subjects struct {
	Users  []string
	Groups []string
}

// Allows reports whether the user or one of the groups is listed.
func (s Subjects) Allows(user string, groups []string) bool {
	for _, u := range s.Users {
		if u == user {
			return true
		}
	}
	for _, g := range groups {
		for _, want := range s.Groups {
			if g == want {
				return true
			}
		}
	}
	return false
}

// NamespaceProtection is the /namespace-protection endpoint: where objects
// of the Katalog's CRDs may live, and which namespaces cannot be deleted.
type NamespaceProtection struct {
	Endpoint
	// Katalog-level lists: apply to every CRD entry; Restricted namespaces
	// themselves cannot be deleted.
	Namespaces Namespaces
}

// Namespaces restricts where objects may live: a namespace matching
// Restricted is refused; when Allowed is non-empty, a namespace must match it.
type Namespaces struct {
	Restricted Globs
	Allowed    Globs
}

// Empty reports whether neither list is set.
func (n Namespaces) Empty() bool { return len(n.Restricted) == 0 && len(n.Allowed) == 0 }

// Globs is a list of exact names or path.Match patterns (kube-*, *-system).
type Globs []string

// Match reports whether name matches any entry.
func (g Globs) Match(name string) bool {
	for _, p := range g {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// Admission holds the settings of the per-CRD validation and mutation webhooks.
type Admission struct {
	Endpoint
	// Engine is what enforces every admission feature (protection, strict
	// mode, namespaces, validation, mutation); never empty after the check pass.
	Engine Engine
}

// Engine is what enforces the admission features.
type Engine string

const (
	// EngineWebhook: the gateway's admission webhooks (the default).
	EngineWebhook Engine = "webhook"
	// EngineNative: ValidatingAdmissionPolicies and MutatingAdmissionPolicies
	// the API server evaluates in process; the gateway only registers them.
	EngineNative Engine = "native"
	// EngineAuto: native for every feature the API server serves the policy
	// kinds for (and the rules compile to), webhook for the rest.
	EngineAuto Engine = "auto"
)

// Engines lists the valid engines.
var Engines = []Engine{EngineWebhook, EngineNative, EngineAuto}

// Conversion switches the /convert webhook; each CRD entry carries its own
// ConversionSpec.
type Conversion struct {
	Enabled bool
}

// Certs is how the serving certificate is issued, kept and rotated.
type Certs struct {
	// Source issues the serving certificate (default CertsSelf).
	Source            CertSource
	AutoRotate        bool          // renew below RotationThreshold (self only)
	RotationThreshold time.Duration // default 30d
	ValidFor          time.Duration // default 1y
	SecretName        string        // default orkestra-internal-tls
	// IssuerRef is the cert-manager issuer to use; nil with CertsCertManager
	// means the bundle's own self-signed CA.
	IssuerRef *IssuerRef
}

// CertSource says who issues the gateway's serving certificate.
type CertSource string

const (
	// CertsSelf: the gateway generates, shares and rotates its certificate
	// in the Secret, and writes every caBundle.
	CertsSelf CertSource = "self"
	// CertsCertManager: cert-manager issues it into the Secret, mounted at
	// TLSMountDir; its CA injector writes the caBundles.
	CertsCertManager CertSource = "cert-manager"
	// CertsFiles: the user mounts the certificate files and owns the caBundles.
	CertsFiles CertSource = "files"
)

// External reports whether the gateway serves mounted files rather than a
// certificate it manages.
func (c Certs) External() bool { return c.Source == CertsCertManager || c.Source == CertsFiles }

// Where a mounted serving certificate is read when the source is not self
// and TLS_CERT_FILE/TLS_KEY_FILE do not say otherwise; the bundle mounts
// the Secret there.
const (
	TLSMountDir = "/var/run/secrets/orkestra/tls"
	TLSCertFile = TLSMountDir + "/tls.crt"
	TLSKeyFile  = TLSMountDir + "/tls.key"
)

// CAInjectionAnnotation asks cert-manager's CA injector to write the CA of
// a Certificate ("namespace/name") into the caBundles of the object.
const CAInjectionAnnotation = "cert-manager.io/inject-ca-from"

// IssuerRef names a cert-manager Issuer or ClusterIssuer.
type IssuerRef struct {
	Name, Kind, Group string
}

// Converts reports whether the gateway serves conversion for any CRD entry:
// conversion is enabled and an entry has a conversion block.
func (p *Policy) Converts() bool {
	if !p.Conversion.Enabled {
		return false
	}
	for _, c := range p.CRDs {
		if c != nil && c.Conversion != nil {
			return true
		}
	}
	return false
}

// CRD is one compiled spec.crds entry: a custom resource, or a built-in
// resource such as Pods (BuiltIn).
type CRD struct {
	Name       string // entry name
	Group      string // "" for the core group
	Version    string // the version rules are written against (storage version when converting)
	Kind       string
	Plural     string
	Namespaced bool
	// Versions are all versions known for the CRD (conversion.versions, else crdFile, else Version).
	Versions []string
	// Definition is the CRD from crdFile, nil without one.
	Definition *apiextv1.CustomResourceDefinition
	// BuiltIn is set for a resource the API server itself serves (Group is
	// a built-in group, see BuiltInGroup): it has no CRD object to protect
	// and no conversion of ours.
	BuiltIn bool

	// Validate and Mutate say whether to register /validate and /mutate for
	// this CRD: admission is enabled, the entry has rules of that kind, and
	// webhooks.validation/mutation is not false.
	Validate   bool
	Mutate     bool
	Operations []string // CREATE/UPDATE/DELETE/CONNECT, default CREATE, UPDATE

	Validation *rules.ValidationSet // nil when no rules
	Mutation   *rules.MutationSet   // nil when no rules
	// Audit is enforcement: audit: every validation rule of the entry is
	// in audit mode (Validation has them marked), never denying or warning.
	Audit bool

	// Namespaces are the entry-level lists; they refine the Katalog-level ones.
	Namespaces Namespaces

	// Protection flags are false while deletion protection is disabled.
	ProtectCRD bool // the CRD object itself cannot be deleted
	ProtectCRs bool // labelled objects of this kind cannot be deleted

	Conversion *ConversionSpec // nil without a conversion block
}

// CRDName is the name of the CustomResourceDefinition object (plural.group).
func (c *CRD) CRDName() string { return c.Plural + "." + c.Group }

// builtInGroups are the API groups of Kubernetes' own resources whose names
// hold a dot. Groups without a dot ("" for core, apps, batch, policy,
// autoscaling...) are all built in: a CustomResourceDefinition's group must
// hold a dot.
var builtInGroups = map[string]bool{
	"admissionregistration.k8s.io": true,
	"apiextensions.k8s.io":         true,
	"apiregistration.k8s.io":       true,
	"authentication.k8s.io":        true,
	"authorization.k8s.io":         true,
	"certificates.k8s.io":          true,
	"coordination.k8s.io":          true,
	"discovery.k8s.io":             true,
	"events.k8s.io":                true,
	"flowcontrol.apiserver.k8s.io": true,
	"internal.apiserver.k8s.io":    true,
	"networking.k8s.io":            true,
	"node.k8s.io":                  true,
	"rbac.authorization.k8s.io":    true,
	"resource.k8s.io":              true,
	"scheduling.k8s.io":            true,
	"storage.k8s.io":               true,
	"storagemigration.k8s.io":      true,
}

// BuiltInGroup reports whether group is one of the API server's own groups:
// the core group "", a group without a dot, or a listed *.k8s.io group.
// Other *.k8s.io groups (gateway.networking.k8s.io,
// snapshot.storage.k8s.io) are served by CustomResourceDefinitions.
func BuiltInGroup(group string) bool {
	return !strings.Contains(group, ".") || builtInGroups[group]
}

// ConversionSpec is the raw, validated conversion block; package conversion
// compiles its own plan from it.
type ConversionSpec struct {
	StorageVersion string
	Versions       []string
	Paths          []ConversionPath
	UpdateCRD      bool
	// KeepOnShutdown: the last replica to stop leaves spec.conversion
	// pointed at the gateway instead of resetting it to strategy None.
	KeepOnShutdown bool
}

// ConversionPath is a declared conversion between two versions.
type ConversionPath struct {
	From, To string // versions
	// Spec is the target-field mapping: dot paths relative to the target's
	// spec ("replicas", "template.size"; nested maps in the Katalog are
	// flattened) to templates (strings holding "{{") or static values.
	Spec map[string]any
}

// Notification is the compiled notification block: who may call /notify,
// how events are throttled, and where each team's notifications go.
type Notification struct {
	// AllowedCallers are namespace/serviceaccount entries; nil means the
	// default: DefaultCaller in the gateway's own namespace.
	AllowedCallers []string
	// DefaultCaller is the Runtime's service account name, allowed in the
	// gateway's namespace when AllowedCallers is nil.
	DefaultCaller string
	// Audience is the audience callers' tokens must carry (checked through
	// the TokenReview).
	Audience string
	// Interval is the default throttle window; each Team has its own resolved.
	Interval time.Duration
	Slack    *Slack // nil without a slack block
	SMTP     *SMTP  // nil without an email block
	// Teams in name order.
	Teams []*Team
	// Default templates, used when neither the team nor the event has one.
	Message *tmpl.Template
	Subject *tmpl.Template
}

// Callers are the allowed callers (namespace/serviceaccount) for a gateway
// running in namespace.
func (n *Notification) Callers(namespace string) []string {
	if n.AllowedCallers != nil || n.DefaultCaller == "" {
		return n.AllowedCallers
	}
	return []string{namespace + "/" + n.DefaultCaller}
}

// SecretRef is a reference to a secret value (env var or file); exactly one is set.
type SecretRef struct {
	Env  string
	File string
}

// Slack is the Slack credentials shared by the teams.
type Slack struct {
	WebhookURL *SecretRef // may be nil
	BotToken   *SecretRef // may be nil
	APIURL     string     // default https://slack.com/api
}

// SMTP is the mail relay shared by the teams.
type SMTP struct {
	Host     string
	Port     int    // default 587
	TLS      string // starttls | implicit | none
	From     string
	Username *SecretRef // nil: no SMTP AUTH (set together with Password)
	Password *SecretRef
	CAFile   string // PEM CA bundle trusted for the relay ("": system roots)
}

// Team is one recipient of notifications, with every default resolved.
type Team struct {
	Name  string
	Email []string
	Slack []string // channels for chat.postMessage
	// WebhookURL is the team's incoming webhook: its own slackWebhookURLFrom,
	// else slack.webhookURLFrom when the team names no email or channel.
	WebhookURL *SecretRef
	Interval   time.Duration // resolved: team, then defaults, then 15m
	// Message and Subject are the team's templates; nil falls back to
	// the Notification's, then to the event's own text.
	Message *tmpl.Template
	Subject *tmpl.Template
}
