package check

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/katalog"
)

// header is a valid Katalog head: 4 lines, nothing enabled.
const header = `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: guard
`

// admission turns admission webhooks on, so rule fixtures see no K22 noise.
const admission = header + `security:
  webhooks: {}
`

const website = `{group: web.example.com, version: v1, kind: Website, plural: websites}`

// Each fixture marks the findings it expects on the line they must point at:
// "# want: K15 error, K22 warning". A fixture without markers must produce
// no finding at all. Fixtures are parsed as testdata/t.yaml, so crdFile
// paths are relative to testdata/.
var cases = []struct {
	name string
	src  string
}{
	{"K01 pass", header},
	{"K01 wrong apiVersion", `apiVersion: orkestra.orkspace.io/v2 # want: K01 error
kind: Katalog
metadata:
  name: guard
`},
	{"K01 missing apiVersion, wrong kind", `kind: Catalog # want: K01 error, K01 error
metadata:
  name: guard
`},

	{"K02 pass", header + `security:
  deletionProtection:
    failurePolicy: Fail
`},
	{"K02 unknown key", header + `security:
  deletionProtection:
    failurPolicy: Fail # want: K02 error
`},
	{"K02 wrong type hides the checks of that field", `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: 5 # want: K02 error
`},
	{"K02 duplicate key", header + `gateway:
  replicas: 2
  replicas: 3 # want: K02 error
`},

	{"K03 pass", header},
	{"K03 not a DNS label", `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: Guard_1 # want: K03 error
`},
	{"K03 missing", `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata: # want: K03 error
  labels: {team: web}
`},

	{"K04 pass", header + `spec:
  crds:
    website:
      apiTypes: ` + website + `
`},
	{"K04 not a DNS label", header + `spec:
  crds:
    Web_Site: # want: K04 error
      apiTypes: ` + website + `
`},

	{"K04 duplicate entry", header + `spec:
  crds:
    website:
      apiTypes: ` + website + `
    website: # want: K04 error
      apiTypes: ` + website + `
    other:
      apiTypes: {group: web.example.com, version: v1, kind: Other, plural: others}
      webhooks: {operations: [GET]} # want: K12 error
      webhooks: {} # want: K02 error
`},

	{"K05 pass with crdFile only", header + `spec:
  crds:
    website:
      crdFile: crds/website.yaml
`},
	{"K05 unresolved", header + `spec:
  crds:
    empty: # want: K05 error
      namespaced: true
    partial:
      apiTypes: # want: K05 error
        group: web.example.com
        version: v1
        kind: website # want: K05 error
    nulled: # want: K05 error
    badgroup:
      apiTypes:
        group: Web_Example # want: K05 error
        version: 1 # want: K02 error
        kind: Thing
        plural: Things # want: K05 error
`},

	{"K06 pass", header + `spec:
  crds:
    website:
      crdFile: ./crds/website.yaml
      namespaced: true
      apiTypes: {group: web.example.com, version: v2, kind: Website, plural: websites}
`},
	{"K06 bad files and disagreements", header + `spec:
  crds:
    missing:
      crdFile: crds/nope.yaml # want: K06 error
    notcrd:
      crdFile: crds/notcrd.yaml # want: K06 error
    website:
      crdFile: crds/website.yaml
      namespaced: false # want: K06 error
      apiTypes:
        group: example.com # want: K06 error
        version: v3 # want: K06 error
        kind: Website
`},

	{"K07 pass", header + `spec:
  crds:
    site:
      apiTypes: ` + website + `
    backend:
      apiTypes: {group: web.example.com, version: v1, kind: Backend, plural: backends}
`},
	{"K07 same group and plural", header + `spec:
  crds:
    site:
      apiTypes: ` + website + `
    site-two: # want: K07 error
      crdFile: crds/website.yaml
`},

	{"K08 pass", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      validation:
        rules:
          - field: spec.replicas
            gt: 0
            message: replicas must be positive
`},
	{"K08 rule shape", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      validation:
        rules:
          - field: spec.replicas # want: K08 error
            gt: 1
          - field: spec.image
            exists: true
            message: m
            action: block # want: K08 error
          - field: spec.tier # want: K08 error
            message: no operator
`},

	{"K08 native engine", header + `security:
  webhooks:
    admission:
      engine: native
spec:
  crds:
    website:
      apiTypes: ` + website + `
      validation:
        rules:
          - field: "{{ .spec.which }}" # want: K08 error
            exists: true
            message: m
          - field: spec.x
            exists: true
            message: "{{ range .spec.items }}{{ . }}{{ end }}" # want: K10 error
          - field: spec.y
            exists: true
            message: "y is {{ .spec.y | default \"unset\" | upper }}"
      mutation:
        rules:
          - field: "{{ .spec.which }}" # want: K11 error
            default: x
`},
	{"K22 auto keeps rules on the webhook", header + `security:
  webhooks:
    admission:
      engine: auto
spec:
  crds:
    website:
      apiTypes: ` + website + `
      validation:
        rules:
          - field: "{{ .spec.which }}" # want: K22 warning
            exists: true
            message: m
`},
	{"K09 pass", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      validation:
        rules:
          - field: spec.image
            regex: "^registry\\.example\\.com/"
            message: internal registry only
`},
	{"K09 rule values", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      validation:
        rules:
          - field: spec.image
            regex: "(" # want: K09 error
            message: m
          - field: spec.replicas
            between: "10,1" # want: K09 error
            message: m
          - field: spec.tier
            in: [] # want: K09 error
            message: m
`},

	{"K10 pass", header + `notification:
  defaults:
    message: "{{ .crName | upper }}: {{ .message }}"
  teams:
    platform:
      slackWebhookURLFrom: {env: URL}
      subject: "{{ .subject }}"
`},
	{"K10 templates", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      validation:
        rules:
          - field: spec.replicas
            gt: 0
            message: "{{ .spec.replicas | nosuch }}" # want: K10 error
notification:
  teams:
    platform:
      slackWebhookURLFrom: {env: URL}
      message: "{{ .crName" # want: K10 error
`},

	{"K11 pass", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      mutation:
        rules:
          - field: spec.tier
            default: standard
`},
	{"K11 mutation rules", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      mutation:
        rules:
          - field: spec.tier
            default: standard
            override: premium # want: K11 error
          - field: spec.replicas
            default: three # want: K11 error
            valueType: integer
`},

	{"K12 pass", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      webhooks:
        operations: [CREATE, DELETE]
      validation:
        rules:
          - {field: spec.replicas, gt: 0, message: m}
`},
	{"K12 operations", admission + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      webhooks:
        operations:
          - CREATE
          - create # want: K12 error
          - CREATE # want: K12 error
          - PATCH # want: K12 error
      validation:
        rules:
          - {field: spec.replicas, gt: 0, message: m}
    other:
      apiTypes: {group: web.example.com, version: v1, kind: Other, plural: others}
      webhooks:
        operations: [] # want: K12 error
`},

	{"K13 pass", header + `security:
  namespaceProtection:
    restrictedNamespaces: ["kube-*", "*-system", "team-?"]
spec:
  crds:
    website:
      apiTypes: ` + website + `
      allowedNamespaces: [web-*]
`},
	{"K13 namespace lists", header + `security:
  namespaceProtection:
    restrictedNamespaces: [kube-system]
    allowedNamespaces: # want: K13 error
      - team-a
      - "team_[b]" # want: K13 error
      - Team # want: K13 error
      - "" # want: K13 error
spec:
  crds:
    website:
      apiTypes: ` + website + `
      allowedNamespaces: [web-*]
      restrictedNamespaces: [kube-*] # want: K13 error
    backend:
      crdFile: crds/cluster.yaml
      allowedNamespaces: [web-*] # want: K13 warning
`},

	{"K14 pass", header + `security:
  deletionProtection:
    strictMode: true
    breakGlass:
      groups: [system:masters]
      users: [admin@example.com]
spec:
  crds:
    website:
      apiTypes: ` + website + `
      deletionProtection: {protectCRD: true, protectCRs: false}
    backend:
      crdFile: crds/cluster.yaml
      deletionProtection: {protectCRs: false, protectCRD: false}
`},
	{"K14 strict mode without protection", header + `security:
  deletionProtection:
    enabled: false
    strictMode: true # want: K14 error
`},
	{"K14 incoherent settings", header + `security:
  deletionProtection:
    strictMode: true # want: K14 warning
    breakGlass:
      groups:
        - "" # want: K14 error
        - ops team # want: K14 error
spec:
  crds:
    website:
      apiTypes: ` + website + `
      deletionProtection:
        protectCRD: false # want: K14 warning
      mutation: # want: K22 warning
        rules:
          - field: metadata.labels["orkestra.io/deletion-protection"]
            default: "yes" # want: K14 warning
`},

	{"K15 pass", header + `security:
  deletionProtection:
    failurePolicy: Ignore
    timeoutSeconds: 1
  namespaceProtection:
    failurePolicy: Fail
    timeoutSeconds: 30
`},
	{"K15 failure policies and timeouts", header + `security:
  deletionProtection:
    failurePolicy: fail # want: K15 error
    timeoutSeconds: 0 # want: K15 error
  namespaceProtection:
    failurePolicy: "" 
  webhooks: # want: K22 warning
    failurePolicy: Ignorance # want: K15 error
    timeoutSeconds: 31 # want: K15 error
`},
	{"K15 engines", header + `security:
  webhooks:
    admission:
      enabled: false
      engine: native
`},
	{"K15 unknown engine", header + `security:
  webhooks:
    admission:
      enabled: false
      engine: nativ # want: K15 error
`},

	{"K16 pass", header + `security:
  conversion: {}
spec:
  crds:
    website:
      apiTypes: ` + website + `
      conversion:
        storageVersion: v2
        versions: [v1, v2]
        paths:
          - {from: v1, to: v2}
          - {from: v2, to: v1}
`},
	{"K16 undeclared versions", header + `security:
  conversion: {}
spec:
  crds:
    website:
      apiTypes: ` + website + `
      conversion:
        storageVersion: v3 # want: K16 error
        versions:
          - v1
          - v2
          - v1 # want: K16 error
        paths:
          - from: v1
            to: v1 # want: K16 error
          - from: v2
            to: v9 # want: K16 error
          - to: v2 # want: K16 error
`},
	{"K16 reachability", header + `security:
  conversion: {}
spec:
  crds:
    website:
      apiTypes:
        group: web.example.com
        version: v4 # want: K16 error
        kind: Website
        plural: websites
      conversion:
        storageVersion: v2
        versions: [v1, v2, v3]
        paths: # want: K16 warning, K16 warning
          - from: v1
            to: v2
          - from: v2
            to: v1
          - from: v2 # want: K16 error
            to: v1
`},
	{"K16 versions from the CRD file", header + `security:
  conversion: {}
spec:
  crds:
    website:
      crdFile: crds/website.yaml
      conversion:
        storageVersion: v1 # want: K16 warning
        versions: [v1, v2, v5] # want: K16 error
        paths:
          - {from: v1, to: v2}
          - {from: v2, to: v1}
`},

	{"K16 the CRD file's storage version is not declared", header + `security:
  conversion: {}
spec:
  crds:
    website:
      crdFile: crds/website.yaml
      conversion: # want: K16 warning
        versions: [v1] # want: K16 error
`},

	{"K17 pass", header + `security:
  conversion: {}
spec:
  crds:
    website:
      crdFile: crds/website.yaml
      conversion:
        paths:
          - from: v1
            to: v2
            spec:
              replicas: "{{ .spec.size }}"
              labels.team: "{{ .spec.labels.team }}"
              image: "{{ with .spec.image }}{{ .anything }}{{ end }}{{ $.status.free }}"
              tier: standard
          - from: v2
            to: v1
            spec:
              size: "{{ .spec.replicas }}"
`},
	{"K17 mappings against the CRD schema", header + `security:
  conversion: {}
spec:
  crds:
    website:
      crdFile: crds/website.yaml
      conversion:
        paths:
          - from: v1
            to: v2
            spec:
              replicas: "{{ .spec.nosuch }}" # want: K17 error
              bad key!: 1 # want: K17 error
              nosuch: 1 # want: K17 error
              image: "{{ .metadata.name }}-{{ .kind }}"
          - from: v2
            to: v1
            spec: size # want: K17 error
`},
	{"K17 mappings without a schema", header + `security:
  conversion: {}
spec:
  crds:
    website:
      apiTypes: ` + website + `
      conversion:
        storageVersion: v1
        versions: [v1, v2]
        paths:
          - from: v1
            to: v2
            spec:
              replicas: "{{ .foo }}" # want: K17 error
              size: "{{ .spec.size | nosuch }}" # want: K10 error
              tier: 1
              tier.name: 2 # want: K17 error
          - from: v2
            to: v1
`},

	{"K18 pass", header + `security:
  certManager:
    rotationThreshold: 7d
    validFor: 90d
    secretName: gateway.tls
`},
	{"K18 threshold not below validity", header + `security:
  certManager:
    rotationThreshold: 2y # want: K18 error
    validFor: 1y
`},
	{"K18 bad values", header + `security:
  certManager:
    rotationThreshold: 30 days # want: K18 error
    validFor: 20y # want: K18 error
    secretName: Bad_Name # want: K18 error
`},
	{"K18 validity below the default threshold", header + `security:
  certManager:
    validFor: 20d # want: K18 error
`},
	{"K18 cert-manager pass", header + `security:
  certManager:
    source: cert-manager
    validFor: 90d
    issuerRef: {name: platform-ca, kind: ClusterIssuer}
`},
	{"K18 files pass", header + `security:
  certManager:
    source: files
    secretName: gateway-tls
`},
	{"K18 bad source", header + `security:
  certManager:
    source: vault # want: K18 error
`},
	{"K18 issuerRef without cert-manager", header + `security:
  certManager:
    issuerRef: # want: K18 error
      name: ca
`},
	{"K18 bad issuerRef", header + `security:
  certManager:
    source: cert-manager
    issuerRef:
      name: Bad_Name # want: K18 error
      kind: Vault # want: K18 error
`},
	{"K18 settings ignored", header + `security:
  certManager:
    source: files
    autoRotate: false # want: K18 warning
    validFor: 90d # want: K18 warning
`},
	{"K18 zero threshold", header + `security:
  certManager:
    rotationThreshold: "0" # want: K18 error
`},

	{"K19 pass", header + `notification:
  slack:
    botTokenFrom: {env: SLACK_TOKEN}
  teams:
    platform:
      slack: ["#platform"]
      interval: 1h
`},
	{"K19 teams", header + `notification:
  defaults:
    interval: 0s # want: K19 error
  slack:
    botTokenFrom: {env: SLACK_TOKEN}
  email:
    smtp: {host: smtp.example.com, from: o@example.com}
  teams:
    Bad_Team: # want: K19 error
      slack: ["#a"]
    nobody: {} # want: K19 error
    mails:
      email:
        - not-an-address # want: K19 error
        - Ops <ops@example.com>
      slack:
        - "two words" # want: K19 error
      interval: 10x # want: K19 error
`},
	{"K19 a global webhook serves teams without channels", header + `notification:
  slack:
    webhookURLFrom: {file: /run/slack-url}
  teams:
    platform: {}
`},

	{"K20 pass", header + `notification:
  allowedCallers: [orkestra-system/orkestra-runtime, ci/deployer]
  audience: gateway.example.com
  slack:
    botTokenFrom: {file: /run/token}
    apiURL: https://slack.example.com/api
  email:
    smtp:
      host: smtp.example.com
      port: 465
      tls: implicit
      from: Orkestra <orkestra@example.com>
      usernameFrom: {env: SMTP_USER}
      passwordFrom: {file: /run/smtp/password}
      caFile: /etc/ssl/smtp-ca.pem
  teams:
    platform:
      email: [ops@example.com]
      slack: [C0123456]
`},
	{"K20 channels and secrets", header + `notification:
  allowedCallers:
    - orkestra-runtime # want: K20 error
  audience: "orkestra gateway" # want: K20 error
  slack:
    apiURL: http://slack.internal/api # want: K20 warning
  email:
    smtp:
      host: smtp.example.com
      port: 70000 # want: K20 error
      tls: none # want: K20 warning
      from: orkestra@example.com
      usernameFrom: {env: SMTP_USER, file: /x} # want: K20 error
      passwordFrom:
        file: relative/path # want: K20 error
  teams:
    a:
      slack: ["#a"] # want: K20 error
    b:
      email: [b@example.com]
      slackWebhookURLFrom: {env: 1BAD} # want: K20 error
    c:
      slackWebhookURLFrom: {} # want: K20 error
`},
	{"K20 email without SMTP", header + `notification:
  teams:
    a:
      email: [a@example.com] # want: K20 error
`},
	{"K20 incomplete SMTP", header + `notification:
  email:
    smtp: # want: K20 error, K20 error
      tls: STARTTLS # want: K20 error
      passwordFrom: {env: SMTP_PASSWORD} # want: K20 error
  teams:
    a:
      email: [a@example.com]
`},

	{"K21 pass", header + `gateway:
  standalone: false
  serviceName: gateway
  namespace: platform
  url: https://gw.example.com:8443
  replicas: 3
  runtimeEndpoint: https://runtime.platform.svc:8080
`},
	{"K21 gateway block", header + `gateway:
  standalone: true
  serviceName: 1gateway # want: K21 error
  namespace: Orkestra # want: K21 error
  url: http://gw.example.com/path # want: K21 error
  replicas: 0 # want: K21 error
  runtimeEndpoint: https://runtime:8080 # want: K21 error
`},
	{"K21 URL with a path", header + `gateway:
  url: https://gw.example.com/hooks # want: K21 error
`},

	{"K22 pass", admission + `  conversion: {}
  deletionProtection: {}
  namespaceProtection: {}
spec:
  crds:
    website:
      apiTypes: ` + website + `
      allowedNamespaces: [web-*]
      deletionProtection: {}
      validation:
        rules:
          - {field: spec.replicas, gt: 0, message: m}
      conversion:
        storageVersion: v1
        versions: [v1, v2]
        paths:
          - {from: v1, to: v2}
          - {from: v2, to: v1}
notification:
  teams:
    platform:
      slackWebhookURLFrom: {env: URL}
`},
	{"K22 features that register nothing", header + `security:
  webhooks: # want: K22 warning
    failurePolicy: Ignore
  conversion: {} # want: K22 warning
notification: # want: K22 error
  enabled: true
`},
	{"K22 entry settings a disabled feature ignores", header + `spec:
  crds:
    website:
      apiTypes: ` + website + `
      webhooks:
        validation: true # want: K22 warning
        mutation: true
      mutation: # want: K22 warning
        rules:
          - {field: spec.tier, default: standard}
      restrictedNamespaces: [kube-*] # want: K22 warning
      deletionProtection: {protectCRD: true} # want: K22 warning
      conversion: # want: K16 warning, K22 warning
        storageVersion: v1
        versions: [v1]
`},
}

var wantMarker = regexp.MustCompile(`#\s*want:\s*(.+)$`)

// wants reads the "# want:" markers of a fixture as "line ID severity".
func wants(t *testing.T, src string) []string {
	var out []string
	for i, line := range strings.Split(src, "\n") {
		m := wantMarker.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, w := range strings.Split(m[1], ",") {
			f := strings.Fields(w)
			if len(f) != 2 {
				t.Fatalf("bad marker %q on line %d", w, i+1)
			}
			out = append(out, fmt.Sprintf("%d %s %s", i+1, f[0], f[1]))
		}
	}
	sort.Strings(out)
	return out
}

func got(r *Result) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, fmt.Sprintf("%d %s %s", f.Pos.Line, f.ID, f.Severity))
	}
	sort.Strings(out)
	return out
}

