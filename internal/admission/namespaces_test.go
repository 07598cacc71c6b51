package admission

import (
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

func TestNamespaceProtection(t *testing.T) {
	p := testPolicy(t)
	h := NewNamespaceProtection(p)
	site := func(ns string) obj { return newObj("web.example.com/v1", "Website", ns, "shop") }
	db := func(ns string) obj { return newObj("db.example.com/v1", "Database", ns, "orders") }

	cases := []struct {
		name  string
		r     gvr
		o     obj
		parts []string // nil: allowed
	}{
		{"allowed by both lists", website, site("web-a"), nil},
		{"katalog glob prefix", website, site("kube-public"), []string{`Website kube-public/shop: namespace "kube-public" is restricted (security.namespaceProtection.restrictedNamespaces: kube-*)`}},
		{"katalog glob suffix", database, db("monitoring-system"), []string{`namespace "monitoring-system" is restricted`, "*-system"}},
		{"katalog exact name", database, db("default"), []string{"restrictedNamespaces: default"}},
		{"entry allowed list refuses", website, site("team-b"), []string{`namespace "team-b" is not allowed (spec.crds.website.allowedNamespaces: [web-*, shared])`}},
		{"entry restricted list refuses", database, db("prod"), []string{`spec.crds.database.restrictedNamespaces: prod`}},
		{"entry restricted list leaves others", database, db("staging"), nil},
		// An entry's allowed list cannot re-open what the Katalog restricts:
		// "web-system" matches web-* but also *-system.
		{"katalog restriction wins over entry allowed", website, site("web-system"), []string{"security.namespaceProtection.restrictedNamespaces: *-system"}},
		// Kind alone does not identify a Katalog CRD: same kind, other group.
		{"same kind other group", gvr{"other.example.com", "v1", "Website", "websites"}, newObj("other.example.com/v1", "Website", "kube-system", "x"), nil},
		{"not a Katalog kind", configMap, newObj("v1", "ConfigMap", "kube-system", "x"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update} {
				var old obj
				if op == admissionv1.Update {
					old = tc.o.clone()
				}
				resp := handle(h, request(op, tc.r, tc.o.clone(), old))
				if tc.parts == nil {
					wantAllowed(t, resp)
				} else {
					wantDenied(t, resp, 403, metav1.StatusReasonForbidden, tc.parts...)
				}
			}
		})
	}

	t.Run("other version of a Katalog kind", func(t *testing.T) {
		r := website
		r.version = "v2"
		wantDenied(t, handle(h, request(admissionv1.Create, r, site("kube-system"), nil)), 403, metav1.StatusReasonForbidden)
	})
	t.Run("generated name", func(t *testing.T) {
		o := site("kube-system")
		delete(o.meta(), "name")
		o.meta()["generateName"] = "shop-"
		req := request(admissionv1.Create, website, o, nil)
		wantDenied(t, handle(h, req), 403, metav1.StatusReasonForbidden, "Website kube-system/shop-*")
	})
	t.Run("update of an object being deleted allowed", func(t *testing.T) {
		old := site("kube-system")
		old.meta()["deletionTimestamp"] = time.Now().UTC().Format(time.RFC3339)
		old.meta()["finalizers"] = []any{"example.com/cleanup"}
		n := old.clone()
		delete(n.meta(), "finalizers")
		wantAllowed(t, handle(h, request(admissionv1.Update, website, n, old)))
	})
	t.Run("DELETE of an object in a restricted namespace allowed", func(t *testing.T) {
		wantAllowed(t, handle(h, request(admissionv1.Delete, website, nil, site("kube-system"))))
	})
	t.Run("restricted namespace deletion denied", func(t *testing.T) {
		for _, name := range []string{"kube-system", "kube-public", "cert-manager-system", "default"} {
			resp := handle(h, request(admissionv1.Delete, namespace, nil, newObj("v1", "Namespace", "", name)))
			wantDenied(t, resp, 403, metav1.StatusReasonForbidden, "Namespace "+name+" is protected by Katalog guard", "cannot be deleted")
		}
	})
	t.Run("other namespace deletion allowed", func(t *testing.T) {
		wantAllowed(t, handle(h, request(admissionv1.Delete, namespace, nil, newObj("v1", "Namespace", "", "web-a"))))
	})
	t.Run("entry lists do not protect namespaces themselves", func(t *testing.T) {
		wantAllowed(t, handle(h, request(admissionv1.Delete, namespace, nil, newObj("v1", "Namespace", "", "prod"))))
	})
	t.Run("standalone without CRDs still guards namespaces", func(t *testing.T) {
		p := &policy.Policy{Name: "bare", NamespaceProtection: policy.NamespaceProtection{
			Endpoint:   policy.Endpoint{Enabled: true},
			Namespaces: policy.Namespaces{Restricted: policy.Globs{"kube-system"}},
		}}
		h := NewNamespaceProtection(p)
		wantDenied(t, handle(h, request(admissionv1.Delete, namespace, nil, newObj("v1", "Namespace", "", "kube-system"))), 403, metav1.StatusReasonForbidden)
		wantAllowed(t, handle(h, request(admissionv1.Delete, namespace, nil, newObj("v1", "Namespace", "", "kube-node-lease"))))
	})
	t.Run("disabled allows", func(t *testing.T) {
		p := testPolicy(t)
		p.NamespaceProtection.Enabled = false
		h := NewNamespaceProtection(p)
		wantAllowed(t, handle(h, request(admissionv1.Create, website, site("kube-system"), nil)))
		wantAllowed(t, handle(h, request(admissionv1.Delete, namespace, nil, newObj("v1", "Namespace", "", "kube-system"))))
	})
}
