package admission

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/orkspace/orkestra-gateway/internal/policy"
)

// probeRequest is the gateway's probe of a registered object: a dry-run
// UPDATE of its TLS Secret with the probe annotation set to target.
func probeRequest(ns, name, target string, dryRun bool) *admissionv1.AdmissionRequest {
	o := newObj("v1", "Secret", ns, name).protect()
	if target != "" {
		o.meta()["annotations"] = map[string]any{policy.ProbeAnnotation: target}
	}
	return &admissionv1.AdmissionRequest{
		UID:       "probe",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Secret"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "secrets"},
		Namespace: ns, Name: name, Operation: admissionv1.Update, DryRun: &dryRun,
		Object: o.raw(), OldObject: newObj("v1", "Secret", ns, name).protect().raw(),
	}
}

type passOn struct{ calls int }

func (a *passOn) Handle(context.Context, *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	a.calls++
	return allow()
}

func TestAnswerProbes(t *testing.T) {
	target := policy.ProbeTarget(policy.EngineWebhook, "orkestra-gateway-g-validate")
	for _, tc := range []struct {
		name  string
		req   *admissionv1.AdmissionRequest
		probe bool
	}{
		{"the probe", probeRequest("orkestra-system", "orkestra-internal-tls", target, true), true},
		{"not a dry run", probeRequest("orkestra-system", "orkestra-internal-tls", target, false), false},
		{"another Secret", probeRequest("orkestra-system", "other", target, true), false},
		{"another namespace", probeRequest("default", "orkestra-internal-tls", target, true), false},
		{"a policy's probe", probeRequest("orkestra-system", "orkestra-internal-tls", policy.ProbeTarget(policy.EngineNative, "x"), true), false},
		{"no annotation", probeRequest("orkestra-system", "orkestra-internal-tls", "", true), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := &passOn{}
			resp := AnswerProbes(next, "orkestra-system", "orkestra-internal-tls").Handle(context.Background(), tc.req)
			if !tc.probe {
				if !resp.Allowed || next.calls != 1 {
					t.Fatalf("not a probe: want the handler's answer, got %+v (calls %d)", resp, next.calls)
				}
				return
			}
			if resp.Allowed || next.calls != 0 || resp.Result == nil || resp.Result.Code != http.StatusForbidden ||
				resp.Result.Message != policy.ProbeMessage(target) {
				t.Fatalf("probe: got %+v (handler called %d times)", resp.Result, next.calls)
			}
		})
	}
	// Malformed objects are not probes (the handler decides about them).
	req := probeRequest("orkestra-system", "orkestra-internal-tls", target, true)
	req.Object = runtime.RawExtension{Raw: []byte(`{"metadata":{"annotations":["x"]}}`)}
	next := &passOn{}
	if resp := AnswerProbes(next, "orkestra-system", "orkestra-internal-tls").Handle(context.Background(), req); !resp.Allowed || next.calls != 1 {
		t.Errorf("malformed object: %+v", resp)
	}
}

// FuzzAnswerProbes: any object of a probe-shaped request is either a probe
// (denied with the message naming its target) or passed to the handler.
// Seeds: testdata/fuzz/FuzzAnswerProbes.
func FuzzAnswerProbes(f *testing.F) {
	for _, t := range []string{"webhook/x", "native/x", "", "webhook/"} {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{policy.ProbeAnnotation: t}}})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req := probeRequest("ns", "s", "", true)
		req.Object = runtime.RawExtension{Raw: raw}
		next := &passOn{}
		resp := AnswerProbes(next, "ns", "s").Handle(context.Background(), req)
		if next.calls == 1 {
			return
		}
		if resp.Allowed || resp.Result == nil || !strings.HasPrefix(resp.Result.Message, "orkestra-gateway probe: webhook/") {
			t.Fatalf("neither passed on nor a probe's answer: %+v", resp)
		}
	})
}
