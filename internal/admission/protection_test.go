package admission

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDeletionProtection(t *testing.T) {
	p := testPolicy(t)
	h := NewDeletionProtection(p)
	site := newObj("web.example.com/v1", "Website", "web-a", "shop")
	cm := newObj("v1", "ConfigMap", "team", "settings")

	t.Run("labelled object denied with how to lift", func(t *testing.T) {
		resp := handle(h, request(admissionv1.Delete, configMap, nil, cm.clone().protect()))
		wantDenied(t, resp, 403, metav1.StatusReasonForbidden,
			"ConfigMap team/settings is protected by orkestra.io/deletion-protection=true",
			"kubectl label configmaps settings -n team orkestra.io/deletion-protection-")
		if d := resp.Result.Details; d == nil || d.Name != "settings" || d.Kind != "ConfigMap" {
			t.Errorf("details = %+v, want the object", d)
		}
	})
	t.Run("custom resource names its group in the kubectl hint", func(t *testing.T) {
		resp := handle(h, request(admissionv1.Delete, website, nil, site.clone().protect()))
		wantDenied(t, resp, 403, metav1.StatusReasonForbidden, "Website web-a/shop", "kubectl label websites.web.example.com shop -n web-a")
	})
	for name, o := range map[string]obj{
		"unlabelled":             cm.clone(),
		"label false":            cm.clone().label("orkestra.io/deletion-protection", "false"),
		"label True (not exact)": cm.clone().label("orkestra.io/deletion-protection", "True"),
		"other label":            cm.clone().label("app", "x"),
	} {
		t.Run(name+" allowed", func(t *testing.T) {
			wantAllowed(t, handle(h, request(admissionv1.Delete, configMap, nil, o)))
		})
	}
	t.Run("only DELETE is concerned", func(t *testing.T) {
		for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update, admissionv1.Connect} {
			wantAllowed(t, handle(h, request(op, configMap, cm.clone().protect(), cm.clone().protect())))
		}
	})
	t.Run("labelled namespace denied without -n", func(t *testing.T) {
		ns := newObj("v1", "Namespace", "", "payments").protect()
		resp := handle(h, request(admissionv1.Delete, namespace, nil, ns))
		wantDenied(t, resp, 403, metav1.StatusReasonForbidden,
			"Namespace payments is protected", "kubectl label namespaces payments orkestra.io/deletion-protection-")
		if strings.Contains(resp.Result.Message, " -n ") {
			t.Errorf("a Namespace is cluster-scoped, the hint must not use -n: %s", resp.Result.Message)
		}
	})
	t.Run("protectCRD denies by name without the label", func(t *testing.T) {
		crd := newObj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "websites.web.example.com")
		resp := handle(h, request(admissionv1.Delete, crdKind, nil, crd))
		wantDenied(t, resp, 403, metav1.StatusReasonForbidden,
			"CustomResourceDefinition websites.web.example.com is protected by Katalog guard",
			"spec.crds.website.deletionProtection.protectCRD")
		if strings.Contains(resp.Result.Message, "kubectl label") {
			t.Errorf("removing a label cannot lift Katalog protection; message: %s", resp.Result.Message)
		}
	})
	t.Run("protectCRD and the label name both ways out", func(t *testing.T) {
		crd := newObj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "websites.web.example.com").protect()
		resp := handle(h, request(admissionv1.Delete, crdKind, nil, crd))
		wantDenied(t, resp, 403, metav1.StatusReasonForbidden, "protectCRD", "kubectl label customresourcedefinitions.apiextensions.k8s.io websites.web.example.com orkestra.io/deletion-protection-")
	})
	t.Run("CRD of an entry without protectCRD allowed", func(t *testing.T) {
		crd := newObj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "databases.db.example.com")
		wantAllowed(t, handle(h, request(admissionv1.Delete, crdKind, nil, crd)))
	})
	t.Run("a CRD name matches only the CRD kind", func(t *testing.T) {
		// A ConfigMap that happens to be named like a protected CRD is not one.
		o := newObj("v1", "ConfigMap", "team", "websites.web.example.com")
		wantAllowed(t, handle(h, request(admissionv1.Delete, configMap, nil, o)))
	})
	t.Run("DeleteCollection arrives one DELETE per object", func(t *testing.T) {
		var denied []string
		for _, name := range []string{"a", "b", "c", "d"} {
			o := newObj("v1", "ConfigMap", "team", name)
			if name == "b" || name == "d" {
				o.protect()
			}
			if resp := handle(h, request(admissionv1.Delete, configMap, nil, o)); !resp.Allowed {
				denied = append(denied, name)
			}
		}
		if strings.Join(denied, ",") != "b,d" {
			t.Errorf("denied %v, want exactly the labelled b and d", denied)
		}
	})
	t.Run("disabled protection allows", func(t *testing.T) {
		p := testPolicy(t)
		p.DeletionProtection.Enabled = false
		wantAllowed(t, handle(NewDeletionProtection(p), request(admissionv1.Delete, configMap, nil, cm.clone().protect())))
	})
	t.Run("unreadable old object refused", func(t *testing.T) {
		req := request(admissionv1.Delete, configMap, nil, cm.clone())
		req.OldObject.Raw = []byte(`{"metadata":{"labels":{"orkestra.io/deletion-protection":true}}}`)
		wantDenied(t, handle(h, req), 400, metav1.StatusReasonBadRequest, "cannot read the object", "metadata.labels")
	})
}

