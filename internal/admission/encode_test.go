package admission

import (
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func agreeEncode(t *testing.T, tm metav1.TypeMeta, resp *admissionv1.AdmissionResponse) {
	t.Helper()
	got, err := encodeReview(tm, resp)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: tm, Response: resp})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("encodeReview:\n%s\njson.Marshal:\n%s", got, want)
	}
}

func TestEncodeReview(t *testing.T) {
	tm := metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}
	pt := admissionv1.PatchTypeJSONPatch
	for _, resp := range []*admissionv1.AdmissionResponse{
		{UID: "705ab4f5-6393-11e8-b7cc-42010a800002", Allowed: true},
		{UID: "", Allowed: true},
		{UID: "a<b>&\"c\"\\\u2028é\x01", Allowed: true},
		{UID: "1", Allowed: false},
		{UID: "1", Allowed: true, Warnings: []string{"w"}},
		{UID: "1", Allowed: true, Patch: []byte(`[]`), PatchType: &pt},
		{UID: "1", Allowed: true, AuditAnnotations: map[string]string{"a": "b"}},
		{UID: "1", Result: &metav1.Status{Message: "no", Code: 403}},
	} {
		for _, tm := range []metav1.TypeMeta{tm, {}, {Kind: "AdmissionReview"}, {APIVersion: "v<1>"}} {
			agreeEncode(t, tm, resp)
		}
	}
}

func FuzzEncodeReview(f *testing.F) {
	f.Add("AdmissionReview", "admission.k8s.io/v1", "705ab4f5-6393-11e8-b7cc-42010a800002", true)
	f.Fuzz(func(t *testing.T, kind, apiVersion, uid string, allowed bool) {
		agreeEncode(t, metav1.TypeMeta{Kind: kind, APIVersion: apiVersion}, &admissionv1.AdmissionResponse{UID: types.UID(uid), Allowed: allowed})
	})
}