func run(src string) *Result {
	f, errs := katalog.Parse("testdata/t.yaml", []byte(src))
	return Run(f, errs)
}

func TestChecks(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(tc.src)
			want, have := wants(t, tc.src), got(r)
			if !slices.Equal(want, have) {
				t.Errorf("findings (line ID severity):\nwant %q\ngot  %q\n%s", want, have, dump(r))
			}
			for _, f := range r.Findings {
				if f.File != "testdata/t.yaml" || f.Name == "" || f.Message == "" || f.Field == "" && f.ID != "K02" && f.ID != "K01" {
					t.Errorf("incomplete finding: %+v", f)
				}
				if f.Hint == "" && f.ID != "K02" && !strings.HasPrefix(f.Message, "duplicate") {
					t.Errorf("finding without a fix hint: %s", f)
				}
			}
			if (r.Policy == nil) != (r.Errors() > 0) {
				t.Errorf("policy %v with %d errors", r.Policy != nil, r.Errors())
			}
		})
	}
}

// Every check has a fixture that fails it and one that passes.
func TestEveryCheckHasFixtures(t *testing.T) {
	for _, c := range Checks {
		failing, passing := false, false
		for _, tc := range cases {
			if !strings.HasPrefix(tc.name, c.ID+" ") {
				continue
			}
			w := strings.Join(wants(t, tc.src), "\n")
			if strings.Contains(w, " "+c.ID+" ") {
				failing = true
			}
			if w == "" {
				passing = true
			}
		}
		if !failing || !passing {
			t.Errorf("%s: failing fixture %v, passing fixture %v", c.ID, failing, passing)
		}
	}
}

