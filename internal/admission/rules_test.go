package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orkspace/orkestra-gateway/internal/rules"
)

func TestValidation(t *testing.T) {
	p := testPolicy(t)
	h := NewValidation(p)
	site := func(kv ...any) obj { return newObj("web.example.com/v1", "Website", "web-a", "shop").spec(kv...) }

	t.Run("valid object allowed", func(t *testing.T) {
		resp := handle(h, request(admissionv1.Create, website, site("replicas", 3, "tier", "gold", "owner", "web", "image", "registry.example.com/shop:1"), nil))
		wantAllowed(t, resp)
		if len(resp.Warnings) != 0 {
			t.Errorf("warnings %q, want none", resp.Warnings)
		}
	})
	t.Run("every failure listed, 422 Invalid with one cause per field", func(t *testing.T) {
		resp := handle(h, request(admissionv1.Create, website, site("replicas", 20, "owner", "nobody", "image", "docker.io/shop"), nil))
		wantDenied(t, resp, 422, metav1.StatusReasonInvalid,
			`Website.web.example.com "shop" is invalid: [`,
			"spec.replicas: Invalid value: 20: replicas must be between 1 and 10",
			"spec.tier: tier is required",
			`spec.owner: Invalid value: "nobody": owner must be web or platform`)
		d := resp.Result.Details
		if d == nil || d.Name != "shop" || d.Group != "web.example.com" || d.Kind != "Website" {
			t.Fatalf("details = %+v", d)
		}
		var fields []string
		for _, c := range d.Causes {
			if c.Type != metav1.CauseTypeFieldValueInvalid {
				t.Errorf("cause type %q, want %q", c.Type, metav1.CauseTypeFieldValueInvalid)
			}
			fields = append(fields, c.Field)
		}
		if got := strings.Join(fields, ","); got != "spec.replicas,spec.tier,spec.owner" {
			t.Errorf("cause fields %s, want rule order spec.replicas,spec.tier,spec.owner", got)
		}
		if len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], "spec.image: images should come from") {
			t.Errorf("warnings %q, want the image warning", resp.Warnings)
		}
	})
	t.Run("single failure without brackets", func(t *testing.T) {
		resp := handle(h, request(admissionv1.Create, website, site("replicas", 0, "tier", "gold"), nil))
		wantDenied(t, resp, 422, metav1.StatusReasonInvalid, `Website.web.example.com "shop" is invalid: spec.replicas: Invalid value: 0: replicas must be between 1 and 10`)
	})
	t.Run("warnings alone allow", func(t *testing.T) {
		resp := handle(h, request(admissionv1.Create, website, site("tier", "gold", "image", "docker.io/shop"), nil))
		wantAllowed(t, resp)
		if len(resp.Warnings) != 1 {
			t.Errorf("warnings %q, want one", resp.Warnings)
		}
	})
	t.Run("UPDATE evaluates the new object", func(t *testing.T) {
		resp := handle(h, request(admissionv1.Update, website, site("tier", "gold", "replicas", 11), site("tier", "gold", "replicas", 2)))
		wantDenied(t, resp, 422, metav1.StatusReasonInvalid, "Invalid value: 11")
	})
	t.Run("long offending values are cut", func(t *testing.T) {
		resp := handle(h, request(admissionv1.Create, website, site("tier", "gold", "owner", strings.Repeat("é", 200)), nil))
		wantDenied(t, resp, 422, metav1.StatusReasonInvalid, "...(truncated)")
		if len(resp.Result.Message) > 400 {
			t.Errorf("message of %d bytes, want the value cut", len(resp.Result.Message))
		}
	})
	t.Run("group+kind decides, not kind alone", func(t *testing.T) {
		r := gvr{"other.example.com", "v1", "Website", "websites"}
		wantAllowed(t, handle(h, request(admissionv1.Create, r, newObj("other.example.com/v1", "Website", "web-a", "x").spec("replicas", 99), nil)))
	})
	t.Run("other version evaluated and logged", func(t *testing.T) {
		var logs bytes.Buffer
		ctx := context.WithValue(context.Background(), stateKey{}, &state{log: slog.New(slog.NewJSONHandler(&logs, nil))})
		r := website
		r.version = "v2"
		resp := h.Handle(ctx, request(admissionv1.Create, r, site("replicas", 99, "tier", "x"), nil))
		wantDenied(t, resp, 422, metav1.StatusReasonInvalid, "spec.replicas")
		if !strings.Contains(logs.String(), `"rulesVersion":"v1"`) {
			t.Errorf("want a log line naming the rules version, got %q", logs.String())
		}
	})
	t.Run("admission disabled allows", func(t *testing.T) {
		p := testPolicy(t)
		p.Admission.Enabled = false
		wantAllowed(t, handle(NewValidation(p), request(admissionv1.Create, website, site("replicas", 99), nil)))
	})
	t.Run("object that is not a JSON object refused", func(t *testing.T) {
		req := request(admissionv1.Create, website, site(), nil)
		req.Object.Raw = []byte(`["not", "an", "object"]`)
		wantDenied(t, handle(h, req), 400, metav1.StatusReasonBadRequest, "cannot read the object", "object")
	})
}

