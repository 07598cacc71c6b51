package admission

import (
	"encoding/json"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// encodeReview encodes the answer to a review, byte for byte as
// json.Marshal(AdmissionReview{TypeMeta: tm, Response: resp}) does. The
// common answer, a plain allow, is written directly; anything else goes
// through encoding/json.
func encodeReview(tm metav1.TypeMeta, resp *admissionv1.AdmissionResponse) ([]byte, error) {
	if !resp.Allowed || resp.Result != nil || len(resp.Patch) > 0 || resp.PatchType != nil ||
		len(resp.AuditAnnotations) > 0 || len(resp.Warnings) > 0 ||
		!plainJSON(tm.Kind) || !plainJSON(tm.APIVersion) || !plainJSON(string(resp.UID)) {
		return json.Marshal(admissionv1.AdmissionReview{TypeMeta: tm, Response: resp})
	}
	b := make([]byte, 0, 64+len(tm.Kind)+len(tm.APIVersion)+len(resp.UID))
	b = append(b, '{')
	if tm.Kind != "" {
		b = append(append(append(b, `"kind":"`...), tm.Kind...), `",`...)
	}
	if tm.APIVersion != "" {
		b = append(append(append(b, `"apiVersion":"`...), tm.APIVersion...), `",`...)
	}
	b = append(append(append(b, `"response":{"uid":"`...), resp.UID...), `","allowed":true}}`...)
	return b, nil
}

// plainJSON reports whether encoding/json writes s as is between quotes:
// printable ASCII without '"', '\' or the HTML characters it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