func dump(r *Result) string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString(f.String() + "\n")
	}
	return b.String()
}

func find(r *Result, id string) *Finding {
	for i := range r.Findings {
		if r.Findings[i].ID == id {
			return &r.Findings[i]
		}
	}
	return nil
}

func TestMessagesAndHints(t *testing.T) {
	for _, tc := range []struct {
		src, id, field, msg, hint string
	}{
		{header + "security:\n  deletionProtection:\n    failurPolicy: Fail\n", "K02",
			"security.deletionProtection.failurPolicy", `unknown field "failurPolicy"`, `did you mean "failurePolicy"?`},
		{header + "security:\n  deletionProtection:\n    failurePolicy: fail\n", "K15",
			"security.deletionProtection.failurePolicy", `failurePolicy "fail" is not Fail or Ignore`, `write "Fail": failure policies are case-sensitive`},
		{header + "security:\n  webhooks:\n    admission: {enabled: false}\n    failurePolicy: ignore\n", "K15",
			"security.webhooks.failurePolicy", `"ignore"`, `write "Ignore"`},
		{header + "security:\n  webhooks:\n    admission: {enabled: false, engine: Native}\n", "K15",
			"security.webhooks.admission.engine", `engine "Native" is not webhook, native or auto`, `did you mean "native"?`},
		{header + "spec:\n  crds:\n    a:\n      apiTypes: " + website + "\n    b:\n      apiTypes: " + website + "\n", "K07",
			"spec.crds.b", `entries "a" and "b" both claim websites.web.example.com`, "merge"},
		{header + "security:\n  conversion: {}\nspec:\n  crds:\n    w:\n      apiTypes: " + website +
			"\n      conversion: {storageVersion: v2, versions: [v1, v2], paths: [{from: v1, to: v2}]}\n", "K16",
			"spec.crds.w.conversion.paths", "v2 -> v1 has no path; fields are carried over unchanged", "add a path from v2 to v1"},
		{header + "security:\n  conversion: {}\nspec:\n  crds:\n    w:\n      crdFile: crds/website.yaml\n      conversion:\n        paths:\n          - from: v1\n            to: v2\n            spec: {replicas: \"{{ .spec.replicas }}\"}\n          - {from: v2, to: v1}\n", "K17",
			"spec.crds.w.conversion.paths[0].spec.replicas", `template reads .spec.replicas, which is not in the source version's schema (no "replicas")`, "source version"},
		{header + "notification:\n  email:\n    smtp: {host: h, from: a@b.c, tls: none}\n  teams:\n    a: {email: [x@y.z]}\n", "K20",
			"notification.email.smtp.tls", "unencrypted", "starttls"},
	} {
		r := run(tc.src)
		f := find(r, tc.id)
		if f == nil {
			t.Errorf("no %s finding for\n%s\ngot:\n%s", tc.id, tc.src, dump(r))
			continue
		}
		if f.Field != tc.field || !strings.Contains(f.Message, tc.msg) || !strings.Contains(f.Hint, tc.hint) {
			t.Errorf("%s finding\n got %q %q (hint %q)\nwant %q containing %q (hint containing %q)", tc.id, f.Field, f.Message, f.Hint, tc.field, tc.msg, tc.hint)
		}
	}
}

