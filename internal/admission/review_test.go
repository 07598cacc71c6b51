package admission

import (
	"context"
	"errors"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

func names(ds []Decision) string {
	var out []string
	for _, d := range ds {
		s := d.Webhook + "="
		switch {
		case d.Err != nil:
			s += "error"
		case d.Response.Allowed:
			s += "allowed"
		default:
			s += "denied"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestReview(t *testing.T) {
	p := testPolicy(t)
	site := func(ns string) obj { return newObj("web.example.com/v1", "Website", ns, "shop") }
	unlabelled := newObj("v1", "ConfigMap", "team", "cm")

	cases := []struct {
		name string
		req  *admissionv1.AdmissionRequest
		want string
	}{
		{
			// The mutation defaults spec.tier before validation requires it.
			"validation sees the mutated object",
			request(admissionv1.Create, website, site("web-a").spec("replicas", 2), nil),
			"mutate=allowed namespace-protection=allowed validate=allowed",
		},
		{
			"validation failure after mutation",
			request(admissionv1.Create, website, site("web-a").spec("replicas", 50), nil),
			"mutate=allowed namespace-protection=allowed validate=denied",
		},
		{
			"kube-system is exempt from rules, not from namespace protection",
			request(admissionv1.Create, website, site("kube-system").spec("replicas", 50), nil),
			"namespace-protection=denied",
		},
		{
			"the gateway's namespace is exempt from rules",
			request(admissionv1.Create, website, site("orkestra-system").spec("replicas", 50), nil),
			"namespace-protection=denied",
		},
		{
			"operations outside the entry's do not match the rules",
			request(admissionv1.Delete, website, nil, site("web-a")),
			"",
		},
		{
			"labelled delete",
			request(admissionv1.Delete, configMap, nil, unlabelled.clone().protect()),
			"deletion-protection=denied",
		},
		{
			"unlabelled delete reaches nothing",
			request(admissionv1.Delete, configMap, nil, unlabelled.clone()),
			"",
		},
		{
			"strict mode on label removal",
			request(admissionv1.Update, configMap, unlabelled.clone(), unlabelled.clone().protect()),
			"strict-mode=denied",
		},
		{
			"strict mode skips updates keeping the label",
			request(admissionv1.Update, configMap, unlabelled.clone().protect(), unlabelled.clone().protect()),
			"",
		},
		{
			"strict mode excludes kube-system",
			request(admissionv1.Update, configMap, newObj("v1", "ConfigMap", "kube-system", "x"), newObj("v1", "ConfigMap", "kube-system", "x").protect()),
			"",
		},
		{
			"restricted namespace deletion",
			request(admissionv1.Delete, namespace, nil, newObj("v1", "Namespace", "", "kube-public")),
			"namespace-protection=denied",
		},
		{
			"labelled restricted namespace deletion",
			request(admissionv1.Delete, namespace, nil, newObj("v1", "Namespace", "", "kube-public").protect()),
			"deletion-protection=denied namespace-protection=denied",
		},
		{
			"protected CRD",
			request(admissionv1.Delete, crdKind, nil, newObj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "websites.web.example.com")),
			"deletion-protection=denied",
		},
		{
			// Registration excludes kinds of entries with protectCRs false.
			"labelled object of an entry without protectCRs",
			request(admissionv1.Delete, database, nil, newObj("db.example.com/v1", "Database", "team", "orders").protect()),
			"",
		},
	}
	p.CRDs[0].ProtectCRs = false // database
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds, _, err := Review(context.Background(), p, tc.req, applyPatch)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(ds); got != tc.want {
				t.Errorf("decisions %q, want %q", got, tc.want)
			}
			allowed := !strings.Contains(tc.want, "denied")
			if Allowed(ds) != allowed {
				t.Errorf("Allowed = %v, want %v", !allowed, allowed)
			}
			for _, d := range ds {
				if d.Response != nil && d.Response.UID != tc.req.UID {
					t.Errorf("%s: UID %q", d.Webhook, d.Response.UID)
				}
			}
		})
	}
}

func TestReviewPatchReachesValidation(t *testing.T) {
	p := testPolicy(t)
	req := request(admissionv1.Create, website, newObj("web.example.com/v1", "Website", "web-a", "shop").spec("replicas", 2), nil)
	before := string(req.Object.Raw)
	ds, _, err := Review(context.Background(), p, req, applyPatch)
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Webhook != NameMutate || len(ds[0].Response.Patch) == 0 {
		t.Fatalf("first decision %+v, want the mutation with a patch", ds[0])
	}
	if string(req.Object.Raw) != before {
		t.Error("Review changed the caller's request")
	}
	// Without the mutation the same object fails validation on spec.tier.
	resp := handle(NewValidation(p), req)
	if resp.Allowed {
		t.Fatal("the unmutated object should fail validation")
	}
}

func TestDecisionAllowed(t *testing.T) {
	fail := errors.New("panicked")
	for _, tc := range []struct {
		d    Decision
		want bool
	}{
		{Decision{Response: allow()}, true},
		{Decision{Response: badRequest("x")}, false},
		{Decision{Err: fail, FailurePolicy: policy.Ignore}, true},
		{Decision{Err: fail, FailurePolicy: policy.Fail}, false},
		{Decision{Err: fail}, false}, // the API server's default is Fail
	} {
		if got := tc.d.Allowed(); got != tc.want {
			t.Errorf("%+v: Allowed = %v, want %v", tc.d, got, tc.want)
		}
	}
}

func TestWebhooksPaths(t *testing.T) {
	var got []string
	for _, w := range Webhooks(&policy.Policy{}) {
		got = append(got, w.Path)
		if w.Matches(request(admissionv1.Delete, namespace, nil, newObj("v1", "Namespace", "", "kube-system").protect())) {
			t.Errorf("%s matches with every feature disabled", w.Name)
		}
	}
	if s := strings.Join(got, " "); s != "/mutate /deletion-protection /strict-mode /namespace-protection /validate" {
		t.Errorf("paths %s", s)
	}
}

// Strict mode leaves the gateway's namespace alone, except its TLS Secret.
func TestStrictModeMatchesGatewaySecret(t *testing.T) {
	p := testPolicy(t)
	p.Certs.SecretName = "gw-tls"
	var strict Webhook
	for _, w := range Webhooks(p) {
		if w.Name == NameStrictMode {
			strict = w
		}
	}
	secret := gvr{"", "v1", "Secret", "secrets"}
	lift := func(r gvr, ns, name string) *admissionv1.AdmissionRequest {
		return request(admissionv1.Update, r, newObj("v1", r.kind, ns, name), newObj("v1", r.kind, ns, name).protect())
	}
	for _, tc := range []struct {
		what string
		req  *admissionv1.AdmissionRequest
		want bool
	}{
		{"the TLS Secret", lift(secret, "orkestra-system", "gw-tls"), true},
		{"another Secret of the gateway's namespace", lift(secret, "orkestra-system", "other"), false},
		{"a ConfigMap named like the Secret", lift(configMap, "orkestra-system", "gw-tls"), false},
		{"a Secret of that name elsewhere", lift(secret, "apps", "gw-tls"), true},
		{"a Secret of that name in kube-system", lift(secret, "kube-system", "gw-tls"), false},
	} {
		if got := strict.Matches(tc.req); got != tc.want {
			t.Errorf("%s: matches %v, want %v", tc.what, got, tc.want)
		}
	}
}
