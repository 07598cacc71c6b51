//go:build !gateway

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/eval"
)

const evalKatalog = `apiVersion: orkestra.orkspace.io/v1
kind: Katalog
metadata:
  name: guard
gateway:
  namespace: orkestra-system
security:
  deletionProtection:
    strictMode: true
    breakGlass:
      groups: [platform-admins]
  namespaceProtection:
    restrictedNamespaces: [kube-*]
  webhooks:
    admission:
      enabled: true
spec:
  crds:
    website:
      apiTypes: {group: web.example.com, version: v1, kind: Website, plural: websites}
      namespaced: true
      webhooks:
        validation: true
        mutation: true
      validation:
        rules:
          - field: spec.replicas
            between: "1,10"
            message: replicas must be between 1 and 10
          - field: spec.tier
            exists: true
            message: tier is required
          - field: spec.image
            prefix: registry.example.com/
            action: warn
            message: images should come from registry.example.com
      mutation:
        rules:
          - field: spec.tier
            default: standard
      allowedNamespaces: [web-*]
      deletionProtection:
        protectCRs: true
`

// evalDir writes the Katalog and the named files into a temporary directory.
func evalDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["katalog.yaml"] = evalKatalog
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func website(ns, labels, spec string) string {
	s := "apiVersion: web.example.com/v1\nkind: Website\nmetadata:\n  name: shop\n"
	if ns != "" {
		s += "  namespace: " + ns + "\n"
	}
	if labels != "" {
		s += "  labels:\n    " + labels + "\n"
	}
	return s + "spec:\n" + spec
}

const protectedLabel = `orkestra.io/deletion-protection: "true"`