func TestFindingsSortedByPosition(t *testing.T) {
	r := run(`kind: Catalog
metadata:
  name: X
gateway:
  serviceName: 1x
  replicas: 0
security:
  deletionProtection:
    failurePolicy: fail
`)
	if len(r.Findings) < 5 {
		t.Fatalf("want at least 5 findings, got:\n%s", dump(r))
	}
	for i := 1; i < len(r.Findings); i++ {
		a, b := r.Findings[i-1], r.Findings[i]
		if a.Pos.Line > b.Pos.Line || a.Pos.Line == b.Pos.Line && (a.Pos.Column > b.Pos.Column || a.Pos.Column == b.Pos.Column && a.ID > b.ID) {
			t.Errorf("findings out of order:\n%s", dump(r))
		}
	}
	if r.Policy != nil {
		t.Error("policy built despite errors")
	}
}

func TestSyntaxErrorIsOnlyK02(t *testing.T) {
	r := run("apiVersion: [\n")
	if len(r.Findings) == 0 {
		t.Fatal("no findings for a syntax error")
	}
	for _, f := range r.Findings {
		if f.ID != "K02" {
			t.Errorf("unexpected finding after a syntax error: %s", f)
		}
	}
	if r.Policy != nil || r.File != "testdata/t.yaml" {
		t.Errorf("policy %v, file %q", r.Policy, r.File)
	}
}

func TestNilFile(t *testing.T) {
	r := Run(nil, nil)
	if r.Errors() != 1 || r.Policy != nil {
		t.Errorf("Run(nil, nil): %d errors, policy %v", r.Errors(), r.Policy)
	}
}

func TestRunFile(t *testing.T) {
	r, err := RunFile("testdata/katalog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 0 || r.Policy == nil {
		t.Fatalf("want a clean result, got:\n%s", dump(r))
	}
	if _, err := RunFile("testdata/nope.yaml"); err == nil {
		t.Error("RunFile of a missing file: no error")
	}
}