func TestMutation(t *testing.T) {
	p := testPolicy(t)
	h := NewMutation(p)
	site := func(kv ...any) obj { return newObj("web.example.com/v1", "Website", "web-a", "shop").spec(kv...) }

	t.Run("patch applies defaults and overrides", func(t *testing.T) {
		o := site("replicas", 2)
		resp := handle(h, request(admissionv1.Create, website, o, nil))
		if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Fatalf("want allowed with a JSONPatch, got %s", show(resp))
		}
		var ops []map[string]any
		if err := json.Unmarshal(resp.Patch, &ops); err != nil {
			t.Fatalf("patch is not JSON: %v", err)
		}
		patched, err := applyPatch(o.raw().Raw, resp.Patch)
		if err != nil {
			t.Fatalf("patch %s does not apply: %v", resp.Patch, err)
		}
		var got obj
		json.Unmarshal(patched, &got)
		if got["spec"].(map[string]any)["tier"] != "standard" {
			t.Errorf("tier not defaulted: %s", patched)
		}
		if got.meta()["labels"].(map[string]any)["app.kubernetes.io/managed-by"] != "orkestra" {
			t.Errorf("label not set: %s", patched)
		}
		if !bytes.Contains(resp.Patch, []byte(`"value"`)) {
			t.Errorf("add operations need a value: %s", resp.Patch)
		}
	})
	t.Run("escaped label key in the pointer", func(t *testing.T) {
		o := site("tier", "gold").label("team", "web")
		resp := handle(h, request(admissionv1.Create, website, o, nil))
		if !bytes.Contains(resp.Patch, []byte(`/metadata/labels/app.kubernetes.io~1managed-by`)) {
			t.Errorf("want the RFC 6901 escaped label key, got %s", resp.Patch)
		}
	})
	t.Run("nothing to change, no patch", func(t *testing.T) {
		o := site("tier", "gold").label("app.kubernetes.io/managed-by", "orkestra")
		resp := handle(h, request(admissionv1.Create, website, o, nil))
		wantAllowed(t, resp)
		if resp.Patch != nil || resp.PatchType != nil || len(resp.Warnings) != 0 {
			t.Errorf("want a bare allow, got %s", show(resp))
		}
	})
	t.Run("DELETE has nothing to patch", func(t *testing.T) {
		resp := handle(h, request(admissionv1.Delete, website, nil, site()))
		wantAllowed(t, resp)
		if resp.Patch != nil {
			t.Errorf("patch on DELETE: %s", resp.Patch)
		}
	})
	t.Run("other kinds untouched", func(t *testing.T) {
		resp := handle(h, request(admissionv1.Create, configMap, newObj("v1", "ConfigMap", "web-a", "x"), nil))
		wantAllowed(t, resp)
		if resp.Patch != nil {
			t.Errorf("patch for a ConfigMap: %s", resp.Patch)
		}
	})

	failing := map[string]func(*rules.MutationSet, rules.Input) ([]rules.PatchOp, error){
		"error": func(*rules.MutationSet, rules.Input) ([]rules.PatchOp, error) { return nil, errors.New("boom") },
		"panic": func(*rules.MutationSet, rules.Input) ([]rules.PatchOp, error) { panic("kaboom") },
		"bad op": func(*rules.MutationSet, rules.Input) ([]rules.PatchOp, error) {
			return []rules.PatchOp{{Op: "move", Path: "/spec"}}, nil
		},
		"unencodable value": func(*rules.MutationSet, rules.Input) ([]rules.PatchOp, error) {
			return []rules.PatchOp{{Op: "add", Path: "/spec/x", Value: func() {}}}, nil
		},
	}
	for name, patch := range failing {
		t.Run("never blocks: "+name, func(t *testing.T) {
			m := NewMutation(p).(*mutation)
			m.patch = patch
			st := &state{log: slog.New(slog.DiscardHandler)}
			resp := m.Handle(context.WithValue(context.Background(), stateKey{}, st), request(admissionv1.Create, website, site(), nil))
			if !resp.Allowed || resp.Patch != nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "mutation skipped") {
				t.Fatalf("want allowed unchanged with a warning, got %s", show(resp))
			}
			if st.err == nil {
				t.Error("the failure was not reported for the error metric")
			}
		})
	}
}