func TestStrictMode(t *testing.T) {
	p := testPolicy(t)
	h := NewStrictMode(p)
	old := newObj("web.example.com/v1", "Website", "web-a", "shop").protect()
	unlabelled := newObj("web.example.com/v1", "Website", "web-a", "shop")

	t.Run("removing the label denied", func(t *testing.T) {
		resp := handle(h, request(admissionv1.Update, website, unlabelled.clone(), old.clone()))
		wantDenied(t, resp, 403, metav1.StatusReasonForbidden,
			"Website web-a/shop: removing label orkestra.io/deletion-protection=true is not allowed in strict mode",
			"security.deletionProtection.breakGlass")
	})
	t.Run("changing the label denied", func(t *testing.T) {
		n := unlabelled.clone().label("orkestra.io/deletion-protection", "false")
		resp := handle(h, request(admissionv1.Update, website, n, old.clone()))
		wantDenied(t, resp, 403, metav1.StatusReasonForbidden, `changing label orkestra.io/deletion-protection from "true" to "false"`)
	})
	t.Run("keeping the label allowed", func(t *testing.T) {
		n := old.clone().spec("replicas", 3)
		wantAllowed(t, handle(h, request(admissionv1.Update, website, n, old.clone())))
	})
	t.Run("adding the label allowed", func(t *testing.T) {
		wantAllowed(t, handle(h, request(admissionv1.Update, website, old.clone(), unlabelled.clone())))
	})
	t.Run("unprotected old object allowed", func(t *testing.T) {
		o := unlabelled.clone().label("orkestra.io/deletion-protection", "false")
		wantAllowed(t, handle(h, request(admissionv1.Update, website, unlabelled.clone(), o)))
	})
	t.Run("break-glass by user", func(t *testing.T) {
		resp := handle(h, as(request(admissionv1.Update, website, unlabelled.clone(), old.clone()), "alice", "system:authenticated"))
		if !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "break-glass") || !strings.Contains(resp.Warnings[0], "alice") {
			t.Fatalf("want allowed with a break-glass warning naming alice, got %s", show(resp))
		}
	})
	t.Run("break-glass by group is logged", func(t *testing.T) {
		var logs bytes.Buffer
		ctx := context.WithValue(context.Background(), stateKey{}, &state{log: slog.New(slog.NewJSONHandler(&logs, nil))})
		req := as(request(admissionv1.Update, website, unlabelled.clone(), old.clone()), "carol", "ops", "system:masters")
		resp := h.Handle(ctx, req)
		if !resp.Allowed || len(resp.Warnings) != 1 {
			t.Fatalf("want allowed with a warning, got %s", show(resp))
		}
		line := logs.String()
		for _, want := range []string{`"msg":"break-glass: deletion protection lifted"`, `"user":"carol"`, `"system:masters"`, `"object":"web-a/shop"`} {
			if !strings.Contains(line, want) {
				t.Errorf("log %q lacks %s", line, want)
			}
		}
	})
	t.Run("a group that is not break-glass denied", func(t *testing.T) {
		req := as(request(admissionv1.Update, website, unlabelled.clone(), old.clone()), "carol", "ops", "system:authenticated")
		wantDenied(t, handle(h, req), 403, metav1.StatusReasonForbidden)
	})
	t.Run("strict mode off allows", func(t *testing.T) {
		p := testPolicy(t)
		p.DeletionProtection.StrictMode = false
		wantAllowed(t, handle(NewStrictMode(p), request(admissionv1.Update, website, unlabelled.clone(), old.clone())))
	})
}
