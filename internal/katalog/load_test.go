package katalog

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"
)

func errorStrings(errs []*SchemaError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// Each case asserts the full messages: position (line and column), field
// path, text and hint.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "unknown key at the top level",
			in: `apiVersion: orkestra.orkspace.io/v1
kindd: Katalog
`,
			want: []string{`k.yaml:2:1: unknown field "kindd" at the top level; did you mean "kind"?`},
		},
		{
			name: "unknown key nested",
			in: `security:
  deletionProtection:
    enabled: true
    failurPolicy: Fail
`,
			want: []string{`k.yaml:4:5: unknown field "failurPolicy" in security.deletionProtection; did you mean "failurePolicy"?`},
		},
		{
			name: "unknown key in a list item",
			in: `spec:
  crds:
    website:
      validation:
        rules:
          - field: spec.image
            regx: "^a"
            message: m
`,
			want: []string{`k.yaml:7:13: unknown field "regx" in spec.crds.website.validation.rules[0]; did you mean "regex"?`},
		},
		{
			name: "unknown key inside a map entry",
			in: `notification:
  teams:
    platform:
      emails: [ops@example.com]
`,
			want: []string{`k.yaml:4:7: unknown field "emails" in notification.teams.platform; did you mean "email"?`},
		},
		{
			name: "case slip and transposition are near misses",
			in: `metadata:
  Name: x
gateway:
  serivceName: gw
`,
			want: []string{
				`k.yaml:2:3: unknown field "Name" in metadata; did you mean "name"?`,
				`k.yaml:4:3: unknown field "serivceName" in gateway; did you mean "serviceName"?`,
			},
		},
		{
			name: "far miss has no suggestion",
			in: `security:
  bogus: 1
  deletionProtection:
    xyz: true
`,
			want: []string{
				`k.yaml:2:3: unknown field "bogus" in security`,
				`k.yaml:4:5: unknown field "xyz" in security.deletionProtection`,
			},
		},
		{
			name: "duplicate key at the top level",
			in: `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
kind: Katalog
`,
			want: []string{`k.yaml:3:1: duplicate key "kind" at the top level (first at 2:1)`},
		},
		{
			name: "duplicate key nested",
			in: `metadata:
  name: a
  labels: {x: "1"}
  name: b
`,
			want: []string{`k.yaml:4:3: duplicate key "name" in metadata (first at 2:3)`},
		},
		{
			name: "duplicate entry in the map of crds",
			in: `spec:
  crds:
    website: {namespaced: true}
    blog: {}
    website: {namespaced: false}
`,
			want: []string{`k.yaml:5:5: duplicate key "website" in spec.crds (first at 3:5)`},
		},
		{
			name: "duplicate key in a string map and in value data",
			in: `metadata:
  labels:
    a: x
    a: y
spec:
  crds:
    w:
      mutation:
        rules:
          - field: spec.x
            default: {a: 1, b: 2, a: 3}
`,
			want: []string{
				`k.yaml:4:5: duplicate key "a" in metadata.labels (first at 3:5)`,
				`k.yaml:11:35: duplicate key "a" in spec.crds.w.mutation.rules[0].default (first at 11:23)`,
			},
		},
		{
			name: "wrong scalar types",
			in: `gateway:
  replicas: two
  standalone: yes
  serviceName: 123
security:
  deletionProtection:
    enabled: "true"
  webhooks:
    timeoutSeconds: "5"
  certManager:
    validFor: 365
notification:
  email:
    smtp:
      port: 5.5
`,
			want: []string{
				`k.yaml:2:13: field "gateway.replicas": expected an integer, got string "two"`,
				`k.yaml:3:15: field "gateway.standalone": expected a boolean, got string "yes"; use true or false`,
				`k.yaml:4:16: field "gateway.serviceName": expected a string, got integer 123; quote it to make it a string: "123"`,
				`k.yaml:7:14: field "security.deletionProtection.enabled": expected a boolean, got string "true"; use true or false`,
				`k.yaml:9:21: field "security.webhooks.timeoutSeconds": expected an integer, got string "5"; remove the quotes`,
				`k.yaml:11:15: field "security.certManager.validFor": expected a duration such as 30d, 12h or 90m, got integer 365; add a unit: s, m, h, d, w or y`,
				`k.yaml:15:13: field "notification.email.smtp.port": expected an integer, got number 5.5`,
			},
		},
		{
			name: "wrong type of a list item",
			in: `notification:
  teams:
    p:
      email: [a@x.io, 5]
`,
			want: []string{`k.yaml:4:23: field "notification.teams.p.email[1]": expected a string, got integer 5; quote it to make it a string: "5"`},
		},
		{
			name: "wrong collection types",
			in: `security: [deletionProtection]
notification:
  allowedCallers: orkestra-system/runtime
  teams:
    - platform
spec:
  crds:
    w:
      validation:
        rules: {field: x}
metadata: name
`,
			want: []string{
				`k.yaml:1:11: field "security": expected a mapping, got a list`,
				`k.yaml:3:19: field "notification.allowedCallers": expected a list, got string "orkestra-system/runtime"; write a one-item list: [orkestra-system/runtime]`,
				`k.yaml:5:5: field "notification.teams": expected a mapping, got a list`,
				`k.yaml:10:16: field "spec.crds.w.validation.rules": expected a list, got a mapping`,
				`k.yaml:11:11: field "metadata": expected a mapping, got string "name"`,
			},
		},
		{
			name: "scalar where a block is expected inside a map",
			in: `spec:
  crds:
    w: yes
`,
			want: []string{`k.yaml:3:8: field "spec.crds.w": expected a mapping, got string "yes"`},
		},
		{
			name: "literal secret",
			in: `notification:
  slack:
    webhookURLFrom: https://hooks.slack.com/services/T0/B0/x
`,
			want: []string{`k.yaml:3:21: field "notification.slack.webhookURLFrom": expected a mapping, got a string (not shown: it may be a secret); name where the secret is: {env: VARIABLE} or {file: /path}`},
		},
		{
			name: "document is not a mapping",
			in:   "- a\n- b\n",
			want: []string{`k.yaml:1:1: the Katalog: expected a mapping, got a list`},
		},
		{
			name: "alias",
			in: `security:
  webhooks: &w
    failurePolicy: Fail
  deletionProtection: *w
`,
			want: []string{`k.yaml:4:23: field "security.deletionProtection": YAML aliases (*w) are not supported; repeat the value instead of referring to an anchor`},
		},
		{
			name: "merge key",
			in: `metadata:
  <<: {name: x}
`,
			want: []string{`k.yaml:2:3: merge keys (<<) are not supported; write the keys out`},
		},
		{
			name: "non-string key",
			in: `metadata:
  labels:
    [a]: b
`,
			want: []string{`k.yaml:3:5: field "metadata.labels": mapping keys must be strings, got a list`},
		},
		{
			name: "unsupported tag",
			in: `metadata:
  name: !secret x
`,
			want: []string{`k.yaml:2:9: field "metadata.name": unsupported YAML tag !secret`},
		},
		{
			name: "bad values inside value data",
			in: `spec:
  crds:
    w:
      validation:
        rules:
          - {field: a, gt: .inf, lt: !!int 99999999999999999999, equals: !!bool yes}
`,
			want: []string{
				`k.yaml:6:28: field "spec.crds.w.validation.rules[0].gt": .inf is not a finite number`,
				`k.yaml:6:38: field "spec.crds.w.validation.rules[0].lt": integer 99999999999999999999 does not fit in 64 bits; quote it to keep it as a string`,
				`k.yaml:6:74: field "spec.crds.w.validation.rules[0].equals": "yes" is not a boolean; use true or false`,
			},
		},
		{
			name: "integer out of range for a typed field",
			in: `gateway:
  replicas: !!int 99999999999999999999
`,
			want: []string{`k.yaml:2:13: field "gateway.replicas": integer 99999999999999999999 is out of range`},
		},
		{
			name: "two documents",
			in: `apiVersion: orkestra.orkspace.io/v1
---
kind: Katalog
`,
			want: []string{`k.yaml:2:1: a second YAML document starts here; split the file: a Katalog file holds exactly one YAML document`},
		},
		{
			name: "empty",
			in:   "",
			want: []string{`k.yaml:1:1: empty Katalog; start with apiVersion: orkestra.orkspace.io/v1 and kind: Katalog`},
		},
		{
			name: "only comments",
			in:   "# nothing yet\n\n",
			want: []string{`k.yaml:1:1: empty Katalog; start with apiVersion: orkestra.orkspace.io/v1 and kind: Katalog`},
		},
		{
			name: "only a null",
			in:   "---\n~\n",
			want: []string{`k.yaml:1:1: empty Katalog; start with apiVersion: orkestra.orkspace.io/v1 and kind: Katalog`},
		},
		{
			name: "syntax error",
			in: `metadata:
  name: x
  labels: [a
gateway: {}
`,
			want: []string{`k.yaml:3:1: YAML syntax error: did not find expected ',' or ']'`},
		},
		{
			name: "syntax error: bad indentation",
			in:   "metadata:\n  name: x\n labels: y\n",
			want: []string{`k.yaml:3:1: YAML syntax error: did not find expected key`},
		},
		{
			name: "syntax error: tab indentation",
			in:   "metadata:\n\tname: x\n",
			want: []string{`k.yaml:2:1: YAML syntax error: found character that cannot start any token`},
		},
		{
			name: "syntax error on the first line",
			in:   "a: b: c\n",
			want: []string{`k.yaml:1:1: YAML syntax error: mapping values are not allowed in this context`},
		},
		{
			name: "stray document separators are not documents",
			in:   "---\nkind: Katalog\n---\n",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, errs := Parse("k.yaml", []byte(tt.in))
			if f == nil || f.Katalog == nil {
				t.Fatal("Parse returned a nil File or Katalog")
			}
			got := errorStrings(errs)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSchemaErrorFields(t *testing.T) {
	_, errs := Parse("k.yaml", []byte("security:\n  deletionProtection:\n    failurPolicy: Fail\n    timeoutSeconds: x\n"))
	if len(errs) != 2 {
		t.Fatalf("got %d errors, want 2: %q", len(errs), errorStrings(errs))
	}
	want := []SchemaError{
		{File: "k.yaml", Pos: Pos{3, 5}, Field: "security.deletionProtection.failurPolicy",
			Msg: `unknown field "failurPolicy" in security.deletionProtection`, Hint: `did you mean "failurePolicy"?`},
		{File: "k.yaml", Pos: Pos{4, 21}, Field: "security.deletionProtection.timeoutSeconds",
			Msg: `field "security.deletionProtection.timeoutSeconds": expected an integer, got string "x"`},
	}
	for i := range want {
		if *errs[i] != want[i] {
			t.Errorf("error %d:\n got %+v\nwant %+v", i, *errs[i], want[i])
		}
	}
}

// The problems are all reported, and what is right is still decoded.
func TestParseContinuesAfterErrors(t *testing.T) {
	f, errs := Parse("k.yaml", []byte(`metadata:
  name: a
  name: b
gateway:
  replicas: two
  serviceName: gw
spec:
  crds:
    w:
      namespaced: maybe
      crdFile: w.yaml
`))
	if len(errs) != 3 {
		t.Fatalf("got %d errors, want 3: %q", len(errs), errorStrings(errs))
	}
	k := f.Katalog
	if k.Metadata.Name != "a" {
		t.Errorf("metadata.name = %q, want the first one, a", k.Metadata.Name)
	}
	if k.Gateway == nil || k.Gateway.Replicas != nil || k.Gateway.ServiceName != "gw" {
		t.Errorf("gateway = %+v, want serviceName gw and no replicas", k.Gateway)
	}
	w := k.Spec.CRDs["w"]
	if w == nil || w.Namespaced != nil || w.CRDFile != "w.yaml" {
		t.Errorf("crd w = %+v, want crdFile w.yaml and no namespaced", w)
	}
	// A rejected value's key was still written.
	if !f.Has("gateway.replicas") {
		t.Error(`Has("gateway.replicas") = false for a key present with a wrong value`)
	}
}

func TestParseFullExample(t *testing.T) {
	f, errs, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 0 {
		t.Fatalf("the spec example has errors: %q", errorStrings(errs))
	}
	if f.Path != "testdata/full.yaml" {
		t.Errorf("Path = %q", f.Path)
	}
	k := f.Katalog
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	check("apiVersion", k.APIVersion, APIVersion)
	check("kind", k.Kind, Kind)
	check("metadata.name", k.Metadata.Name, "platform-guard")
	check("gateway.standalone", *k.Gateway.Standalone, true)
	check("gateway.replicas", *k.Gateway.Replicas, 2)
	check("gateway.url", k.Gateway.URL, "")
	check("gateway.runtimeEndpoint written", f.Has("gateway.runtimeEndpoint"), false)
	check("gateway.url written", f.Has("gateway.url"), true)
	dp := k.Security.DeletionProtection
	check("deletionProtection.strictMode", *dp.StrictMode, false)
	check("breakGlass.groups", dp.BreakGlass.Groups, []string{"system:masters"})
	check("breakGlass.users", dp.BreakGlass.Users, []string(nil))
	check("allowedNamespaces", k.Security.NamespaceProtection.AllowedNamespaces, []string{})
	check("webhooks.timeoutSeconds", *k.Security.Webhooks.TimeoutSeconds, 5)
	check("webhooks.admission.enabled", *k.Security.Webhooks.Admission.Enabled, true)
	check("certManager.rotationThreshold", k.Security.CertManager.RotationThreshold, Duration("30d"))
	check("certManager.validFor", k.Security.CertManager.ValidFor, Duration("1y"))
	check("notification.allowedCallers", k.Notification.AllowedCallers, []string{"orkestra-system/orkestra-runtime"})
	check("slack.webhookURLFrom", *k.Notification.Slack.WebhookURLFrom, SecretRef{Env: "SLACK_WEBHOOK_URL"})
	check("smtp.port", *k.Notification.Email.SMTP.Port, 587)
	team := k.Notification.Teams["platform"]
	check("team.slack", team.Slack, []string{"#platform-alerts"})
	check("team.interval", team.Interval, Duration("5m"))
	check("team.message", team.Message, "{{ .crNamespace }}/{{ .crName }}: {{ .subject }}")
	w := k.Spec.CRDs["website"]
	check("apiTypes", *w.APITypes, APITypes{Group: "web.example.com", Version: "v1", Kind: "Website", Plural: "websites"})
	check("operations", w.Webhooks.Operations, []string{"CREATE", "UPDATE"})
	check("rules", len(w.Validation.Rules), 2)
	check("rules[0].between", w.Validation.Rules[0].Between.V, "1,10")
	check("rules[1].regex", w.Validation.Rules[1].Regex.V, `^registry\.example\.com/`)
	check("rules[1].action", w.Validation.Rules[1].Action, "warn")
	check("mutation default", w.Mutation.Rules[0].Default.V, "standard")
	check("conversion.paths[1].spec", w.Conversion.Paths[1].Spec.V, map[string]any{"size": "{{ .spec.replicas }}"})
	check("conversion.updateCRD", *w.Conversion.UpdateCRD, true)

	positions := []struct {
		path string
		want Pos
	}{
		{"apiVersion", Pos{1, 1}},
		{"gateway.url", Pos{9, 3}},
		{"spec.crds.website", Pos{65, 5}},
		{"spec.crds.website.apiTypes.plural", Pos{66, 70}},
		{"spec.crds.website.webhooks.operations[1]", Pos{72, 30}},
		{"spec.crds.website.validation.rules[1]", Pos{78, 13}},
		{"spec.crds.website.validation.rules[1].regex", Pos{79, 13}},
		{"spec.crds.website.conversion.paths[1].spec.size", Pos{101, 15}},
		// Not written: the nearest written ancestor.
		{"spec.crds.website.validation.rules[1].when", Pos{78, 13}},
		{"spec.crds.website.conversion.paths[1].spec.size.x", Pos{101, 15}},
		{"nothing.here", Pos{1, 1}},
	}
	for _, p := range positions {
		if got := f.Pos(p.path); got != p.want {
			t.Errorf("Pos(%q) = %v, want %v", p.path, got, p.want)
		}
	}
	if f.Has("spec.crds.website.validation.rules[1].when") {
		t.Error("Has reports an absent field")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load("testdata/does-not-exist.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist", err)
	}
	_, _, err = Load("testdata")
	if err == nil {
		t.Fatal("Load of a directory succeeded")
	}
}

func TestParseTooLarge(t *testing.T) {
	data := []byte("metadata: {name: x}\n" + strings.Repeat("#", MaxFileSize))
	_, errs := Parse("k.yaml", data)
	want := []string{"k.yaml:1:1: file is larger than 4 MiB"}
	if got := errorStrings(errs); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParseDeepNesting(t *testing.T) {
	n := 200
	in := "spec: {crds: {w: {mutation: {rules: [{field: a, default: " +
		strings.Repeat("[", n) + strings.Repeat("]", n) + "}]}}}}\n"
	_, errs := Parse("k.yaml", []byte(in))
	if len(errs) != 1 || !strings.Contains(errs[0].Msg, "nested deeper than 64 levels") {
		t.Fatalf("got %q, want one nesting error", errorStrings(errs))
	}
}

// A billion-laughs document: aliases are refused, not expanded.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("spec: {crds: {w: {conversion: {paths: [{from: a, to: b, spec: {\n")
	b.WriteString(`  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"],` + "\n")
	for i := 1; i < 10; i++ {
		b.WriteString("  a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 9; j++ {
			if j > 0 {
				b.WriteString(",")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("],\n")
	}
	b.WriteString("}}]}}}}\n")
	start := time.Now()
	_, errs := Parse("k.yaml", []byte(b.String()))
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if len(errs) != 81 {
		t.Fatalf("got %d errors, want one per alias (81): %q", len(errs), errorStrings(errs))
	}
	for _, e := range errs {
		if !strings.Contains(e.Msg, "aliases") {
			t.Fatalf("unexpected error %v", e)
		}
	}
}

func TestParseStopsAfterManyErrors(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		b.WriteString("bad" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "_" + strings.Repeat("y", i) + ": 1\n")
	}
	_, errs := Parse("k.yaml", []byte(b.String()))
	if len(errs) != maxErrors+1 || errs[maxErrors].Msg != "too many errors; stopping" {
		t.Fatalf("got %d errors, last %v", len(errs), errs[len(errs)-1])
	}
}

// A null (or empty) value means "absent" for scalars, but a written block
// or map entry with nothing in it exists, so its defaults apply.
func TestParseNulls(t *testing.T) {
	f, errs := Parse("k.yaml", []byte(`security:
  deletionProtection:
gateway:
  replicas:
  serviceName: ~
spec:
  crds:
    website:
metadata:
  labels:
`))
	if len(errs) != 0 {
		t.Fatalf("errors: %q", errorStrings(errs))
	}
	k := f.Katalog
	if k.Security == nil || k.Security.DeletionProtection == nil || k.Security.DeletionProtection.Enabled != nil {
		t.Errorf("security = %+v, want an empty deletionProtection block", k.Security)
	}
	if k.Gateway.Replicas != nil || k.Gateway.ServiceName != "" {
		t.Errorf("gateway = %+v, want nothing set", k.Gateway)
	}
	if w, ok := k.Spec.CRDs["website"]; !ok || w == nil {
		t.Errorf("crds = %v, want an empty website entry", k.Spec.CRDs)
	}
	if k.Metadata.Labels != nil {
		t.Errorf("labels = %v, want nil", k.Metadata.Labels)
	}
	for _, p := range []string{"gateway.replicas", "gateway.serviceName", "security.deletionProtection", "spec.crds.website", "metadata.labels"} {
		if !f.Has(p) {
			t.Errorf("Has(%q) = false", p)
		}
	}
}

func TestParseValues(t *testing.T) {
	f, errs := Parse("k.yaml", []byte(`spec:
  crds:
    w:
      conversion:
        paths:
          - from: v1
            to: v2
            spec:
              s: text
              q: "true"
              y: yes
              i: 42
              n: -7
              h: 0x1F
              o: 017
              u: 1_000
              f: 1.5
              e: 1e3
              t: true
              F: False
              z: null
              tilde: ~
              empty:
              ts: 2024-01-02
              l: [1, "2", [3], {k: v}]
              m: {a: {b: [true]}}
              el: []
              em: {}
              5: five
      mutation:
        rules:
          - field: spec.a
            default: null
          - field: spec.b
            override:
`))
	if len(errs) != 0 {
		t.Fatalf("errors: %q", errorStrings(errs))
	}
	w := f.Katalog.Spec.CRDs["w"]
	want := map[string]any{
		"s": "text", "q": "true", "y": "yes",
		"i": int64(42), "n": int64(-7), "h": int64(31), "o": int64(17), "u": int64(1000),
		"f": 1.5, "e": 1000.0,
		"t": true, "F": false,
		"z": nil, "tilde": nil, "empty": nil,
		"ts": "2024-01-02",
		"l":  []any{int64(1), "2", []any{int64(3)}, map[string]any{"k": "v"}},
		"m":  map[string]any{"a": map[string]any{"b": []any{true}}},
		"el": []any{}, "em": map[string]any{},
		"5": "five",
	}
	if got := w.Conversion.Paths[0].Spec.V; !reflect.DeepEqual(got, want) {
		t.Errorf("spec value:\n got %#v\nwant %#v", got, want)
	}
	m := w.Mutation.Rules
	if m[0].Default == nil || m[0].Default.V != nil || m[0].Override != nil {
		t.Errorf("rule 0: default %v override %v, want a present null default and no override", m[0].Default, m[0].Override)
	}
	if m[1].Override == nil || m[1].Override.V != nil || m[1].Default != nil {
		t.Errorf("rule 1: default %v override %v, want a present empty override and no default", m[1].Default, m[1].Override)
	}
	base := "spec.crds.w.conversion.paths[0].spec"
	for path, want := range map[string]Pos{
		base + ".l[3].k":   {25, 33},
		base + ".m.a.b[0]": {26, 27},
		base + ".5":        {29, 15},
	} {
		if got := f.Pos(path); got != want || !f.Has(path) {
			t.Errorf("Pos(%q) = %v (has %v), want %v", path, got, f.Has(path), want)
		}
	}
}

// Test is inlined into Rule and Condition: its keys sit beside the rule's.
func TestParseInlineTest(t *testing.T) {
	f, errs := Parse("k.yaml", []byte(`spec:
  crds:
    w:
      validation:
        rules:
          - field: spec.replicas
            operator: between
            value: [1, 10]
            message: m
            action: warn
            when:
              - field: spec.tier
                equals: premium
            or:
              - field: metadata.name
                regex: "^web-"
              - {field: spec.x, exists: true, typeNull: ~}
      mutation:
        rules:
          - field: spec.tier
            override: 3
            valueType: integer
            when: [{field: spec.a, notExists: true}]
`))
	if len(errs) != 0 {
		t.Fatalf("errors: %q", errorStrings(errs))
	}
	w := f.Katalog.Spec.CRDs["w"]
	r := w.Validation.Rules[0]
	if r.Field != "spec.replicas" || r.Operator != "between" || r.Message != "m" || r.Action != "warn" {
		t.Errorf("rule = %+v", r)
	}
	if !reflect.DeepEqual(r.Value.V, []any{int64(1), int64(10)}) {
		t.Errorf("value = %#v", r.Value.V)
	}
	if len(r.Shorthands()) != 0 {
		t.Errorf("shorthands = %v, want none", r.Shorthands())
	}
	if c := r.When[0]; c.Field != "spec.tier" || c.Equals == nil || c.Equals.V != "premium" {
		t.Errorf("when[0] = %+v", c)
	}
	if c := r.Or[0]; c.Field != "metadata.name" || c.Regex == nil || c.Regex.V != "^web-" {
		t.Errorf("or[0] = %+v", c)
	}
	sh := r.Or[1].Shorthands()
	if len(sh) != 2 || sh[0].Operator != "exists" || sh[0].Value.V != true || sh[1].Operator != "typeNull" || sh[1].Value.V != nil {
		t.Errorf("or[1] shorthands = %+v", sh)
	}
	mr := w.Mutation.Rules[0]
	if mr.Field != "spec.tier" || mr.Override.V != int64(3) || mr.ValueType != "integer" || mr.When[0].NotExists.V != true {
		t.Errorf("mutation rule = %+v", mr)
	}
	if got, want := f.Pos("spec.crds.w.validation.rules[0].or[1].exists"), (Pos{17, 33}); got != want {
		t.Errorf("position of an inlined key = %v, want %v", got, want)
	}
}

func TestSuggest(t *testing.T) {
	valid := []string{"enabled", "failurePolicy", "timeoutSeconds", "strictMode", "breakGlass", "cleanupOnShutdown"}
	tests := []struct{ key, want string }{
		{"failurPolicy", "failurePolicy"},
		{"failurepolicy", "failurePolicy"},
		{"enabeld", "enabled"},
		{"enable", "enabled"},
		{"timeoutSecond", "timeoutSeconds"},
		{"cleanupOnShutdwn", "cleanupOnShutdown"},
		{"policy", ""},
		{"mode", ""},
		{"x", ""},
		{"timeout", ""},
		{strings.Repeat("enabled", 20), ""},
	}
	for _, tt := range tests {
		want := ""
		if tt.want != "" {
			want = `did you mean "` + tt.want + `"?`
		}
		if got := Suggest(tt.key, valid); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.key, got, want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "abc", 3}, {"abc", "", 3}, {"abc", "abc", 0},
		{"abc", "abd", 1}, {"abc", "ab", 1}, {"ab", "abc", 1}, {"abc", "acb", 1},
		{"kitten", "sitting", 3}, {"ca", "abc", 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