func runEvalCmd(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	for i, a := range args {
		if strings.HasSuffix(a, ".yaml") {
			args[i] = filepath.Join(dir, a)
		}
	}
	var out, errOut bytes.Buffer
	code = run(append([]string{"gateway", "eval", "-f", filepath.Join(dir, "katalog.yaml")}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestGatewayEval(t *testing.T) {
	dir := evalDir(t, map[string]string{
		"valid.yaml":        website("web-a", "", "  replicas: 3\n  image: registry.example.com/shop:1\n"),
		"invalid.yaml":      website("web-a", "", "  replicas: 30\n  image: docker.io/shop\n"),
		"kube.yaml":         website("kube-system", "", "  replicas: 3\n"),
		"nons.yaml":         website("", "", "  replicas: 3\n"),
		"protected.yaml":    website("web-a", protectedLabel, "  replicas: 3\n"),
		"ns.yaml":           "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-public\n",
		"cm.yaml":           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: team\n",
		"cm-protected.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: team\n  labels:\n    " + protectedLabel + "\n",
	})
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"valid object, mutated", []string{"--object", "valid.yaml"}, 0, []string{
			"mutate (mutating, failurePolicy Ignore): allowed",
			`{"op":"add","path":"/spec/tier","value":"standard"}`,
			"namespace-protection (validating, failurePolicy Fail): allowed",
			"validate (validating, failurePolicy Ignore): allowed",
			"CREATE Website web-a/shop: allowed",
		}},
		{"invalid object", []string{"--object", "invalid.yaml"}, 1, []string{
			"validate (validating, failurePolicy Ignore): denied (422 Invalid)",
			`Website.web.example.com "shop" is invalid: spec.replicas: Invalid value: 30: replicas must be between 1 and 10`,
			"warning: spec.image: images should come from registry.example.com",
			"CREATE Website web-a/shop: denied",
		}},
		{"restricted namespace", []string{"--object", "kube.yaml"}, 1, []string{
			`namespace-protection (validating, failurePolicy Fail): denied (403 Forbidden)`,
			`namespace "kube-system" is restricted`,
		}},
		{"--namespace places the object", []string{"--object", "nons.yaml", "-n", "team-b"}, 1, []string{
			`Website team-b/shop: namespace "team-b" is not allowed (spec.crds.website.allowedNamespaces: [web-*])`,
		}},
		{"namespaced kind defaults to default", []string{"--object", "nons.yaml"}, 1, []string{"CREATE Website default/shop: denied"}},
		{"protected delete", []string{"--object", "protected.yaml", "--operation", "DELETE"}, 1, []string{
			"deletion-protection (validating, failurePolicy Fail): denied (403 Forbidden)",
			"kubectl label websites.web.example.com shop -n web-a orkestra.io/deletion-protection-",
			"DELETE Website web-a/shop: denied",
		}},
		{"strict mode", []string{"--object", "valid.yaml", "--old", "protected.yaml", "--user", "bob"}, 1, []string{
			"strict-mode (validating, failurePolicy Fail): denied (403 Forbidden)",
			"UPDATE Website web-a/shop: denied",
		}},
		{"break-glass group", []string{"--object", "valid.yaml", "--old", "protected.yaml", "--user", "carol", "--group", "platform-admins"}, 0, []string{
			"strict-mode (validating, failurePolicy Fail): allowed",
			"warning: break-glass: removing label orkestra.io/deletion-protection=true by carol",
		}},
		{"restricted namespace deletion", []string{"--object", "ns.yaml", "--operation", "delete"}, 1, []string{
			"Namespace kube-public is protected by Katalog guard",
			"DELETE Namespace kube-public: denied",
		}},
		// A built-in kind's resource is known, as in the API server's request.
		{"protected delete of any kind", []string{"--object", "cm-protected.yaml", "--operation", "DELETE"}, 1, []string{
			"ConfigMap team/cm is protected", "kubectl label configmaps cm -n team orkestra.io/deletion-protection-",
		}},
		{"nothing matches", []string{"--object", "cm.yaml"}, 0, []string{
			"no webhook of Katalog guard matches CREATE ConfigMap team/cm",
			"CREATE ConfigMap team/cm: allowed",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runEvalCmd(t, dir, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestGatewayEvalJSON(t *testing.T) {
	dir := evalDir(t, map[string]string{"invalid.yaml": website("web-a", "", "  replicas: 30\n")})
	code, out, errOut := runEvalCmd(t, dir, "--object", "invalid.yaml", "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, errOut)
	}
	var doc struct {
		Allowed   bool   `json:"allowed"`
		Operation string `json:"operation"`
		Namespace string `json:"namespace"`
		Decisions []struct {
			Webhook  string            `json:"webhook"`
			Allowed  bool              `json:"allowed"`
			Patch    []json.RawMessage `json:"patch"`
			Warnings []string          `json:"warnings"`
			Status   *struct {
				Code    int `json:"code"`
				Details struct {
					Causes []struct{ Field string } `json:"causes"`
				} `json:"details"`
			} `json:"status"`
		} `json:"decisions"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if doc.Allowed || doc.Operation != "CREATE" || doc.Namespace != "web-a" || len(doc.Decisions) != 3 {
		t.Fatalf("document %+v", doc)
	}
	mut, val := doc.Decisions[0], doc.Decisions[2]
	if mut.Webhook != "mutate" || !mut.Allowed || len(mut.Patch) != 1 || mut.Warnings == nil {
		t.Errorf("mutate decision %+v", mut)
	}
	if val.Webhook != "validate" || val.Allowed || val.Status == nil || val.Status.Code != 422 ||
		len(val.Status.Details.Causes) != 1 || val.Status.Details.Causes[0].Field != "spec.replicas" {
		t.Errorf("validate decision %+v", val)
	}
}

func TestGatewayEvalUsage(t *testing.T) {
	dir := evalDir(t, map[string]string{
		"site.yaml":   website("web-a", "", "  replicas: 3\n"),
		"other.yaml":  strings.Replace(website("web-a", "", "  replicas: 3\n"), "name: shop", "name: blog", 1),
		"two.yaml":    website("web-a", "", "  replicas: 3\n") + "---\n" + website("web-a", "", "  replicas: 4\n"),
		"empty.yaml":  "# nothing\n",
		"nokind.yaml": "apiVersion: v1\nmetadata:\n  name: x\n",
		"noname.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
		"list.yaml":   "- a\n- b\n",
		"dupkey.yaml": "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata:\n  name: x\n",
		"broken.yaml": "apiVersion: [\n",
	})
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no object", nil, "--object is required"},
		{"update without old", []string{"--object", "site.yaml", "--operation", "UPDATE"}, "UPDATE needs --old"},
		{"delete with old", []string{"--object", "site.yaml", "--old", "site.yaml", "--operation", "DELETE"}, "--old is only for UPDATE"},
		{"create with old", []string{"--object", "site.yaml", "--old", "site.yaml", "--operation", "CREATE"}, "--old is only for UPDATE"},
		{"bad operation", []string{"--object", "site.yaml", "--operation", "PATCH"}, `--operation "PATCH": want CREATE, UPDATE or DELETE`},
		{"connect", []string{"--object", "site.yaml", "--operation", "CONNECT"}, "want CREATE, UPDATE or DELETE"},
		{"missing file", []string{"--object", "nope.yaml"}, "cannot read object"},
		{"two objects", []string{"--object", "two.yaml"}, "holds 2 objects; eval takes exactly one"},
		{"no object in file", []string{"--object", "empty.yaml"}, "holds 0 objects"},
		{"no kind", []string{"--object", "nokind.yaml"}, "kind is missing"},
		{"no name", []string{"--object", "noname.yaml"}, "metadata.name is missing"},
		{"not a mapping", []string{"--object", "list.yaml"}, "not an object"},
		{"duplicate key", []string{"--object", "dupkey.yaml"}, `key "kind" already set`},
		{"broken YAML", []string{"--object", "broken.yaml"}, "broken.yaml"},
		{"renamed by update", []string{"--object", "site.yaml", "--old", "other.yaml"}, "an UPDATE keeps apiVersion, kind and name"},
		{"namespace conflict", []string{"--object", "site.yaml", "-n", "web-b"}, "the request's namespace is web-b, but the object is in namespace web-a"},
		{"bad output", []string{"--object", "site.yaml", "-o", "yaml"}, "must be text or json"},
		{"argument", []string{"site.yaml"}, "unexpected argument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runEvalCmd(t, dir, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, errOut)
			}
			if out != "" {
				t.Errorf("usage error printed to stdout:\n%s", out)
			}
		})
	}
}

func TestGatewayEvalInvalidKatalog(t *testing.T) {
	dir := evalDir(t, map[string]string{"site.yaml": website("web-a", "", "  replicas: 3\n")})
	bad := strings.Replace(evalKatalog, "between: \"1,10\"", "between: \"10,1\"", 1)
	if err := os.WriteFile(filepath.Join(dir, "katalog.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runEvalCmd(t, dir, "--object", "site.yaml")
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing on stdout", code, out)
	}
	if !strings.Contains(errOut, "katalog.yaml:") || !strings.Contains(errOut, "K09") {
		t.Errorf("stderr lacks the positioned finding:\n%s", errOut)
	}
}

// eval converts an object to the version the rules are written for, as
// the API server does with matchPolicy Equivalent: a v1 Website of 20
// replicas (spec.size) is denied by the v2 rule on spec.replicas.
func TestGatewayEvalConverts(t *testing.T) {
	dir := t.TempDir()
	katalog := filepath.Join("..", "..", "examples", "website", "katalog.yaml")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	site := func(apiVersion, spec string) string {
		return "apiVersion: web.example.com/" + apiVersion + "\nkind: Website\nmetadata: {name: shop, namespace: web-shop}\nspec: " + spec + "\n"
	}
	big := write("big.yaml", site("v1", "{image: registry.example.com/shop:1, domain: shop.example.com, size: 20}"))
	small := write("small.yaml", site("v1", "{image: registry.example.com/shop:1, domain: shop.example.com, size: 3}"))
	v3 := write("v3.yaml", site("v3", "{image: registry.example.com/shop:1, hostname: shop.example.com, replicas: 11}"))
	v9 := write("v9.yaml", site("v9", "{size: 3}"))

	var out, errOut bytes.Buffer
	code := run([]string{"gateway", "eval", "-f", katalog, "--object", big}, &out, &errOut)
	for _, want := range []string{
		"converted web.example.com/v1 to web.example.com/v2, the version the rules are written for",
		"API server warning: web.example.com/v1 Website is deprecated; use v2",
		`Website.web.example.com "shop" is invalid: spec.replicas: Invalid value: 20: replicas must be between 1 and 10`,
		"CREATE Website web-shop/shop: denied",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1 (denied)\n%s", code, errOut.String())
	}

	out.Reset()
	code = run([]string{"gateway", "eval", "-f", katalog, "--object", v3}, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "converted web.example.com/v3 to web.example.com/v2") || !strings.Contains(out.String(), "Invalid value: 11") {
		t.Errorf("v3 object: exit %d\n%s", code, out.String())
	}

	out.Reset()
	code = run([]string{"gateway", "eval", "-f", katalog, "--object", small, "-o", "json"}, &out, &errOut)
	var doc evalJSON
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, out.String())
	}
	if doc.Conversion == nil || doc.Conversion.From != "web.example.com/v1" || doc.Conversion.To != "web.example.com/v2" ||
		doc.RequestAPIVersion != "web.example.com/v1" || doc.APIVersion != "web.example.com/v2" {
		t.Errorf("conversion %+v, apiVersions %s %s", doc.Conversion, doc.RequestAPIVersion, doc.APIVersion)
	}
	// The object comes back at v1 (size; tier, which v1 cannot hold, kept
	// in the preserved-fields annotation); the rules saw it at v2.
	spec, _ := doc.Object["spec"].(map[string]any)
	vspec, _ := doc.ValidatedObject["spec"].(map[string]any)
	if doc.Object["apiVersion"] != "web.example.com/v1" || spec["size"] != 3.0 || spec["tier"] != nil {
		t.Errorf("object %v", doc.Object)
	}
	if doc.ValidatedObject["apiVersion"] != "web.example.com/v2" || vspec["replicas"] != 3.0 || vspec["tier"] != "standard" {
		t.Errorf("validated object %v", doc.ValidatedObject)
	}
	if len(doc.Warnings) != 1 || doc.Warnings[0] != "web.example.com/v1 Website is deprecated; use v2" {
		t.Errorf("warnings %q", doc.Warnings)
	}

	out.Reset()
	errOut.Reset()
	code = run([]string{"gateway", "eval", "-f", katalog, "--object", v9}, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "web.example.com/v9 is not a version of Website: entry website of Katalog website declares v1, v2, v3") {
		t.Errorf("undeclared version: exit %d\n%s", code, errOut.String())
	}
}

// eval and convert share the local conversion key: what convert prints,
// eval verifies. A key file too short for a key is a usage error.
func TestGatewayEvalConversionKey(t *testing.T) {
	if !bytes.Equal(localConversionKey(), eval.LocalConversionKey()) {
		t.Fatal("ork gateway convert and ork gateway eval seal with different local keys")
	}
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(obj, []byte(website("web-a", "", "  replicas: 3\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	katalog := filepath.Join("..", "..", "examples", "website", "katalog.yaml")
	var out, errOut bytes.Buffer
	code := run([]string{"gateway", "eval", "-f", katalog, "--object", obj, "--conversion-key-file", short}, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "holds 10 bytes, want 32 to 4096") {
		t.Errorf("exit %d\n%s", code, errOut.String())
	}
}

// eval shows what rules in audit mode would do, and allows.
func TestGatewayEvalAudit(t *testing.T) {
	audited := strings.Replace(evalKatalog, `            between: "1,10"
            message: replicas must be between 1 and 10`, `            between: "1,10"
            message: replicas must be between 1 and 10
            action: audit
            name: replicas-range`, 1)
	dir := t.TempDir()
	for name, text := range map[string]string{"katalog.yaml": audited, "site.yaml": website("web-a", "", "  replicas: 30\n  image: registry.example.com/a:1\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := runEvalCmd(t, dir, "--object", "site.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"validate (validating, failurePolicy Ignore): allowed",
		"  audit: website/replicas-range would deny: spec.replicas: replicas must be between 1 and 10",
		"CREATE Website web-a/shop: allowed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	_, out, _ = runEvalCmd(t, dir, "--object", "site.yaml", "-o", "json")
	var doc evalJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Rules) != 1 || doc.Rules[0].Rule != "website/replicas-range" || doc.Rules[0].Action != "audit" || doc.Rules[0].Would != "deny" ||
		doc.Decisions[2].AuditAnnotations["audit-rule-0"] == "" {
		t.Errorf("rules %+v, decision %+v", doc.Rules, doc.Decisions[2])
	}
}
