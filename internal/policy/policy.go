// Package policy is the compiled Katalog: every default applied, every
// regex, template, number and field path parsed once, so the request paths
// (admission, conversion, notify) only read it. It is built by the check pass
// (package check) and never changes after start-up.
package policy

import (
	"net/url"
	"path"
	"text/template"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/orkspace/orkestra-gateway/internal/rules"
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

const (
	Fail   FailurePolicy = "Fail"
	Ignore FailurePolicy = "Ignore"
)

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

type Gateway struct {
	Standalone  bool
	ServiceName string   // default "orkestra-gateway"
	Namespace   string   // "" means the pod's namespace
	URL         *url.URL // nil: register by Service reference
	Replicas    int      // default 2
}

// Endpoint is the settings of one webhook endpoint.
type Endpoint struct {
	Enabled           bool
	FailurePolicy     FailurePolicy
	TimeoutSeconds    int32
	CleanupOnShutdown bool
}

type DeletionProtection struct {
	Endpoint
	StrictMode bool
	BreakGlass Subjects
}

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

type Conversion struct {
	Enabled bool
}

type Certs struct {
	AutoRotate        bool
	RotationThreshold time.Duration // default 30d
	ValidFor          time.Duration // default 1y
	SecretName        string        // default orkestra-internal-tls
}

// CRD is one compiled spec.crds entry.
type CRD struct {
	Name       string // entry name
	Group      string
	Version    string // the version rules are written against (storage version when converting)
	Kind       string
	Plural     string
	Namespaced bool
	// Versions are all versions known for the CRD (conversion.versions, else crdFile, else Version).
	Versions []string
	// Definition is the CRD from crdFile, nil without one.
	Definition *apiextv1.CustomResourceDefinition

	// Validate and Mutate say whether to register /validate and /mutate for
	// this CRD: admission is enabled, the entry has rules of that kind, and
	// webhooks.validation/mutation is not false.
	Validate   bool
	Mutate     bool
	Operations []string // CREATE/UPDATE/DELETE/CONNECT, default CREATE, UPDATE

	Validation *rules.ValidationSet // nil when no rules
	Mutation   *rules.MutationSet   // nil when no rules

	// Namespaces are the entry-level lists; they refine the Katalog-level ones.
	Namespaces Namespaces

	// Protection flags are false while deletion protection is disabled.
	ProtectCRD bool // the CRD object itself cannot be deleted
	ProtectCRs bool // labelled objects of this kind cannot be deleted

	Conversion *ConversionSpec // nil without a conversion block
}

// CRDName is the name of the CustomResourceDefinition object (plural.group).
func (c *CRD) CRDName() string { return c.Plural + "." + c.Group }

// ConversionSpec is the raw, validated conversion block; package conversion
// compiles its own plan from it.
type ConversionSpec struct {
	StorageVersion string
	Versions       []string
	Paths          []ConversionPath
	UpdateCRD      bool
}

type ConversionPath struct {
	From, To string
	// Spec is the target-field mapping: dot paths relative to the target's
	// spec ("replicas", "template.size"; nested maps in the Katalog are
	// flattened) to templates (strings holding "{{") or static values.
	Spec map[string]any
}

type Notification struct {
	AllowedCallers []string // namespace/serviceaccount
	Interval       time.Duration
	Slack          *Slack
	SMTP           *SMTP
	// Teams in name order.
	Teams []*Team
	// Default templates, used when neither the team nor the event has one.
	Message *template.Template
	Subject *template.Template
}

// SecretRef is a reference to a secret value (env var or file); exactly one is set.
type SecretRef struct {
	Env  string
	File string
}

type Slack struct {
	WebhookURL *SecretRef // may be nil
	BotToken   *SecretRef // may be nil
	APIURL     string     // default https://slack.com/api
}

type SMTP struct {
	Host     string
	Port     int    // default 587
	TLS      string // starttls | implicit | none
	From     string
	Username *SecretRef
	Password *SecretRef
	CAFile   string
}

type Team struct {
	Name  string
	Email []string
	Slack []string // channels for chat.postMessage
	// WebhookURL is the team's incoming webhook: its own slackWebhookURLFrom,
	// else slack.webhookURLFrom when the team names no email or channel.
	WebhookURL *SecretRef
	Interval   time.Duration // resolved: team, then defaults, then 15m
	Message    *template.Template
	Subject    *template.Template
}
