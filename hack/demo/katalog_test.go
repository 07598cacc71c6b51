package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orkspace/orkestra-gateway/internal/check"
)

var testSettings = katalogSettings{
	URL:        "https://127.0.0.1:18443",
	SMTPHost:   "127.0.0.1",
	SMTPPort:   2525,
	SMTPCAFile: "/tmp/demo/smtp.crt",
}

func readExample(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"..", "..", "examples"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The demo Katalog is what the examples say, pointed at local endpoints,
// and the gateway's own check pass accepts it.
func TestWriteKatalog(t *testing.T) {
	dir := t.TempDir()
	path, err := writeKatalog(filepath.Join("..", ".."), dir, testSettings)
	if err != nil {
		t.Fatal(err)
	}
	res, err := check.RunFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) > 0 {
		t.Errorf("the demo Katalog has findings: %v", res.Findings)
	}
	p := res.Policy
	if p == nil {
		t.Fatalf("no policy: %v", res.Findings)
	}
	if p.Name != "platform-guard" || p.Gateway.URL == nil || p.Gateway.URL.String() != testSettings.URL {
		t.Errorf("name %q, url %v: want the gateway example's name and %s", p.Name, p.Gateway.URL, testSettings.URL)
	}
	if !p.DeletionProtection.StrictMode || !p.DeletionProtection.BreakGlass.Allows("admin", []string{"system:masters"}) {
		t.Errorf("deletion protection %+v: want strict mode with system:masters as break-glass", p.DeletionProtection)
	}
	if len(p.CRDs) != 1 || p.CRDs[0].Name != "website" || p.CRDs[0].Group != "web.example.com" {
		t.Fatalf("CRDs %+v: want the website entry", p.CRDs)
	}
	w := p.CRDs[0]
	if !p.Conversion.Enabled || !w.Validate || !w.Mutate || !w.ProtectCRD || w.Conversion == nil || w.Version != "v2" {
		t.Errorf("website entry: validate %v mutate %v protectCRD %v conversion %v version %s", w.Validate, w.Mutate, w.ProtectCRD, w.Conversion != nil, w.Version)
	}
	if w.Definition == nil || w.Definition.Name != "websites.web.example.com" {
		t.Errorf("the CRD file was not copied next to the Katalog")
	}
	n := p.Notification
	if n == nil || n.SMTP == nil {
		t.Fatal("no notification.email.smtp")
	}
	if n.SMTP.Host != "127.0.0.1" || n.SMTP.Port != 2525 || n.SMTP.TLS != "starttls" || n.SMTP.CAFile != testSettings.SMTPCAFile {
		t.Errorf("smtp %+v: want the settings' mailpit", n.SMTP)
	}
	if n.SMTP.Username == nil || n.SMTP.Username.Env != "SMTP_USERNAME" || n.SMTP.Password == nil || n.SMTP.Password.File == "" {
		t.Errorf("smtp credentials %+v %+v: want the example's env and file references kept", n.SMTP.Username, n.SMTP.Password)
	}
	if len(n.Teams) != 1 || n.Teams[0].Name != "security" || n.Teams[0].WebhookURL == nil || n.Teams[0].WebhookURL.Env != "SLACK_WEBHOOK_URL" {
		t.Errorf("teams %+v: want the example's security team with its Slack webhook from SLACK_WEBHOOK_URL", n.Teams)
	}
	text, _ := os.ReadFile(path)
	for _, want := range []string{"Assembled by hack/demo", "# demo: ", "# Objects labelled orkestra.io/deletion-protection", "# Rules are written against the storage version"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the demo Katalog lacks %q (header and the examples' comments):\n%s", want, text)
		}
	}
}

func TestAssembleKatalogErrors(t *testing.T) {
	gw, web := readExample(t, "gateway", "katalog.yaml"), readExample(t, "website", "katalog.yaml")
	for _, tc := range []struct {
		name    string
		gw, web string
		s       katalogSettings
		want    string
	}{
		{"no url", string(gw), string(web), katalogSettings{SMTPHost: "h", SMTPPort: 25}, "incomplete settings"},
		{"bad port", string(gw), string(web), katalogSettings{URL: "https://x", SMTPHost: "h", SMTPPort: 70000}, "incomplete settings"},
		{"gateway not yaml", "a: [", string(web), testSettings, "examples/gateway/katalog.yaml: yaml:"},
		{"gateway empty", "", string(web), testSettings, "examples/gateway/katalog.yaml: empty document"},
		{"gateway a list", "- a\n", string(web), testSettings, "examples/gateway/katalog.yaml:1:1: the Katalog is not a mapping"},
		{"gateway block a list", "gateway: [a]\n", string(web), testSettings, "examples/gateway/katalog.yaml:1:10: gateway is not a mapping"},
		{"no notification", "gateway: {}\n", string(web), testSettings, "no notification block"},
		{"no email", "notification: {enabled: true}\n", string(web), testSettings, "no notification.email block"},
		{"smtp a string", "notification: {email: {smtp: x}}\n", string(web), testSettings, "notification.email:1:30: smtp is not a mapping"},
		{"website without spec", string(gw), "kind: Katalog\n", testSettings, "examples/website/katalog.yaml: no spec block"},
		{"website without entry", string(gw), "spec: {crds: {other: {}}}\n", testSettings, "no spec.crds.website entry"},
		{"website without conversion switch", string(gw), "spec: {crds: {website: {}}}\n", testSettings, "no security.conversion block"},
		{"conversion twice", "security: {conversion: {enabled: false}}\nnotification: {email: {smtp: {}}}\n", string(web), testSettings, "already has a security.conversion block"},
		{"alias", "a: &x {b: 1}\nc: *x\n", string(web), testSettings, "anchors and aliases"},
		{"website twice", string(gw) + "spec: {crds: {website: {}}}\n", string(web), testSettings, "already has a spec.crds.website entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := assembleKatalog([]byte(tc.gw), []byte(tc.web), tc.s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// A null block is filled in, not an error: "spec:" with nothing under it.
func TestAssembleKatalogNullSpec(t *testing.T) {
	gw := string(readExample(t, "gateway", "katalog.yaml")) + "spec:\n"
	out, err := assembleKatalog([]byte(gw), readExample(t, "website", "katalog.yaml"), testSettings)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "\nspec:\n  crds:\n    website:\n") {
		t.Errorf("website entry not under spec.crds:\n%s", out)
	}
}
