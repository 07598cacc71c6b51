package admission

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// FuzzServe sends arbitrary bodies to every webhook of a compiled policy:
// never a panic (a 500 would be a recovered one), always a valid HTTP answer,
// and a 200 is always a well-formed AdmissionReview answering the request.
// Seeds: testdata/fuzz/FuzzServe, a valid review per webhook and outcome.
func FuzzServe(f *testing.F) {
	p := testPolicy(f)
	var hooks []http.Handler
	for _, w := range Webhooks(p) {
		hooks = append(hooks, Serve(w.Name, w.Handler, ServeOptions{MaxBodyBytes: 1 << 20}))
	}
	f.Fuzz(func(t *testing.T, hook uint8, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/x", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		hooks[int(hook)%len(hooks)].ServeHTTP(w, r)

		switch w.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if w.Body.Len() == 0 {
				t.Fatalf("%d without a message", w.Code)
			}
			return
		default:
			t.Fatalf("code %d: %s", w.Code, w.Body)
		}
		var in, out admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil {
			t.Fatalf("200 for a body that does not decode: %v", err)
		}
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer is not JSON: %v", err)
		}
		resp := out.Response
		switch {
		case out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview":
			t.Fatalf("answered %s %s", out.APIVersion, out.Kind)
		case resp == nil || resp.UID != in.Request.UID:
			t.Fatalf("response does not answer uid %q: %s", in.Request.UID, w.Body)
		case !resp.Allowed && (resp.Result == nil || resp.Result.Message == "" || resp.Result.Code < 400):
			t.Fatalf("denial without a status: %s", w.Body)
		case len(resp.Patch) > 0:
			if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
				t.Fatalf("patch without JSONPatch type: %s", w.Body)
			}
			if _, err := applyPatch(in.Request.Object.Raw, resp.Patch); err != nil {
				t.Fatalf("patch %s does not apply to its object: %v", resp.Patch, err)
			}
		}
	})
}
