// Package katalog holds the source model of a Katalog file and its strict,
// position-aware loader. It knows nothing of defaults or meaning: the check
// pass (package check) turns a loaded File into a compiled policy.
package katalog

// APIVersion and Kind are the only header values a Katalog may carry.
const (
	APIVersion = "orkestra.orkspace.io/v1"
	Kind       = "Katalog"
)

// Katalog is the document root. Field names follow Orkestra's Katalog so that
// one file serves the Runtime and the Gateway.
//
// Optional scalars are pointers so the check pass can tell "absent" (take the
// default) from "set to the zero value".
type Katalog struct {
	APIVersion   string        `yaml:"apiVersion"`
	Kind         string        `yaml:"kind"`
	Metadata     Metadata      `yaml:"metadata"`
	Gateway      *Gateway      `yaml:"gateway"`
	Security     *Security     `yaml:"security"`
	Notification *Notification `yaml:"notification"`
	Spec         *Spec         `yaml:"spec"`
}

// Metadata is the Katalog's identity; notifications carry Name as katalogName.
type Metadata struct {
	Name        string            `yaml:"name"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// Gateway is how the gateway is deployed and reached: standalone or beside
// the Runtime, its Service (or URL), namespace and replica count.
type Gateway struct {
	Standalone  *bool  `yaml:"standalone"`
	ServiceName string `yaml:"serviceName"`
	Namespace   string `yaml:"namespace"`
	// URL registers webhooks by URL (https://host:port) instead of the Service.
	URL      string `yaml:"url"`
	Replicas *int   `yaml:"replicas"`
	// RuntimeEndpoint is where the Orkestra Runtime listens; it contradicts standalone.
	RuntimeEndpoint string `yaml:"runtimeEndpoint"`
}

// Security switches the gateway's webhooks and configures its certificates;
// an absent block is off.
type Security struct {
	DeletionProtection  *DeletionProtection  `yaml:"deletionProtection"`
	NamespaceProtection *NamespaceProtection `yaml:"namespaceProtection"`
	Webhooks            *Webhooks            `yaml:"webhooks"`
	Conversion          *Toggle              `yaml:"conversion"`
	CertManager         *CertManager         `yaml:"certManager"`
}

// DeletionProtection denies the DELETE of labelled objects and, in strict
// mode, updates that remove the label.
type DeletionProtection struct {
	Enabled        *bool  `yaml:"enabled"`
	FailurePolicy  string `yaml:"failurePolicy"`
	TimeoutSeconds *int   `yaml:"timeoutSeconds"`
	// StrictMode also denies updates that remove or change the protection label.
	StrictMode *bool `yaml:"strictMode"`
	// BreakGlass may lift protection in strict mode (allowed with a warning).
	BreakGlass *Subjects `yaml:"breakGlass"`
	// CleanupOnShutdown removes the webhook configuration when the last
	// ready replica stops (default true).
	CleanupOnShutdown *bool `yaml:"cleanupOnShutdown"`
}

// Subjects names users and groups as they appear in an admission request's userInfo.
type Subjects struct {
	Groups []string `yaml:"groups"`
	Users  []string `yaml:"users"`
}

// NamespaceProtection refuses objects of the Katalog's CRDs in restricted
// (or not allowed) namespaces, and the deletion of restricted namespaces.
type NamespaceProtection struct {
	Enabled              *bool    `yaml:"enabled"`
	FailurePolicy        string   `yaml:"failurePolicy"`
	TimeoutSeconds       *int     `yaml:"timeoutSeconds"`
	RestrictedNamespaces []string `yaml:"restrictedNamespaces"`
	AllowedNamespaces    []string `yaml:"allowedNamespaces"`
	CleanupOnShutdown    *bool    `yaml:"cleanupOnShutdown"`
}

// Webhooks holds the per-CRD validation and mutation webhooks' settings.
type Webhooks struct {
	Admission         *Admission `yaml:"admission"`
	FailurePolicy     string     `yaml:"failurePolicy"`
	TimeoutSeconds    *int       `yaml:"timeoutSeconds"`
	CleanupOnShutdown *bool      `yaml:"cleanupOnShutdown"`
}

// Toggle is a feature block whose only setting is enabled (security.conversion).
type Toggle struct {
	Enabled *bool `yaml:"enabled"`
}

// Admission switches the admission features on and chooses what enforces
// them: the gateway's webhooks, or policies the API server evaluates itself.
type Admission struct {
	Enabled *bool `yaml:"enabled"`
	// Engine is webhook, native or auto; empty means webhook.
	Engine string `yaml:"engine"`
}

// CertManager configures the serving certificate: who issues it, its
// validity and rotation, and the Secret that holds it.
type CertManager struct {
	// Source is who issues the serving certificate: self (the gateway),
	// cert-manager, or files the user mounts.
	Source string `yaml:"source"`
	// IssuerRef (cert-manager only) signs the certificate with an existing
	// issuer instead of the bundle's own self-signed CA.
	IssuerRef  *IssuerRef `yaml:"issuerRef"`
	AutoRotate *bool      `yaml:"autoRotate"`
	// RotationThreshold renews the certificate when less than this is left.
	RotationThreshold Duration `yaml:"rotationThreshold"`
	// ValidFor is the validity of a new CA and certificate.
	ValidFor Duration `yaml:"validFor"`
	// SecretName is the kubernetes.io/tls Secret in the gateway's namespace.
	SecretName string `yaml:"secretName"`
}

// IssuerRef names an existing cert-manager issuer.
type IssuerRef struct {
	Name  string `yaml:"name"`
	Kind  string `yaml:"kind"`
	Group string `yaml:"group"`
}

// Notification configures the /notify relay: who may call it, the
// destinations shared by the teams, and the teams.
type Notification struct {
	Enabled *bool `yaml:"enabled"`
	// AllowedCallers are namespace/serviceaccount entries allowed to POST.
	AllowedCallers []string `yaml:"allowedCallers"`
	// Audience is the audience callers' tokens must carry.
	Audience string           `yaml:"audience"`
	Defaults *NotifyDefaults  `yaml:"defaults"`
	Slack    *Slack           `yaml:"slack"`
	Email    *Email           `yaml:"email"`
	Teams    map[string]*Team `yaml:"teams"`
}

// NotifyDefaults are the throttle interval and templates of teams that set
// none of their own.
type NotifyDefaults struct {
	Interval Duration `yaml:"interval"`
	Message  string   `yaml:"message"`
	Subject  string   `yaml:"subject"`
}

// SecretRef points at a secret value; the Katalog never holds one literally.
type SecretRef struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// Slack holds the Slack credentials shared by the teams: an incoming webhook
// for teams without channels, a bot token for chat.postMessage.
type Slack struct {
	WebhookURLFrom *SecretRef `yaml:"webhookURLFrom"`
	BotTokenFrom   *SecretRef `yaml:"botTokenFrom"`
	// APIURL is the Web API base (default https://slack.com/api).
	APIURL string `yaml:"apiURL"`
}

// Email is the email destination: the SMTP relay shared by the teams.
type Email struct {
	SMTP *SMTP `yaml:"smtp"`
}

// SMTP is the mail relay notifications are sent through.
type SMTP struct {
	Host string `yaml:"host"`
	Port *int   `yaml:"port"`
	// TLS is starttls (default), implicit or none.
	TLS          string     `yaml:"tls"`
	From         string     `yaml:"from"`
	UsernameFrom *SecretRef `yaml:"usernameFrom"`
	PasswordFrom *SecretRef `yaml:"passwordFrom"`
	// CAFile adds a CA to trust for the SMTP server's certificate.
	CAFile string `yaml:"caFile"`
}

// Team is one recipient of notifications: its email addresses, Slack
// channels or incoming webhook, throttle interval and templates.
type Team struct {
	Email               []string   `yaml:"email"`
	Slack               []string   `yaml:"slack"`
	SlackWebhookURLFrom *SecretRef `yaml:"slackWebhookURLFrom"`
	Interval            Duration   `yaml:"interval"`
	Message             string     `yaml:"message"`
	Subject             string     `yaml:"subject"`
}

// Spec holds the CRD entries, by entry name.
type Spec struct {
	CRDs map[string]*CRD `yaml:"crds"`
}

// CRD is one spec.crds entry: a resource the gateway guards (a custom
// resource or a built-in one such as Pods), with its rules, namespaces,
// protection and conversion.
type CRD struct {
	APITypes *APITypes `yaml:"apiTypes"`
	// CRDFile is the CRD manifest, relative to the Katalog's directory.
	CRDFile              string                 `yaml:"crdFile"`
	Namespaced           *bool                  `yaml:"namespaced"`
	Webhooks             *CRDWebhooks           `yaml:"webhooks"`
	Validation           *Validation            `yaml:"validation"`
	Mutation             *Mutation              `yaml:"mutation"`
	AllowedNamespaces    []string               `yaml:"allowedNamespaces"`
	RestrictedNamespaces []string               `yaml:"restrictedNamespaces"`
	DeletionProtection   *CRDDeletionProtection `yaml:"deletionProtection"`
	Conversion           *Conversion            `yaml:"conversion"`
	// Enforcement is enforce (default) or audit: in audit, the entry's
	// validation rules never deny or warn; their failures are logged and
	// counted.
	Enforcement string `yaml:"enforcement"`
}

// APITypes is a resource's identity; crdFile gives it when absent.
type APITypes struct {
	Group   string `yaml:"group"`
	Version string `yaml:"version"`
	Kind    string `yaml:"kind"`
	Plural  string `yaml:"plural"`
}

// CRDWebhooks says which admission webhooks an entry registers and for which
// operations.
type CRDWebhooks struct {
	Validation *bool    `yaml:"validation"`
	Mutation   *bool    `yaml:"mutation"`
	Operations []string `yaml:"operations"`
}

// Validation is an entry's validation rules.
type Validation struct {
	Rules []Rule `yaml:"rules"`
}

// Test is one field test: a field path and exactly one operator, given either
// in long form (operator + value) or as a shorthand key (regex: "^a").
type Test struct {
	Field    string `yaml:"field"`
	Operator string `yaml:"operator"`
	Value    *Value `yaml:"value"`

	Exists      *Value `yaml:"exists"`
	NotExists   *Value `yaml:"notExists"`
	Equals      *Value `yaml:"equals"`
	NotEquals   *Value `yaml:"notEquals"`
	Contains    *Value `yaml:"contains"`
	NotContains *Value `yaml:"notContains"`
	Prefix      *Value `yaml:"prefix"`
	NotPrefix   *Value `yaml:"notPrefix"`
	Suffix      *Value `yaml:"suffix"`
	NotSuffix   *Value `yaml:"notSuffix"`
	Regex       *Value `yaml:"regex"`
	Gt          *Value `yaml:"gt"`
	Gte         *Value `yaml:"gte"`
	Lt          *Value `yaml:"lt"`
	Lte         *Value `yaml:"lte"`
	Between     *Value `yaml:"between"`
	NotBetween  *Value `yaml:"notBetween"`
	In          *Value `yaml:"in"`
	NotIn       *Value `yaml:"notIn"`
	TypeString  *Value `yaml:"typeString"`
	TypeNumber  *Value `yaml:"typeNumber"`
	TypeBool    *Value `yaml:"typeBool"`
	TypeList    *Value `yaml:"typeList"`
	TypeMap     *Value `yaml:"typeMap"`
	TypeNull    *Value `yaml:"typeNull"`
}

// Operators lists every operator name, in the order of the Test fields.
var Operators = []string{
	"exists", "notExists", "equals", "notEquals", "contains", "notContains",
	"prefix", "notPrefix", "suffix", "notSuffix", "regex",
	"gt", "gte", "lt", "lte", "between", "notBetween", "in", "notIn",
	"typeString", "typeNumber", "typeBool", "typeList", "typeMap", "typeNull",
}

// Shorthands returns the operators given as shorthand keys, with their values,
// in the order of Operators.
func (t *Test) Shorthands() []OperatorValue {
	all := []*Value{
		t.Exists, t.NotExists, t.Equals, t.NotEquals, t.Contains, t.NotContains,
		t.Prefix, t.NotPrefix, t.Suffix, t.NotSuffix, t.Regex,
		t.Gt, t.Gte, t.Lt, t.Lte, t.Between, t.NotBetween, t.In, t.NotIn,
		t.TypeString, t.TypeNumber, t.TypeBool, t.TypeList, t.TypeMap, t.TypeNull,
	}
	var out []OperatorValue
	for i, v := range all {
		if v != nil {
			out = append(out, OperatorValue{Operator: Operators[i], Value: v})
		}
	}
	return out
}

// OperatorValue is one operator of a Test with its argument.
type OperatorValue struct {
	Operator string
	Value    *Value
}

// Condition gates a rule (when: all must hold; or: any must hold).
type Condition struct {
	Test `yaml:",inline"`
}

// Rule is one validation rule: a field test (or a CEL expression), the
// conditions under which it applies, its message and its action.
type Rule struct {
	Test `yaml:",inline"`
	// Name names the rule in metrics, logs and reports (optional; the
	// rule's index otherwise).
	Name    string      `yaml:"name"`
	Message string      `yaml:"message"`
	Action  string      `yaml:"action"` // deny (default) | warn | audit
	When    []Condition `yaml:"when"`
	Or      []Condition `yaml:"or"`
	// Expression is a CEL rule (instead of field and operator), evaluated
	// by the API server (native engine) with a ValidatingAdmissionPolicy's
	// variables; MessageExpression is the CEL of its message.
	Expression        string `yaml:"expression"`
	MessageExpression string `yaml:"messageExpression"`
}

// Mutation is an entry's mutation rules.
type Mutation struct {
	Rules []MutationRule `yaml:"rules"`
}

// MutationRule sets a field: Default when it is absent, Override always,
// under optional conditions.
type MutationRule struct {
	Field     string      `yaml:"field"`
	Default   *Value      `yaml:"default"`
	Override  *Value      `yaml:"override"`
	ValueType string      `yaml:"valueType"` // string|integer|number|bool|list|map (default: the YAML type)
	When      []Condition `yaml:"when"`
	Or        []Condition `yaml:"or"`
}

// CRDDeletionProtection says whether the CRD object itself and its labelled
// objects are protected from deletion.
type CRDDeletionProtection struct {
	ProtectCRD *bool `yaml:"protectCRD"`
	ProtectCRs *bool `yaml:"protectCRs"`
}

// Conversion declares how the gateway converts an entry's objects between
// versions: the storage version, every version it converts between, and the
// declared mappings (other pairs go through the storage version).
type Conversion struct {
	StorageVersion string           `yaml:"storageVersion"`
	Versions       []string         `yaml:"versions"`
	Paths          []ConversionPath `yaml:"paths"`
	// UpdateCRD keeps the CRD's spec.conversion pointed at the gateway's
	// /convert (default true).
	UpdateCRD *bool `yaml:"updateCRD"`
	// KeepOnShutdown keeps the CRD's spec.conversion pointed at the gateway
	// when the last replica stops (default: reset to strategy None).
	KeepOnShutdown *bool `yaml:"keepOnShutdown"`
}

// ConversionPath is a declared conversion from one version to another.
type ConversionPath struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// Spec maps target spec fields (dot paths or nested maps) to templates or
	// static values.
	Spec *Value `yaml:"spec"`
}

// Value is any YAML value, kept as decoded JSON-compatible data
// (string, int64, float64, bool, nil, []any, map[string]any). A non-nil
// *Value means the key was present, even when its value is null.
type Value struct {
	V any
}

// Duration is a duration as written in the Katalog ("30d", "2w", "1y", "90m");
// ParseDuration gives its length.
type Duration string
